"""`python -m bot serve`: the bot on waitress, a production WSGI server, with its background parts."""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable

from bot.config import Settings
from bot.intervals import PRODUCTION_INTERVALS, Intervals
from bot.services import Services, build
from handlers.http import HttpApp
from handlers.http_server import build_http_server
from handlers.slack import build_bolt_app
from handlers.slack_api import SlackChat
from handlers.socket_mode import socket_mode

log = logging.getLogger(__name__)


class Server:
    def __init__(
        self,
        settings: Settings,
        *,
        clock: Callable[[], float] = time.time,
        post_interval: float = 1.0,
        intervals: Intervals = PRODUCTION_INTERVALS,
    ) -> None:
        self.settings = settings
        chat = SlackChat(settings.slack_bot_token.reveal(), settings.slack_api_url)
        self.services: Services = build(
            settings, chat=chat, clock=clock, post_interval=post_interval, intervals=intervals
        )
        self.app = HttpApp(self.services, build_bolt_app(self.services), clock=clock)
        self.socket_mode = socket_mode(self.services, self.app.bolt)  # None without SLACK_APP_TOKEN
        self._wsgi = build_http_server(self.app, host=settings.host, port=settings.port)
        self._thread: threading.Thread | None = None
        self._stopping = False

    @property
    def port(self) -> int:
        return self._wsgi.effective_port

    def start(self) -> None:
        """Ready the working copy and background parts, then accept requests in a thread."""
        self.services.start()
        self._thread = threading.Thread(target=self._run, name="http", daemon=True)
        self._thread.start()
        if self.socket_mode is not None:
            self.socket_mode.start()

    def _run(self) -> None:
        try:
            self._wsgi.run()
        except OSError:
            if not self._stopping:  # closing the listening socket ends waitress's select() this way
                raise

    def stop(self) -> None:
        """Stop taking requests, let those in hand finish, then stop the background parts."""
        self._stopping = True
        if self.socket_mode is not None:
            self.socket_mode.stop()
        self._wsgi.task_dispatcher.shutdown(timeout=5)  # requests being handled finish first
        for channel in list(self._wsgi._map.values()):
            if channel is not self._wsgi and channel is not self._wsgi.trigger:
                channel.handle_close()
        if self._thread is not None and self._thread.is_alive():
            # closed from inside its own loop, waitress stops at once rather than at its next 1 s select() timeout
            self._wsgi.trigger.pull_trigger(self._wsgi.close)
            self._thread.join(timeout=10)
        self._wsgi.close()  # a no-op when the loop already closed it
        self.services.stop()


def serve(settings: Settings, intervals: Intervals = PRODUCTION_INTERVALS) -> None:
    if settings.redis_url.reveal().startswith("memory://"):
        log.warning(
            "REDIS_URL is memory://: state lives in this process only. Run one replica, and expect cards and "
            "locks to be forgotten on restart. Set REDIS_URL=redis://... in production."
        )
    server = Server(settings, intervals=intervals)
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    signal.signal(signal.SIGINT, lambda *_: stopping.set())
    server.start()
    log.info("govuk-deploy-bot listening on %s:%s", settings.host, server.port)
    stopping.wait()
    log.info("shutting down")
    server.stop()
