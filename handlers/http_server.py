"""The HTTP server: waitress, with a deadline on reading each request (SPEC 13).

Waitress reads requests on one event loop and hands only complete ones to its worker threads, so
a slow client never holds a thread. What it lacks is a limit on how long a request may take to
arrive: `channel_timeout` is an inactivity timeout, which a client sending one byte every few
seconds never trips, and past `connection_limit` (100 by default) waitress stops accepting, so
about a hundred such clients used to shut everyone else out, health checks and Slack included.

So: a channel that notes when its current request began (the connection opening, or the first
byte after the previous request) and a server that, every second, closes any channel whose
request is still incomplete REQUEST_DEADLINE seconds later; room for CONNECTION_LIMIT connections,
watched with poll() rather than select() (which stops at file descriptor 1024). Still one process
with threads: one charts writer and one scheduler per replica.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from waitress.adjustments import Adjustments
from waitress.channel import HTTPChannel
from waitress.server import TcpWSGIServer
from waitress.task import ThreadedTaskDispatcher

log = logging.getLogger(__name__)

REQUEST_DEADLINE = 10.0  # seconds for a whole request, headers and body, to arrive
CONNECTION_LIMIT = 1000  # open connections: far more than slow clients can tie up for 10 s from one address
IDLE_TIMEOUT = 30  # a kept-alive connection with no request under way
CHECK_EVERY = 1  # seconds between looks for requests past their deadline
THREADS = 16
MAX_REQUEST_BODY = 1024 * 1024  # bodies over 64 KiB are refused by the app with a 413; waitress stops well past that


class DeadlineChannel(HTTPChannel):
    """An HTTP connection that knows since when its current request has been arriving."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.request_began: float | None = self.creation_time  # a new connection owes its first request

    def received(self, data: bytes) -> bool:
        if data and self.request is None and self.request_began is None:
            self.request_began = time.time()
        handled = super().received(data)
        if self.request is None:  # every byte so far was part of complete requests
            self.request_began = None
        return handled


class DeadlineServer(TcpWSGIServer):
    channel_class = DeadlineChannel

    def maintenance(self, now: float) -> None:
        super().maintenance(now)  # the idle timeout
        cutoff = now - REQUEST_DEADLINE
        for channel in list(self.active_channels.values()):
            began = getattr(channel, "request_began", None)
            if began is not None and began < cutoff and not channel.will_close:
                log.info("closed a connection whose request had not arrived within %.0f s", REQUEST_DEADLINE)
                channel.will_close = True  # closed by the event loop at its next turn


def build_http_server(app: Any, *, host: str, port: int) -> DeadlineServer:
    """The WSGI server for `app` on host:port, listening once this returns."""
    adjustments = Adjustments(
        host=host,
        port=port,
        threads=THREADS,
        connection_limit=CONNECTION_LIMIT,
        channel_timeout=IDLE_TIMEOUT,
        cleanup_interval=CHECK_EVERY,
        asyncore_use_poll=True,
        max_request_body_size=MAX_REQUEST_BODY,
        ident="govuk-deploy-bot",
        expose_tracebacks=False,
    )
    dispatcher = ThreadedTaskDispatcher()
    dispatcher.set_thread_count(adjustments.threads)
    # the first address HOST resolves to, as before (one listening socket)
    return DeadlineServer(app, map={}, dispatcher=dispatcher, adj=adjustments, sockinfo=adjustments.listen[0])
