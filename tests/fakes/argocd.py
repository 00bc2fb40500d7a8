"""A fake Argo CD 3.x REST API on 127.0.0.1 that answers as the real server does (SPEC 10.0).

Serves, behind `Authorization: Bearer <token>` (401 otherwise):
- `GET /api/v1/applications?projects=&fields=` -> `{"metadata": {...}, "items": [...]}`. `projects=`
  keeps that project's applications. `fields=` keeps only keys on Argo CD's fixed allowlist
  (argo-cd `pkg/apiclient/application/forwarder_overwrite.go`, `appFields`) and silently drops the
  rest, `status.operationState.message` included; `status.operationState.operation.sync` answers the
  operation's *syncResult*; a key whose value is absent is left out. A leading `-` excludes instead;
- `GET /api/v1/applications/{name}` -> the whole Application;
- `GET /api/v1/applications/{name}/resource-tree` -> `{"nodes": [...]}`, with `nodes` left out when empty;
- `GET /api/v1/applications/{name}/events?resourceName=&resourceNamespace=&resourceUID=` -> an EventList;
- `GET /api/v1/applications/{name}/logs?podName=&namespace=&container=&tailLines=&follow=false` -> one
  JSON object per line, `{"result": {"content", "timeStampStr", "podName", "last"}}`, ending with
  `last: true`. GOV.UK's web pods have two containers (`app`, `nginx`): without `container=` Kubernetes
  refuses and Argo CD streams the refusal back as a log line, as the real server does; likewise for
  a container the pod lacks (`set_pod_containers`: worker pods name theirs after the worker type).
One application (and its tree, events, logs) as argo-cd `server/application/application.go`
`getAppEnforceRBAC` answers a token that may read every project: without `project=` (`projects=`
for the Application itself) an unknown application is `403` "permission denied" (Argo CD will not
say whether it exists) and another project's is answered; with it, both are `404`
`applications.argoproj.io "<name>" not found`. Faults: see `_argo_common`.

The app-of-apps step (SPEC 10.0, "Stale outcomes"): `flip_image_tag` changes an Application's
`imageTag` annotation and spec only; the previous operation (Succeeded, Healthy) and the old image
stay, with `status.sync.status` OutOfSync, until `start_operation` and `finish_operation`.
"""

from __future__ import annotations

import copy
import json
import uuid
from datetime import UTC, datetime
from typing import Any

from tests.fakes._argo_common import ArgoRequest, ArgoServer, grpc_error
from tests.fakes._http import Reply, Request

DEFAULT_TOKEN = "argocd-test-token"
APPS = "/api/v1/applications"
REGISTRY = "172025368201.dkr.ecr.eu-west-1.amazonaws.com/github/alphagov/govuk"
NGINX_IMAGE = "public.ecr.aws/nginx/nginx:1.27-alpine"
CONTAINERS = ("app", "nginx")
# Argo CD's `fields=` allowlist (SPEC 10.0), each asked for as `items.<key>`; nothing else survives.
FIELDS_ALLOWLIST = (
    "metadata.name",
    "metadata.namespace",
    "metadata.annotations",
    "metadata.labels",
    "metadata.creationTimestamp",
    "metadata.deletionTimestamp",
    "spec",
    "spec.destination",
    "spec.project",
    "spec.source",
    "spec.sources",
    "spec.syncPolicy",
    "spec.sourceHydrator",
    "status.summary",
    "status.sync.status",
    "status.sync.revision",
    "status.health",
    "status.operationState.startedAt",
    "status.operationState.finishedAt",
    "status.operationState.phase",
    "status.operationState.operation.sync",
    "status.resources",
    "status.sourceHydrator",
    "operation.sync",
)


