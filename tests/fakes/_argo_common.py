"""What the fake Argo CD and Argo Workflows servers share: bearer auth, recorded requests, faults.

Both Argo servers are gRPC gateways: errors are JSON `{"error", "code", "message"}` with the gRPC
code (16 unauthenticated, 7 permission denied, 5 not found, 13 internal). Faults switch on for
every request, or only for paths containing `fault_path` (to fail one endpoint and not another):
- `slow_seconds`: wait before answering (time-out tests; `stop()` wakes the wait at once);
- `fail_status`: answer 401, 403 or a 5xx with the gateway's error body;
- `junk`: `"not_json"` (an HTML error page with status 200), `"missing_fields"` (JSON with none
  of the fields the endpoint promises) or `"bare_items"` (items with a name and nothing else).
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tests.fakes._http import LocalServer, Reply, Request

GRPC_CODES = {401: 16, 403: 7, 404: 5}


@dataclass(frozen=True)
class ArgoRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-cased names
    status: int  # what the fake answered


def grpc_error(status: int, message: str) -> Reply:
    return Reply.json({"error": message, "code": GRPC_CODES.get(status, 13), "message": message}, status)


class ArgoServer:
    """A loopback server with Argo's bearer auth, fault switches and a request log; subclasses answer."""

    name = "fake-argo"

    def __init__(self, *, token: str) -> None:
        self.token = token
        self.slow_seconds = 0.0
        self.fail_status: int | None = None
        self.junk: str | None = None  # "not_json" | "missing_fields" | "bare_items"
        self.fault_path = ""  # faults apply only to paths containing this ("" = every path)
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._stopping = threading.Event()
        self._requests: list[ArgoRequest] = []
        self._server = LocalServer(self._handle, name=self.name)

    # -- lifecycle -------------------------------------------------------------------------

    def start(self):  # type: ignore[no-untyped-def]
        self._stopping.clear()
        self._server.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._server.stop()

    def __enter__(self):  # type: ignore[no-untyped-def]
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return self._server.origin

    def heal(self) -> None:
        """Every fault off."""
        with self._lock:
            self.slow_seconds = 0.0
            self.fail_status = None
            self.junk = None
            self.fault_path = ""

    # -- recorded requests -----------------------------------------------------------------

    @property
    def requests(self) -> list[ArgoRequest]:
        with self._lock:
            return copy.deepcopy(self._requests)

    def requests_to(self, path: str, method: str = "GET") -> list[ArgoRequest]:
        return [r for r in self.requests if r.path == path and r.method == method]

    def reset_requests(self) -> None:
        with self._lock:
            self._requests.clear()

    def wait_until(self, predicate: Callable[[], Any], timeout: float = 5.0) -> bool:
        with self._changed:
            return bool(self._changed.wait_for(predicate, timeout=timeout))

    # -- HTTP ------------------------------------------------------------------------------

    def _faulty(self, path: str) -> bool:
        return not self.fault_path or self.fault_path in path

    def _handle(self, request: Request) -> Reply:
        with self._lock:
            slow = self.slow_seconds if self._faulty(request.path) else 0.0
        if slow:
            self._stopping.wait(slow)
        with self._changed:
            reply = self._reply(request)
            self._requests.append(
                ArgoRequest(request.method, request.path, dict(request.query), dict(request.headers), reply.status)
            )
            self._changed.notify_all()
        return reply

    def _reply(self, request: Request) -> Reply:
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or given.strip() != self.token:
            return grpc_error(401, "invalid session: token is not valid")
        if self._faulty(request.path):
            if self.fail_status is not None:
                return grpc_error(self.fail_status, f"fake fault {self.fail_status}")
            if self.junk == "not_json":
                return Reply(
                    status=200,
                    body=b"<html><body><h1>502 Bad Gateway</h1></body></html>",
                    headers={"Content-Type": "text/html"},
                )
            if self.junk == "missing_fields":
                return Reply.json({"metadata": {}, "kind": "Unexpected"})
            if self.junk == "bare_items":
                return Reply.json({"metadata": {}, "items": [{"metadata": {"name": "bare"}}]})
        return self.answer(request)

    def answer(self, request: Request) -> Reply:  # pragma: no cover - subclasses answer
        raise NotImplementedError
