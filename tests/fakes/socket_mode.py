"""Slack's Socket Mode end, on 127.0.0.1: the WebSocket that `apps.connections.open` points an app at.

Built from Slack's Socket Mode documentation and slack_sdk's client (`slack_sdk/socket_mode/client.py`,
`builtin/connection.py`): `apps.connections.open`, called with the app-level token (`xapp-…`), answers
a one-use `wss://` URL (here `ws://`); on connecting, the server says `hello`; each request is an
envelope `{"envelope_id", "type": "slash_commands" | "interactive" | "events_api", "payload",
"accepts_response_payload"}` given to ONE of the app's open connections, and the app acknowledges it by
sending back `{"envelope_id", "payload"?}` (a slash command's answer rides in the ack's payload). A
`{"type": "disconnect"}` asks the app to open a new connection. Slack delivers an envelope again (with
`retry_attempt`) when no ack came in time; `deliver(..., envelope_id=…)` does that here.

Everything it records is guarded by one lock with a condition variable, so tests wait without polling.
"""

from __future__ import annotations

import itertools
import json
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.sync.server import Server, ServerConnection, serve


@dataclass
class Ack:
    envelope_id: str
    connection: int  # which connection acknowledged it (numbered from 0 in the order they opened)
    payload: dict[str, Any] | None


class FakeSocketMode:
    """Hands out connection URLs to FakeSlack's `apps.connections.open` and delivers envelopes to them."""

    def __init__(self, app_id: str = "A0DEPLOYBOT") -> None:
        self.app_id = app_id
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._tickets: set[str] = set()
        self._open: dict[int, ServerConnection] = {}  # connection number -> connection, while open
        self._numbers = itertools.count()
        self._turn = itertools.count()
        self._acks: list[Ack] = []
        self._delivered: list[dict[str, Any]] = []
        self.rejected: list[str] = []  # connections refused: an unknown or reused ticket
        self.refuse_next = 0  # refuse this many more connections at the handshake (HTTP 403), tickets used up
        self._server: Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> FakeSocketMode:
        self._server = serve(self._session, "127.0.0.1", 0, ping_interval=None, process_request=self._handshake)
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-socket-mode", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
        with self._lock:
            connections = list(self._open.values())
        for connection in connections:
            connection.close()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def __enter__(self) -> FakeSocketMode:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- what apps.connections.open answers ------------------------------------------------------

    def new_url(self) -> str:
        """A one-use URL, as Slack's `apps.connections.open` gives (each replica asks for its own)."""
        assert self._server is not None, "start() the fake first"
        ticket = uuid.uuid4().hex
        with self._lock:
            self._tickets.add(ticket)
        port = self._server.socket.getsockname()[1]
        return f"ws://127.0.0.1:{port}/link/?ticket={ticket}&app_id={self.app_id}"

    # -- what tests see and do -------------------------------------------------------------------

    @property
    def connections(self) -> list[int]:
        with self._lock:
            return sorted(self._open)

    @property
    def acks(self) -> list[Ack]:
        with self._lock:
            return list(self._acks)

    def acks_of(self, envelope_id: str) -> list[Ack]:
        with self._lock:
            return [ack for ack in self._acks if ack.envelope_id == envelope_id]

    def wait_until(self, predicate: Callable[[], Any], timeout: float = 30.0) -> bool:
        with self._changed:
            return self._changed.wait_for(predicate, timeout=timeout)

    def wait_for_connections(self, count: int, timeout: float = 30.0) -> list[int]:
        if not self.wait_until(lambda: len(self._open) >= count, timeout):
            raise AssertionError(f"expected {count} Socket Mode connections, have {len(self._open)}")
        return self.connections

    def wait_for_ack(self, envelope_id: str, count: int = 1, timeout: float = 30.0) -> list[Ack]:
        if not self.wait_until(lambda: len(self.acks_of(envelope_id)) >= count, timeout):
            raise AssertionError(f"envelope {envelope_id} was acknowledged {len(self.acks_of(envelope_id))} times")
        return self.acks_of(envelope_id)

    def deliver(
        self,
        kind: str,
        payload: dict[str, Any],
        *,
        to: int | None = None,
        envelope_id: str | None = None,
        retry_attempt: int = 0,
    ) -> str:
        """Give an envelope to one open connection (`to`, else the next in turn); its envelope_id.

        Pass an earlier `envelope_id` (and `retry_attempt` > 0) to deliver that request again, as Slack
        does when its ack did not come in time.
        """
        envelope_id = envelope_id or str(uuid.uuid4())
        envelope: dict[str, Any] = {
            "envelope_id": envelope_id,
            "type": kind,
            "payload": payload,
            "accepts_response_payload": kind != "events_api",
        }
        if kind == "events_api":
            envelope["retry_attempt"] = retry_attempt
            envelope["retry_reason"] = "timeout" if retry_attempt else ""
        elif retry_attempt:
            envelope["retry_attempt"] = retry_attempt
            envelope["retry_reason"] = "timeout"
        self._send(to, envelope)
        with self._lock:
            self._delivered.append(envelope)
        return envelope_id

    def disconnect(self, to: int, reason: str = "refresh_requested") -> None:
        """Ask one connection's app to move to a new connection, as Slack does every few hours."""
        self._send(to, {"type": "disconnect", "reason": reason, "debug_info": {"host": "fake-applink"}})

    # -- the WebSocket side ----------------------------------------------------------------------

    def _send(self, to: int | None, message: dict[str, Any]) -> None:
        with self._lock:
            if not self._open:
                raise AssertionError("no open Socket Mode connection to deliver to")
            numbers = sorted(self._open)
            number = to if to is not None else numbers[next(self._turn) % len(numbers)]
            connection = self._open[number]
        connection.send(json.dumps(message))

    def _handshake(self, connection: ServerConnection, request: Request) -> Response | None:
        """Each URL opens one connection: its ticket is used up whether or not the connection is refused."""
        ticket = _query(request.path).get("ticket", "")
        with self._lock:
            known = ticket in self._tickets
            self._tickets.discard(ticket)
            refused = not known or self.refuse_next > 0
            if known and self.refuse_next > 0:
                self.refuse_next -= 1
            if refused:
                self.rejected.append(ticket)
        return connection.respond(HTTPStatus.FORBIDDEN, "invalid ticket\n") if refused else None

    def _session(self, connection: ServerConnection) -> None:
        number = next(self._numbers)
        with self._changed:
            self._open[number] = connection
            hello = {
                "type": "hello",
                "num_connections": len(self._open),
                "debug_info": {"host": "fake-applink", "approximate_connection_time": 18060},
                "connection_info": {"app_id": self.app_id},
            }
            self._changed.notify_all()
        try:
            connection.send(json.dumps(hello))
            for raw in connection:
                self._received(number, raw)
        except ConnectionClosed:
            pass
        finally:
            with self._changed:
                self._open.pop(number, None)
                self._changed.notify_all()

    def _received(self, number: int, raw: str | bytes) -> None:
        try:
            message = json.loads(raw)
        except ValueError:
            return
        if not isinstance(message, dict) or "envelope_id" not in message:
            return
        with self._changed:
            self._acks.append(Ack(str(message["envelope_id"]), number, message.get("payload")))
            self._changed.notify_all()


def _query(path: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(path).query))