def now_rfc3339() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def image(tag_file: str, tag: str) -> str:
    """An image of GOV.UK's registry, as `status.summary.images` lists it."""
    return f"{REGISTRY}/{tag_file}:{tag}"


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
    slack_channel: str | None = "",
    namespace: str = "cluster-services",
    project: str = "govuk",
    images: list[str] | None = None,
    sync_status: str | None = None,
    started_at: str | None = None,
    post_sync: str = "true",
    image_values: list[str] | None = None,
) -> dict[str, Any]:
    """An Application as Argo CD 3.x holds it, with the annotations GOV.UK's app-config chart sets
    (govuk-helm-charts `charts/app-config/templates/govuk-application.yaml`).

    `images` defaults to the app's image of its tag file plus nginx (GOV.UK's second container);
    an Application with `image_values` has an empty `imageTag` annotation and runs one image per file.
    `started_at` defaults to now: the operation is as new as the call that sets it.
    """
    tag_file = repo_name or name
    annotations: dict[str, str] = {
        "repoName": tag_file,
        "imageTag": "" if image_values else (image_tag or ""),
        "promoteDeployment": "false",
        "automaticDeploysEnabled": "true",
        "postSyncWorkflowEnabled": post_sync,
        "slackChannel": slack_channel or "",
    }
    if image_tag is None and not image_values:
        del annotations["imageTag"]
    if repo_name is None:
        del annotations["repoName"]  # defaults to the name, as GOV.UK's chart does
    if images is None:
        files = image_values or ([tag_file] if image_tag else [])
        images = [image(file, image_tag or "") for file in files] + ([NGINX_IMAGE] if files else [])
    if sync_status is None:
        sync_status = "Synced" if phase == "Succeeded" else "OutOfSync"
    status: dict[str, Any] = {
        "sync": {"status": sync_status, "revision": revision},
        "summary": {"images": list(images), "externalURLs": [f"https://{name}.integration.publishing.service.gov.uk"]},
        "reconciledAt": now_rfc3339(),
    }
    if health is not None:
        status["health"] = {"status": health, **({"message": health_message} if health_message else {})}
    if phase is not None:
        started = started_at or now_rfc3339()
        status["operationState"] = {
            "operation": {"sync": {"revision": revision}, "initiatedBy": {"automated": True}},
            "phase": phase,
            "message": message,
            "syncResult": {
                "revision": revision,
                "source": {"repoURL": "https://github.com/alphagov/govuk-helm-charts"},
                "resources": [
                    {
                        "group": "apps",
                        "version": "v1",
                        "kind": "Deployment",
                        "namespace": "apps",
                        "name": name,
                        "status": "Synced" if phase == "Succeeded" else "SyncFailed",
                        "message": "deployment.apps/" + name + " configured",
                        "syncPhase": "Sync",
                    }
                ],
            },
            "startedAt": started,
            **({"finishedAt": started} if phase not in ("Running", "Terminating") else {}),
        }
    parameters = [{"name": "appImage.tag", "value": image_tag or ""}]
    return {
        "metadata": {
            "name": name,
            "namespace": namespace,
            "uid": str(uuid.uuid5(uuid.NAMESPACE_DNS, name)),
            "creationTimestamp": "2024-01-01T00:00:00Z",
            "annotations": annotations,
            "labels": {"argocd.argoproj.io/instance": "app-of-apps"},
        },
        "spec": {
            "project": project,
            "destination": {"namespace": "apps", "server": "https://kubernetes.default.svc"},
            "source": {
                "repoURL": "https://github.com/alphagov/govuk-helm-charts",
                "path": "charts/generic-govuk-app",
                "helm": {"parameters": parameters},
            },
            "syncPolicy": {"automated": {"prune": True, "selfHeal": True}},
        },
        "status": status,
    }


def _pick(item: dict[str, Any], key: str) -> Any:
    """The value Argo CD's allowlist gives for `key`, or None when it leaves the key out."""
    status = item.get("status") or {}
    operation = status.get("operationState")
    if key == "status.operationState.operation.sync":
        return (operation or {}).get("syncResult") if operation else None  # the syncResult, as the real server
    if key.startswith("status.operationState."):
        return (operation or {}).get(key.rsplit(".", 1)[1]) if operation else None
    if key == "status.resources":
        return status.get("resources") or None
    value: Any = item
    for part in key.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def trim(item: dict[str, Any], fields: str) -> dict[str, Any]:
    """One list item as `fields=` leaves it: only allowlisted keys asked for (or, with `-`, not asked for)."""
    exclude = fields.startswith("-")
    asked = set((fields[1:] if exclude else fields).split(","))
    trimmed: dict[str, Any] = {}
    for key in FIELDS_ALLOWLIST:
        if (f"items.{key}" in asked) == exclude:
            continue
        value = _pick(item, key)
        if value is None:
            continue
        parts = key.split(".")
        into = trimmed
        for part in parts[:-1]:
            into = into.setdefault(part, {})
            if not isinstance(into, dict):
                break
        else:
            if parts[-1] not in into:
                into[parts[-1]] = copy.deepcopy(value)
    return trimmed


