"""A fake Argo Workflows 4.x REST API on 127.0.0.1: listing and resubmitting GOV.UK's workflows.

GOV.UK's `apps` namespace holds more than tests (SPEC 10.0): `deploy-image` workflows (labels
`repoName`, `imageTag`, `environment`, `promoteDeployment`, and the controller's
`workflows.argoproj.io/workflow-template=deploy-image`; govuk-helm-charts
`charts/argo-services/templates/workflows/`) sit beside the post-sync test runs, which the
controller labels `workflows.argoproj.io/workflow-template=post-sync` (made from that template).

Serves, behind `Authorization: Bearer <token>` (401 otherwise):
- `GET /api/v1/workflows/{namespace}?listOptions.labelSelector=...` -> `{"metadata": {...}, "items": [...]}`,
  with `items: null` when nothing matches, as the real server answers. The selector understands
  `key`, `key=value`, `key!=value` and `!key`, comma-separated (all must hold);
- `PUT /api/v1/workflows/{namespace}/{name}/resubmit` -> the new workflow (phase `Running`), which
  carries the original's labels and is listed from then on.
Faults: see `_argo_common`.
"""

from __future__ import annotations

import copy
import itertools
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.fakes._argo_common import ArgoRequest, ArgoServer, grpc_error
from tests.fakes._http import Reply, Request

DEFAULT_TOKEN = "argo-workflows-test-token"
BASE = "/api/v1/workflows"
FINISHED = {"Succeeded", "Failed", "Error"}
_EPOCH = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)
TEMPLATE_LABEL = "workflows.argoproj.io/workflow-template"


def workflow(
    name: str,
    *,
    repo_name: str,
    image_tag: str,
    application: str | None = None,
    phase: str = "Succeeded",
    created: str | None = None,
    failures: list[tuple[str, str]] | None = None,
    namespace: str = "apps",
) -> dict[str, Any]:
    """A post-sync Workflow as Argo Workflows lists it; `failures` are (displayName, message) of failed nodes."""
    created = created or "2026-11-29T10:05:00Z"
    nodes: dict[str, Any] = {
        name: {"id": name, "name": name, "displayName": name, "type": "Steps", "phase": phase, "startedAt": created}
    }
    if phase in ("Failed", "Error") and failures:
        nodes[name]["message"] = f"child '{name}-1' failed"
    for index, (display, message) in enumerate(failures or [], start=1):
        node_id = f"{name}-{index}"
        nodes[node_id] = {
            "id": node_id,
            "name": f"{name}[0].{display}",
            "displayName": display,
            "type": "Pod",
            "phase": "Failed",
            "message": message,
            "startedAt": created,
        }
    status: dict[str, Any] = {"phase": phase, "startedAt": created, "progress": "1/1", "nodes": nodes}
    if phase in FINISHED:
        status["finishedAt"] = created
    return {
        "metadata": {
            "name": name,
            "generateName": "post-sync-",
            "namespace": namespace,
            "uid": f"uid-{name}",
            "creationTimestamp": created,
            "labels": {
                "repoName": repo_name,
                "application": application or repo_name,
                "imageTag": image_tag,
                "promoteDeployment": "false",
                "automaticDeploysEnabled": "true",
                TEMPLATE_LABEL: "post-sync",  # the controller's label for a workflow made from a template
                "workflows.argoproj.io/phase": phase,
                **({"workflows.argoproj.io/completed": "true"} if phase in FINISHED else {}),
            },
        },
        "spec": {"workflowTemplateRef": {"name": "post-sync"}, "arguments": {"parameters": []}},
        "status": status,
    }


def deploy_image_workflow(
    name: str, *, repo_name: str, image_tag: str, environment: str, phase: str = "Failed", created: str | None = None
) -> dict[str, Any]:
    """GOV.UK's CI deploy (the `deploy-image` workflow): it runs in production's `apps` namespace for
    every environment, carries `repoName` and `imageTag` like a test run, and is never one."""
    created = created or "2026-11-29T10:04:00Z"
    failed = phase in ("Failed", "Error")
    nodes = {
        name: {"id": name, "name": name, "displayName": name, "type": "Steps", "phase": phase, "startedAt": created},
        f"{name}-1": {
            "id": f"{name}-1",
            "name": f"{name}[0].update-image-tag",
            "displayName": "update-image-tag",
            "type": "Pod",
            "phase": phase,
            **({"message": "Error (exit code 1): failed to push to govuk-helm-charts"} if failed else {}),
            "startedAt": created,
        },
    }
    status: dict[str, Any] = {"phase": phase, "startedAt": created, "nodes": nodes}
    if phase in FINISHED:
        status["finishedAt"] = created
    return {
        "metadata": {
            "name": name,
            "generateName": "deploy-image-",
            "namespace": "apps",
            "uid": f"uid-{name}",
            "creationTimestamp": created,
            "labels": {
                "repoName": repo_name,
                "imageTag": image_tag,
                "environment": environment,
                "promoteDeployment": "false",
                TEMPLATE_LABEL: "deploy-image",  # made from its WorkflowTemplate by an event binding, like the tests
                "workflows.argoproj.io/phase": phase,
                **({"workflows.argoproj.io/completed": "true"} if phase in FINISHED else {}),
            },
        },
        "spec": {"workflowTemplateRef": {"name": "deploy-image"}, "arguments": {"parameters": []}},
        "status": status,
    }


