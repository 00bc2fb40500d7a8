"""A fake Argo CD 3.x REST API on 127.0.0.1: applications, resource trees, events and pod logs.

Serves, behind `Authorization: Bearer <token>` (401 otherwise):
- `GET /api/v1/applications` -> `{"metadata": {...}, "items": [Application, ...]}`; `fields=` is
  accepted and ignored (the real server trims the answer with it);
- `GET /api/v1/applications/{name}` -> one Application;
- `GET /api/v1/applications/{name}/resource-tree` -> `{"nodes": [{kind, name, namespace, uid, health}]}`;
- `GET /api/v1/applications/{name}/events?resourceName=&resourceNamespace=&resourceUID=` -> a
  Kubernetes EventList of the events recorded for that resource;
- `GET /api/v1/applications/{name}/logs?podName=&namespace=&tailLines=&follow=false` -> one JSON
  object per line, `{"result": {"content", "timeStampStr", "podName", "last"}}`, ending with `last: true`.
Unknown applications answer 404 with the gateway's error body. Faults: see `_argo_common`.
"""

from __future__ import annotations

import copy
import json
import uuid
from typing import Any

from tests.fakes._argo_common import ArgoRequest, ArgoServer, grpc_error
from tests.fakes._http import Reply, Request

DEFAULT_TOKEN = "argocd-test-token"
APPS = "/api/v1/applications"


def application(
    name: str,
    *,
    image_tag: str | None,
    repo_name: str | None = None,
    phase: str | None = "Succeeded",
    message: str = "successfully synced (all tasks run)",
    revision: str = "0123456789abcdef0123456789abcdef01234567",
    health: str | None = "Healthy",
    health_message: str = "",
    slack_channel: str | None = None,
    namespace: str = "cluster-services",
) -> dict[str, Any]:
    """An Application as Argo CD 3.x lists it (the fields the bot reads, plus some it does not)."""
    annotations: dict[str, str] = {"promoteDeployment": "false", "automaticDeploysEnabled": "true"}
    if image_tag is not None:
        annotations["imageTag"] = image_tag
    if repo_name is not None:
        annotations["repoName"] = repo_name
    if slack_channel is not None:
        annotations["slackChannel"] = slack_channel
    status: dict[str, Any] = {
        "sync": {"status": "Synced" if phase == "Succeeded" else "OutOfSync", "revision": revision},
        "summary": {"images": [f"ghcr.io/alphagov/{repo_name or name}:{image_tag}"]},
    }
    if health is not None:
        status["health"] = {"status": health, **({"message": health_message} if health_message else {})}
    if phase is not None:
        status["operationState"] = {
            "operation": {"sync": {"revision": revision}, "initiatedBy": {"automated": True}},
            "phase": phase,
            "message": message,
            "syncResult": {
                "revision": revision,
                "source": {"repoURL": "https://github.com/alphagov/govuk-helm-charts"},
            },
            "startedAt": "2026-11-29T10:00:00Z",
            **({"finishedAt": "2026-11-29T10:01:00Z"} if phase != "Running" else {}),
        }
    return {
        "metadata": {
            "name": name,
            "namespace": namespace,
            "uid": str(uuid.uuid5(uuid.NAMESPACE_DNS, name)),
            "annotations": annotations,
            "labels": {"argocd.argoproj.io/instance": "app-of-apps"},
        },
        "spec": {"project": "govuk", "destination": {"namespace": "apps"}},
        "status": status,
    }


def node(kind: str, name: str, *, health: str | None, message: str = "", namespace: str = "apps") -> dict[str, Any]:
    """A resource-tree node; `health=None` for resources without health (ConfigMaps, Secrets)."""
    found: dict[str, Any] = {
        "version": "v1",
        "kind": kind,
        "namespace": namespace,
        "name": name,
        "uid": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{kind}/{namespace}/{name}")),
        "resourceVersion": "123456",
    }
    if health is not None:
        found["health"] = {"status": health, **({"message": message} if message else {})}
    return found