def node(
    kind: str,
    name: str,
    *,
    health: str | None,
    message: str = "",
    namespace: str = "apps",
    parents: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A resource-tree node; `health=None` for resources without health (ConfigMaps, Secrets).

    `parents` are the nodes that own this one (a Pod's ReplicaSet, a ReplicaSet's Deployment):
    Argo CD's `ResourceNode.parentRefs` carry each owner's ResourceRef (group, version, kind,
    namespace, name, uid), left out when there is none."""
    found: dict[str, Any] = {
        "version": "v1",
        "kind": kind,
        "namespace": namespace,
        "name": name,
        "uid": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{kind}/{namespace}/{name}")),
        "resourceVersion": "123456",
    }
    if kind in ("Deployment", "ReplicaSet"):
        found.update(group="apps", version="v1")
    if parents:
        found["parentRefs"] = [
            {key: parent[key] for key in ("group", "version", "kind", "namespace", "name", "uid") if parent.get(key)}
            for parent in parents
        ]
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
        self._logs: dict[tuple[str, str, str], list[str]] = {}  # (application, pod name, container)
        self._containers: dict[tuple[str, str], tuple[str, ...]] = {}  # (application, pod): other than app, nginx

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

    def app(self, name: str) -> dict[str, Any] | None:
        with self._lock:
            found = self._apps.get(name)
            return copy.deepcopy(found) if found else None

    def flip_image_tag(self, name: str, tag: str) -> None:
        """The app-of-apps sync: the `imageTag` annotation and the spec change, nothing else yet.

        The previous operation (its phase, health and start) and the old image stay, and
        `status.sync.status` turns OutOfSync, until Argo CD starts the operation for the new spec.
        """
        with self._lock:
            item = self._apps[name]
            item["metadata"]["annotations"]["imageTag"] = tag
            item["spec"]["source"]["helm"]["parameters"] = [{"name": "appImage.tag", "value": tag}]
            item["status"]["sync"]["status"] = "OutOfSync"

    def start_operation(self, name: str, *, images: list[str] | None = None) -> None:
        """Argo CD starts syncing the new spec: phase Running, started now, health Progressing."""
        with self._lock:
            item = self._apps[name]
            status = item["status"]
            status["operationState"] = {
                "operation": {"sync": {"revision": status["sync"].get("revision", "")}},
                "phase": "Running",
                "message": "waiting for healthy state of apps/Deployment/" + name,
                "startedAt": now_rfc3339(),
                "syncResult": {"revision": status["sync"].get("revision", ""), "resources": []},
            }
            status["health"] = {"status": "Progressing"}
            if images is not None:
                status["summary"]["images"] = list(images)

    def finish_operation(
        self,
        name: str,
        *,
        phase: str = "Succeeded",
        health: str = "Healthy",
        message: str = "",
        images: list[str] | None = None,
    ) -> None:
        """The operation started by `start_operation` ends; the new image runs (Synced) unless told otherwise."""
        with self._lock:
            item = self._apps[name]
            status = item["status"]
            operation = status["operationState"]
            operation["phase"] = phase
            operation["message"] = message or ("successfully synced (all tasks run)" if phase == "Succeeded" else "")
            operation["finishedAt"] = now_rfc3339()
            status["health"] = {"status": health}
            status["sync"]["status"] = "Synced" if phase == "Succeeded" else "OutOfSync"
            if images is None and phase == "Succeeded":
                tag = item["metadata"]["annotations"].get("imageTag") or ""
                files = [
                    i.rsplit("/", 1)[1].split(":")[0] for i in status["summary"]["images"] if i.startswith(REGISTRY)
                ]
                images = [image(file, tag) for file in dict.fromkeys(files)] + [NGINX_IMAGE]
            if images is not None:
                status["summary"]["images"] = list(images)

    def remove_app(self, name: str) -> None:
        with self._lock:
            self._apps.pop(name, None)

    def set_tree(self, application: str, nodes: list[dict[str, Any]]) -> None:
        with self._lock:
            self._trees[application] = copy.deepcopy(nodes)

    def set_events(self, application: str, resource_name: str, events: list[dict[str, Any]]) -> None:
        with self._lock:
            self._events[(application, resource_name)] = copy.deepcopy(events)

    def set_logs(self, application: str, pod: str, lines: list[str], container: str = "app") -> None:
        with self._lock:
            self._logs[(application, pod, container)] = list(lines)

    def set_pod_containers(self, application: str, pod: str, containers: list[str]) -> None:
        """The containers of one pod (every pod has `app` and `nginx` unless told otherwise here)."""
        with self._lock:
            self._containers[(application, pod)] = tuple(containers)

    def list_requests(self) -> list[ArgoRequest]:
        return self.requests_to(APPS)

    # -- HTTP ------------------------------------------------------------------------------

    def answer(self, request: Request) -> Reply:
        if request.method != "GET" or not (request.path == APPS or request.path.startswith(APPS + "/")):
            return grpc_error(404, "Not Found")
        if request.path == APPS:
            return self._list(request.query)
        parts = request.path[len(APPS) + 1 :].split("/")
        name, rest = parts[0], parts[1:]
        # argo-cd server/application/application.go `getAppEnforceRBAC` (a token that may read every
        # project): with a project named, an unknown Application or one of another project is 404;
        # without, an unknown one is 403 (its existence is not told) and another project's is answered
        project = request.query.get("project") or (request.query.get("projects", "") if not rest else "")
        found = self._apps.get(name)
        if project and (found is None or _project(found) != project):
            return grpc_error(404, f'applications.argoproj.io "{name}" not found')
        if found is None:
            return grpc_error(403, "permission denied")
        if not rest:
            return Reply.json(self._apps[name])
        if rest == ["resource-tree"]:
            nodes = self._trees.get(name, [])
            return Reply.json({"nodes": nodes} if nodes else {})  # `nodes` is omitempty
        if rest == ["events"]:
            resource = request.query.get("resourceName", "")
            items = self._events.get((name, resource), []) if resource else []
            return Reply.json({"metadata": {"resourceVersion": "4567"}, "items": items})
        if rest == ["logs"]:
            return self._log_lines(name, request.query)
        return grpc_error(404, "Not Found")

    def _list(self, query: dict[str, str]) -> Reply:
        # `project` is the legacy name of `projects`; the server reads both
        projects = [p for key in ("projects", "project") for p in query.get(key, "").split(",") if p]
        items = [item for item in self._apps.values() if not projects or _project(item) in projects]
        fields = query.get("fields", "")
        if fields:
            items = [trim(item, fields) for item in items]
        return Reply.json({"metadata": {"resourceVersion": "98765"}, "items": items or None})

    def _log_lines(self, application: str, query: dict[str, str]) -> Reply:
        pod = query.get("podName", "")
        container = query.get("container", "")
        stamp = "2026-11-29T10:00:40.123456789Z"
        containers = self._containers.get((application, pod), CONTAINERS)
        if not container and len(containers) > 1:
            # Kubernetes refuses; Argo CD streams the refusal back as if it were the log
            refusal = f"a container name must be specified for pod {pod}, choose one of: [{' '.join(containers)}]"
            lines = [refusal]
        elif container and container not in containers:
            lines = [f"container {container} is not valid for pod {pod}"]  # likewise
        else:
            lines = self._logs.get((application, pod, container or containers[0]), [])
            tail = query.get("tailLines", "")
            if tail.isdigit():
                lines = lines[-int(tail) :] if int(tail) else []
        entries = [
            {"result": {"content": line, "timeStampStr": stamp, "podName": pod, "last": False}} for line in lines
        ]
        entries.append({"result": {"content": "", "timeStampStr": stamp, "podName": pod, "last": True}})
        body = "".join(json.dumps(entry) + "\n" for entry in entries)
        return Reply(status=200, body=body.encode("utf-8"), headers={"Content-Type": "application/json"})


def _project(item: dict[str, Any]) -> str | None:
    spec = item.get("spec")
    return spec.get("project") if isinstance(spec, dict) else None
