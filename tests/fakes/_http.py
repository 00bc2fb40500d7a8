"""A tiny real HTTP server on 127.0.0.1 for the fakes: one handler function, a background thread.

Each fake supplies `handle(request) -> Reply`; this module does the socket work with the
standard library's ThreadingHTTPServer (HTTP/1.1 with keep-alive, so pooled clients such as
httpx reuse connections just as they would against the real service).
"""

from __future__ import annotations

import contextlib
import json
import socket
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit


@dataclass(frozen=True)
class Request:
    method: str
    path: str  # decoded path, without the query string
    query: dict[str, str]
    headers: dict[str, str]  # header names lower-cased
    body: bytes

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip().lower()

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8"))


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    disconnect: bool = False  # close the connection without answering at all

    @classmethod
    def json(cls, payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> Reply:
        return cls(
            status=status,
            body=json.dumps(payload).encode("utf-8"),
            headers={"Content-Type": "application/json; charset=utf-8", **(headers or {})},
        )

    @classmethod
    def text(cls, text: str, status: int = 200, headers: dict[str, str] | None = None) -> Reply:
        return cls(status=status, body=text.encode("utf-8"), headers={"Content-Type": "text/plain", **(headers or {})})


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a slow handler never holds up stop()
    allow_reuse_address = True
    request_queue_size = 128  # socketserver's 5 would drop a burst of connections (clients retry a SYN after 1 s)

    def __init__(self, handler_class: type[BaseHTTPRequestHandler], app: Callable[[Request], Reply]) -> None:
        self.app = app
        self.open_sockets: set[socket.socket] = set()
        self.sockets_lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), handler_class)

    def handle_error(self, request, client_address):  # type: ignore[no-untyped-def]
        # a client that gave up on a slow answer (a time-out test) is expected: no traceback on stderr
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)

    def process_request(self, request, client_address):  # type: ignore[no-untyped-def]
        with self.sockets_lock:
            self.open_sockets.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request):  # type: ignore[no-untyped-def]
        with self.sockets_lock:
            self.open_sockets.discard(request)
        super().shutdown_request(request)

    def close_open_sockets(self) -> None:
        with self.sockets_lock:
            sockets = list(self.open_sockets)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 30  # idle keep-alive connections end on their own
    # headers and body go out in two writes: without this, each small answer waits ~40 ms for a delayed ack
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
        pass

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _handle(self) -> None:
        parts = urlsplit(self.path)
        request = Request(
            method=self.command,
            path=unquote(parts.path),
            query=dict(parse_qsl(parts.query, keep_blank_values=True)),
            headers={name.lower(): value for name, value in self.headers.items()},
            body=self._read_body(),
        )
        try:
            reply = self.server.app(request)
        except Exception as error:  # a bug in a fake must show up, not hang the client
            reply = Reply.json({"ok": False, "error": f"fake_server_error: {type(error).__name__}: {error}"}, 500)
        if reply.disconnect:
            self.close_connection = True
            return
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(reply.body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _handle


class LocalServer:
    """Serves `app` on 127.0.0.1 at a free port from a background thread."""

    def __init__(self, app: Callable[[Request], Reply], name: str = "fake") -> None:
        self._app = app
        self._name = name
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError(f"{self._name} is not started")
        return self._server.server_address[1]

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self._server is not None

    def start(self) -> None:
        if self._server is not None:
            return
        self._server = _Server(_Handler, self._app)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name=self._name, daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.close_open_sockets()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None