def _selected(labels: dict[str, str], selector: str) -> bool:
    for term in filter(None, (t.strip() for t in selector.split(","))):
        if term.startswith("!"):
            if term[1:] in labels:
                return False
        elif "!=" in term:
            key, value = term.split("!=", 1)
            if labels.get(key) == value:
                return False
        elif "=" in term:
            key, value = re.split("==?", term, maxsplit=1)
            if labels.get(key) != value:
                return False
        elif term not in labels:
            return False
    return True


class FakeArgoWorkflows(ArgoServer):
    name = "fake-argo-workflows"

    def __init__(self, *, token: str = DEFAULT_TOKEN) -> None:
        super().__init__(token=token)
        self._workflows: dict[tuple[str, str], dict[str, Any]] = {}  # (namespace, name)
        self._counter = itertools.count(1)
        self.resubmitted: list[tuple[str, str]] = []  # (original, new) names

    def add_workflow(self, name: str, **fields: Any) -> dict[str, Any]:
        item = workflow(name, **fields)
        with self._lock:
            self._workflows[(item["metadata"]["namespace"], name)] = item
        return copy.deepcopy(item)

    def add_deploy_image(self, name: str, **fields: Any) -> dict[str, Any]:
        item = deploy_image_workflow(name, **fields)
        with self._lock:
            self._workflows[("apps", name)] = item
        return copy.deepcopy(item)

    def put_raw_workflow(self, namespace: str, name: str, item: dict[str, Any]) -> None:
        with self._lock:
            self._workflows[(namespace, name)] = copy.deepcopy(item)

    def finish(self, name: str, phase: str, failures: list[tuple[str, str]] | None = None, namespace: str = "apps"):  # type: ignore[no-untyped-def]
        """Move a workflow to a final phase (as a resubmitted run ends)."""
        with self._lock:
            old = self._workflows[(namespace, name)]
            labels = old["metadata"]["labels"]
            self.add_workflow(
                name,
                repo_name=labels["repoName"],
                application=labels["application"],
                image_tag=labels["imageTag"],
                phase=phase,
                created=old["metadata"]["creationTimestamp"],
                failures=failures,
                namespace=namespace,
            )

    def workflow(self, name: str, namespace: str = "apps") -> dict[str, Any] | None:
        with self._lock:
            found = self._workflows.get((namespace, name))
            return copy.deepcopy(found) if found else None

    def list_requests(self, namespace: str = "apps") -> list[ArgoRequest]:
        return self.requests_to(f"{BASE}/{namespace}")

    def resubmit_requests(self) -> list[ArgoRequest]:
        return [r for r in self.requests if r.method == "PUT" and r.path.endswith("/resubmit")]

    # -- HTTP ------------------------------------------------------------------------------

    def answer(self, request: Request) -> Reply:
        parts = request.path.strip("/").split("/")
        if parts[:3] != ["api", "v1", "workflows"] or len(parts) < 4:
            return grpc_error(404, "Not Found")
        namespace = parts[3]
        if request.method == "GET" and len(parts) == 4:
            selector = request.query.get("listOptions.labelSelector", "")
            items = [
                copy.deepcopy(item)
                for (ns, _), item in self._workflows.items()
                if ns == namespace and _selected(item["metadata"].get("labels") or {}, selector)
            ]
            return Reply.json({"metadata": {"resourceVersion": "55555"}, "items": items or None})
        if request.method == "GET" and len(parts) == 5:
            found = self._workflows.get((namespace, parts[4]))
            return Reply.json(found) if found else grpc_error(404, f'workflows.argoproj.io "{parts[4]}" not found')
        if request.method == "PUT" and len(parts) == 6 and parts[5] == "resubmit":
            return self._resubmit(namespace, parts[4])
        return grpc_error(404, "Not Found")

    def _resubmit(self, namespace: str, name: str) -> Reply:
        original = self._workflows.get((namespace, name))
        if original is None:
            return grpc_error(404, f'workflows.argoproj.io "{name}" not found')
        count = next(self._counter)
        new_name = f"{original['metadata'].get('generateName') or name + '-'}r{count:04d}"
        labels = original["metadata"]["labels"]
        created = (_EPOCH + timedelta(hours=3, minutes=count)).strftime("%Y-%m-%dT%H:%M:%SZ")
        item = workflow(
            new_name,
            repo_name=labels["repoName"],
            application=labels.get("application"),
            image_tag=labels["imageTag"],
            phase="Running",
            created=created,
            namespace=namespace,
        )
        self._workflows[(namespace, new_name)] = item
        self.resubmitted.append((name, new_name))
        return Reply.json(item)
