"""HTTP clients for one environment's Argo CD and Argo Workflows.

Every call sends `Authorization: Bearer <token>` and gives up after 10 seconds. Whatever goes
wrong (time-out, refused connection, 401/403, 5xx, a body that is not JSON or lacks fields) ends
as one `ArgoUnavailable` whose reason is a few words and never holds the token; nothing here
logs a request's headers.
"""

from __future__ import annotations

import json
from typing import Any, Protocol

import httpx

from bot.argo.models import (
    AppState,
    ArgoUnavailable,
    KubeEvent,
    ResourceNode,
    Workflow,
    parse_application,
    parse_applications,
    parse_events,
    parse_log_lines,
    parse_tree,
    parse_workflow,
    parse_workflows,
)

TIMEOUT_SECONDS = 10.0
# Only keys on Argo CD's `fields=` allowlist survive (argo-cd forwarder_overwrite.go, SPEC 10.0);
# `status.operationState.operation.sync` answers the syncResult. The message is not on the list:
# it comes from one GET of the application, for failures only.
APPLICATION_FIELDS = ",".join(
    (
        "items.metadata.name",
        "items.metadata.annotations",
        "items.status.sync.status",
        "items.status.health",
        "items.status.summary",
        "items.status.operationState.phase",
        "items.status.operationState.startedAt",
        "items.status.operationState.operation.sync",
    )
)
TEMPLATE_LABEL = "workflows.argoproj.io/workflow-template"  # set by the controller on a template's runs


class Revealable(Protocol):
    def reveal(self) -> str: ...


def _token_text(token: str | Revealable) -> str:
    return token if isinstance(token, str) else token.reveal()


class _Api:
    def __init__(self, base_url: str, token: str | Revealable, *, timeout: float = TIMEOUT_SECONDS) -> None:
        self.base_url = base_url.rstrip("/")
        self._client = httpx.Client(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {_token_text(token)}", "Accept": "application/json"},
            timeout=timeout,
            follow_redirects=False,
        )

    def close(self) -> None:
        self._client.close()

    def _call(self, method: str, path: str, params: dict[str, str] | None = None, body: Any = None) -> httpx.Response:
        try:
            response = self._client.request(method, path, params=params, json=body)
        except httpx.TimeoutException:
            raise ArgoUnavailable("timed out") from None
        except httpx.HTTPError:
            raise ArgoUnavailable("unreachable") from None
        if response.status_code != 200:
            raise ArgoUnavailable(f"answered {response.status_code}")
        return response

    def _json(self, method: str, path: str, params: dict[str, str] | None = None, body: Any = None) -> Any:
        response = self._call(method, path, params, body)
        try:
            return json.loads(response.content)
        except (ValueError, RecursionError):
            raise ArgoUnavailable("not JSON") from None


class ArgoCD(_Api):
    """Argo CD's REST API for one environment (read-only: the bot never changes Argo CD)."""

    def __init__(
        self,
        base_url: str,
        token: str | Revealable,
        *,
        timeout: float = TIMEOUT_SECONDS,
        project: str = "govuk",
        log_container: str = "app",
    ) -> None:
        super().__init__(base_url, token, timeout=timeout)
        self.project = project
        self.log_container = log_container

    def _in_project(self) -> dict[str, str]:
        # named, Argo CD itself answers 404 for an Application of another project (getAppEnforceRBAC);
        # unnamed, a token that may read every project would be answered another project's
        return {"project": self.project}

    def applications(self) -> list[AppState]:
        """Every application of the project, in one request whatever their number."""
        params = {"projects": self.project, "fields": APPLICATION_FIELDS}
        return parse_applications(self._json("GET", "/api/v1/applications", params))

    def application(self, name: str) -> AppState:
        """One application in full: the only answer that carries the operation's message."""
        return parse_application(self._json("GET", f"/api/v1/applications/{_segment(name)}", self._in_project()))

    def resource_tree(self, application: str) -> list[ResourceNode]:
        path = f"/api/v1/applications/{_segment(application)}/resource-tree"
        return parse_tree(self._json("GET", path, self._in_project()))

    def events(self, application: str, node: ResourceNode) -> list[KubeEvent]:
        params = {
            "resourceName": node.name,
            "resourceNamespace": node.namespace,
            "resourceUID": node.uid,
            **self._in_project(),
        }
        return parse_events(self._json("GET", f"/api/v1/applications/{_segment(application)}/events", params))

    def logs(self, application: str, pod: str, namespace: str, tail_lines: int = 20) -> list[str]:
        # GOV.UK's pods have two containers: without `container` Kubernetes refuses, and Argo CD
        # streams that refusal back as if it were the log
        params = {
            "podName": pod,
            "namespace": namespace,
            "container": self.log_container,
            "tailLines": str(tail_lines),
            "follow": "false",
            **self._in_project(),
        }
        response = self._call("GET", f"/api/v1/applications/{_segment(application)}/logs", params)
        try:
            text = response.content.decode("utf-8")
        except UnicodeDecodeError:
            raise ArgoUnavailable("logs are not text") from None
        lines = parse_log_lines(text)
        if lines == [f"container {self.log_container} is not valid for pod {pod}"]:
            # a pod without that container (GOV.UK's worker and Job pods name theirs otherwise): Argo CD
            # streams Kubernetes' refusal as if it were the log; it is not the pod's log
            raise ArgoUnavailable(f"no container {self.log_container}")
        return lines[-tail_lines:] if tail_lines else []


class ArgoWorkflows(_Api):
    """Argo Workflows' REST API for one environment's post-sync workflows."""

    def __init__(
        self,
        base_url: str,
        namespace: str,
        token: str | Revealable,
        *,
        timeout: float = TIMEOUT_SECONDS,
        template: str = "post-sync",
    ):
        super().__init__(base_url, token, timeout=timeout)
        self.namespace = namespace
        self.template = template

    def post_sync_workflows(self) -> list[Workflow]:
        """Every run of the tests' WorkflowTemplate, in one request; `deploy-image` and the rest never."""
        params = {"listOptions.labelSelector": f"{TEMPLATE_LABEL}={self.template}"}
        return parse_workflows(self._json("GET", f"/api/v1/workflows/{_segment(self.namespace)}", params))

    def resubmit(self, name: str) -> Workflow:
        """Start a new run of workflow `name`; returns the new workflow."""
        path = f"/api/v1/workflows/{_segment(self.namespace)}/{_segment(name)}/resubmit"
        return parse_workflow(self._json("PUT", path, body={"memoized": False}))


def _segment(name: str) -> str:
    """A name as one path segment: anything that could step outside it is refused, not sent."""
    if not name or "/" in name or name in (".", "..") or any(not ch.isprintable() or ch in "?#%" for ch in name):
        raise ArgoUnavailable("invalid name")
    return name
