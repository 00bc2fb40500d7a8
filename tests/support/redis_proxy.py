"""A loopback TCP proxy in front of Redis that can cut the connection at one chosen write.

`cut_when(marker)` arms it: any command (or pipeline) whose bytes contain `marker` is never
forwarded; both ends of that connection are closed instead, as when the network or Redis fails
at that moment. redis-py then sees a ConnectionError (its retries are cut too while armed);
everything else passes through untouched. `mend()` disarms it.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from urllib.parse import urlsplit


class RedisProxy:
    def __init__(self, redis_url: str) -> None:
        parts = urlsplit(redis_url)
        self.target = (parts.hostname or "127.0.0.1", parts.port or 6379)
        self.database = parts.path or "/0"
        self.marker: bytes | None = None
        self.cuts = 0
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._accept, name="redis-proxy", daemon=True)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self._listener.getsockname()[1]}{self.database}"

    def start(self) -> RedisProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._listener.close()

    def __enter__(self) -> RedisProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def cut_when(self, marker: bytes) -> None:
        with self._lock:
            self.marker = marker

    def mend(self) -> None:
        with self._lock:
            self.marker = None

    def _accept(self) -> None:
        while not self._stopping.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            server.settimeout(None)
            threading.Thread(target=self._upstream, args=(client, server), daemon=True).start()
            threading.Thread(target=self._pipe, args=(server, client), daemon=True).start()

    def _upstream(self, client: socket.socket, server: socket.socket) -> None:
        """Client to Redis, looking at each chunk for the marker."""
        try:
            while chunk := client.recv(65536):
                with self._lock:
                    cut = self.marker is not None and self.marker in chunk
                    if cut:
                        self.cuts += 1
                if cut:
                    break
                server.sendall(chunk)
        except OSError:
            pass
        _close(client, server)

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while chunk := source.recv(65536):
                sink.sendall(chunk)
        except OSError:
            pass
        _close(source, sink)


def _close(*sockets: socket.socket) -> None:
    for sock in sockets:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        sock.close()
