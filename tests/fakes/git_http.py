"""A git host over smart HTTP on 127.0.0.1, as GitHub serves govuk-helm-charts, that can be made to hang.

Each request goes to git's own CGI program, `git http-backend` (git-http-backend(1): the
repository is GIT_PROJECT_ROOT + PATH_INFO, GIT_HTTP_EXPORT_ALL exports it, `http.receivepack`
allows anonymous pushes), so fetch, ls-remote, clone and push speak the real protocol.

`hang()` makes the host accept every new connection, read the request and then say nothing
until `answer()` (or `stop()`): what a remote does when a load balancer or the network stalls.
`hang("git-receive-pack")` stalls pushes only.
"""

from __future__ import annotations

import os
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    host: FakeGitHost


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the standard library's name
        pass

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _serve(self) -> None:
        host = self.server.host
        body = self._body()
        host.requests.append(f"{self.command} {self.path}")
        if host.hanging.is_set() and host.hang_only in self.path:
            host.hung.append(self.path)
            while host.hanging.is_set() and not host.stopping.is_set():
                host.hanging_changed.wait(0.1)
            self.close_connection = True
            return  # never a byte of answer
        parts = urlsplit(self.path)
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "GIT_PROJECT_ROOT": str(host.root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_COUNT": "1",
            "GIT_CONFIG_KEY_0": "http.receivepack",
            "GIT_CONFIG_VALUE_0": "true",
            "REQUEST_METHOD": self.command,
            "PATH_INFO": parts.path,
            "QUERY_STRING": parts.query,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)),
            "REMOTE_ADDR": "127.0.0.1",
        }
        for header, variable in (("Content-Encoding", "HTTP_CONTENT_ENCODING"), ("Git-Protocol", "GIT_PROTOCOL")):
            if self.headers.get(header):
                env[variable] = self.headers[header]
        result = subprocess.run(["git", "http-backend"], input=body, env=env, capture_output=True, check=False)
        head, _, payload = result.stdout.partition(b"\r\n\r\n")
        if not _ and b"\n\n" in result.stdout:
            head, _, payload = result.stdout.partition(b"\n\n")
        status, headers = 200, []
        for line in head.decode("latin-1").splitlines():
            name, _, value = line.partition(":")
            if name.lower() == "status":
                status = int(value.strip().split()[0])
            elif name:
                headers.append((name, value.strip()))
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


class FakeGitHost:
    """Serves the bare repository at `bare` as http://127.0.0.1:<port>/<bare's name>."""

    def __init__(self, bare: Path) -> None:
        self.bare = Path(bare)
        self.root = self.bare.parent
        self.requests: list[str] = []
        self.hung: list[str] = []  # the requests left without an answer
        self.hanging = threading.Event()
        self.hang_only = ""  # hang only requests whose path contains this (all when empty)
        self.hanging_changed = threading.Event()
        self.stopping = threading.Event()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.host = self
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-git-host", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/{self.bare.name}"

    def start(self) -> FakeGitHost:
        self._thread.start()
        return self

    def hang(self, only: str = "") -> None:
        """Leave requests unanswered from now on: every one, or those whose path contains `only`
        (`git-receive-pack`: pushes hang while fetches and ls-remote still answer)."""
        self.hang_only = only
        self.hanging.set()

    def answer(self) -> None:
        self.hanging.clear()
        self.hanging_changed.set()

    def stop(self) -> None:
        self.stopping.set()
        self.answer()
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FakeGitHost:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