def event(kind: str, name: str, *, reason: str, message: str, type_: str = "Warning", at: str = "") -> dict[str, Any]:
    """A Kubernetes Event about one resource."""
    stamp = at or "2026-11-29T10:00:30Z"
    return {
        "metadata": {"name": f"{name}.{uuid.uuid4().hex[:16]}", "namespace": "apps"},
        "involvedObject": {"kind": kind, "name": name, "namespace": "apps"},
        "reason": reason,
        "message": message,
        "type": type_,
        "count": 1,
        "source": {"component": "kubelet"},
        "firstTimestamp": stamp,
        "lastTimestamp": stamp,
    }


class FakeArgoCD(ArgoServer):
    name = "fake-argocd"

    def __init__(self, *, token: str = DEFAULT_TOKEN) -> None:
        super().__init__(token=token)
        self._apps: dict[str, dict[str, Any]] = {}
        self._trees: dict[str, list[dict[str, Any]]] = {}
        self._events: dict[tuple[str, str], list[dict[str, Any]]] = {}  # (application, resource name)
        self._logs: dict[tuple[str, str], list[str]] = {}  # (application, pod name)

    # -- state -----------------------------------------------------------------------------

    def set_app(self, name: str, **fields: Any) -> dict[str, Any]:
        """Add or replace an application (see `application()` for the fields)."""
        item = application(name, **fields)
        with self._lock:
            self._apps[name] = item
        return copy.deepcopy(item)

    def put_raw_app(self, item: dict[str, Any]) -> None:
        """An application exactly as given, however malformed (keyed by its name, or a fresh key)."""
        name = item.get("metadata", {}).get("name") if isinstance(item.get("metadata"), dict) else None
        with self._lock:
            self._apps[str(name) if name else uuid.uuid4().hex] = copy.deepcopy(item)

    def remove_app(self, name: str) -> None:
        with self._lock:
            self._apps.pop(name, None)

    def set_tree(self, application: str, nodes: list[dict[str, Any]]) -> None:
        with self._lock:
            self._trees[application] = copy.deepcopy(nodes)

    def set_events(self, application: str, resource_name: str, events: list[dict[str, Any]]) -> None:
        with self._lock:
            self._events[(application, resource_name)] = copy.deepcopy(events)

    def set_logs(self, application: str, pod: str, lines: list[str]) -> None:
        with self._lock:
            self._logs[(application, pod)] = list(lines)

    def list_requests(self) -> list[ArgoRequest]:
        return self.requests_to(APPS)

    # -- HTTP ------------------------------------------------------------------------------

    def answer(self, request: Request) -> Reply:
        if request.method != "GET" or not (request.path == APPS or request.path.startswith(APPS + "/")):
            return grpc_error(404, "Not Found")
        if request.path == APPS:
            return Reply.json({"metadata": {"resourceVersion": "98765"}, "items": list(self._apps.values())})
        parts = request.path[len(APPS) + 1 :].split("/")
        name, rest = parts[0], parts[1:]
        if name not in self._apps:
            return grpc_error(404, f'applications.argoproj.io "{name}" not found')
        if not rest:
            return Reply.json(self._apps[name])
        if rest == ["resource-tree"]:
            return Reply.json({"nodes": self._trees.get(name, []), "hosts": []})
        if rest == ["events"]:
            resource = request.query.get("resourceName", "")
            items = self._events.get((name, resource), []) if resource else []
            return Reply.json({"metadata": {"resourceVersion": "4567"}, "items": items})
        if rest == ["logs"]:
            return self._log_lines(name, request.query)
        return grpc_error(404, "Not Found")

    def _log_lines(self, application: str, query: dict[str, str]) -> Reply:
        pod = query.get("podName", "")
        lines = self._logs.get((application, pod), [])
        tail = query.get("tailLines", "")
        if tail.isdigit():
            lines = lines[-int(tail) :] if int(tail) else []
        stamp = "2026-11-29T10:00:40.123456789Z"
        entries = [
            {"result": {"content": line, "timeStampStr": stamp, "podName": pod, "last": False}} for line in lines
        ]
        entries.append({"result": {"content": "", "timeStampStr": stamp, "podName": pod, "last": True}})
        body = "".join(json.dumps(entry) + "\n" for entry in entries)
        return Reply(status=200, body=body.encode("utf-8"), headers={"Content-Type": "application/json"})
