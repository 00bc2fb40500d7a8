"""A fake of GOV.UK's Release app (alphagov/release) on 127.0.0.1: the one call a deploy tool makes.

`POST /deployments` as `DeploymentsController#create` answers it for a push notification (read
from alphagov/release `app/controllers/deployments_controller.rb` and `app/models/deployment.rb`,
and the caller govuk-helm-charts `charts/argo-services/templates/workflows/notify-release`):
- GDS-SSO bearer-token authentication first: no `Authorization: Bearer <token>`, or a wrong one,
  is `401` and records nothing;
- a body that is not a JSON object with a `repo` string and a `deployment` object is `400`
  (`params.require(:deployment)`); a deployment without `environment` or `version` is `422`
  (`validates :version, :environment, presence: true`, then `create!`);
- otherwise the deployment is recorded against the application found (or created) by its repo
  path (`alphagov/<name>`), and the answer is `200` with an empty body (`head 200`).

`fail_next(count, status)` answers the next calls with a failure instead (5xx, or `disconnect`);
`stall_next()` keeps the next call waiting, unanswered, until the event it returns is set (a slow
Release app: a call still in flight while something else happens).
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tests.fakes._http import LocalServer, Reply, Request

DEFAULT_TOKEN = "release-app-bearer-token-0123456789"


@dataclass(frozen=True)
class Deployment:
    repo: str
    environment: str
    version: str
    deployed_sha: str | None


class FakeReleaseApp:
    def __init__(self, *, token: str = DEFAULT_TOKEN) -> None:
        self.token = token
        self._lock = threading.RLock()  # predicates of wait_until read the properties below
        self._changed = threading.Condition(self._lock)
        self._deployments: list[Deployment] = []
        self._requests: list[dict[str, Any]] = []
        self._failures: list[tuple[int, bool]] = []
        self._stalls: list[threading.Event] = []
        self._arrived = 0
        self._server = LocalServer(self._handle, name="fake-release-app")

    def start(self) -> FakeReleaseApp:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    @property
    def url(self) -> str:
        return self._server.origin

    # -- what it recorded ----------------------------------------------------------------------------

    @property
    def deployments(self) -> list[Deployment]:
        with self._lock:
            return list(self._deployments)

    @property
    def requests(self) -> list[dict[str, Any]]:
        """Every request received (method, path, authorization, body, status answered), in order."""
        with self._lock:
            return copy.deepcopy(self._requests)

    def wait_until(self, predicate: Callable[[], Any], timeout: float = 10.0) -> bool:
        with self._changed:
            return bool(self._changed.wait_for(predicate, timeout=timeout))

    def wait_for_deployments(self, count: int, timeout: float = 10.0) -> list[Deployment]:
        if not self.wait_until(lambda: len(self._deployments) >= count, timeout):
            raise AssertionError(f"expected {count} deployment(s) within {timeout}s, got {self._deployments!r}")
        return self.deployments

    @property
    def arrived(self) -> int:
        """How many requests have come in, answered or not yet."""
        with self._lock:
            return self._arrived

    def stall_next(self) -> threading.Event:
        """The next request waits, unanswered, until the returned event is set (at most 30 s)."""
        gate = threading.Event()
        with self._lock:
            self._stalls.append(gate)
        return gate

    def fail_next(self, count: int = 1, status: int = 503, *, disconnect: bool = False) -> None:
        with self._lock:
            self._failures += [(status, disconnect)] * count

    # -- HTTP --------------------------------------------------------------------------------------

    def _handle(self, request: Request) -> Reply:
        with self._changed:
            self._arrived += 1
            gate = self._stalls.pop(0) if self._stalls else None
            self._changed.notify_all()
        if gate is not None:
            gate.wait(30)
        with self._changed:
            reply = self._answer(request)
            self._requests.append(
                {
                    "method": request.method,
                    "path": request.path,
                    "authorization": request.headers.get("authorization"),
                    "content_type": request.content_type,
                    "body": request.body.decode("utf-8", "replace"),
                    "status": reply.status if not reply.disconnect else None,
                }
            )
            self._changed.notify_all()
            return reply

    def _answer(self, request: Request) -> Reply:
        if request.path != "/deployments":
            return Reply.text("404 error", 404)
        if request.method != "POST":
            return Reply.text("405 error", 405)
        if request.headers.get("authorization", "") != f"Bearer {self.token}":
            return Reply.json({"error": "Unauthorized", "reason": "Bearer token does not appear to be valid"}, 401)
        if self._failures:
            status, disconnect = self._failures.pop(0)
            return Reply(disconnect=True) if disconnect else Reply.text(f"{status} error", status)
        if request.content_type != "application/json":
            return Reply.text("400 error", 400)
        try:
            body = request.json()
        except (ValueError, UnicodeDecodeError):
            return Reply.text("400 error", 400)
        if not isinstance(body, dict) or not isinstance(body.get("repo"), str) or not body["repo"].strip():
            return Reply.text("400 error", 400)
        deployment = body.get("deployment")
        if not isinstance(deployment, dict):
            return Reply.text("400 error", 400)  # params.require(:deployment)
        environment, version = deployment.get("environment"), deployment.get("version")
        if not isinstance(environment, str) or not environment or not isinstance(version, str) or not version:
            return Reply.json({"error": "Validation failed: Version can't be blank, Environment can't be blank"}, 422)
        sha = deployment.get("deployed_sha")
        self._deployments.append(Deployment(body["repo"], environment, version, sha if isinstance(sha, str) else None))
        return Reply(status=200)
