"""What the bot reads from Argo CD and Argo Workflows answers, parsed with no I/O.

Every parser takes decoded JSON of any shape and either returns plain dataclasses or raises
`ArgoUnavailable` with a few words for the log line and the metric ("lacks items", "malformed
application"). A field the bot does not need may be missing; one it needs may not.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any


class ArgoUnavailable(Exception):
    """Argo CD or Argo Workflows could not give a usable answer; `reason` is a few plain words."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class AppState:
    """One Argo CD Application as the bot sees it; None where Argo CD says nothing."""

    name: str
    repo_name: str  # the `repoName` annotation, defaulting to the name
    image_tag: str | None
    phase: str | None  # status.operationState.phase
    message: str
    revision: str
    health: str | None  # status.health.status
    health_message: str
    slack_channel: str | None
    sync_status: str | None = None  # status.sync.status: Synced once the live state is the spec
    images: tuple[str, ...] = ()  # status.summary.images
    started_at: str = ""  # status.operationState.startedAt (RFC 3339, UTC)
    post_sync: bool = True  # the `postSyncWorkflowEnabled` annotation: "false" runs no tests

    @property
    def is_draft(self) -> bool:
        return self.name.startswith("draft-")


@dataclass(frozen=True)
class ResourceRef:
    """One owner of a resource-tree node (Argo CD's `parentRefs`): a Pod's ReplicaSet, a ReplicaSet's Deployment."""

    kind: str
    name: str
    namespace: str
    uid: str


@dataclass(frozen=True)
class ResourceNode:
    kind: str
    name: str
    namespace: str
    uid: str
    health: str | None
    health_message: str
    parents: tuple[ResourceRef, ...] = ()

    def is_child_of(self, owner: ResourceNode) -> bool:
        """Whether `owner` is one of this node's parents: by uid, or by kind, namespace and name
        where a parentRef leaves the uid out (every field of a ResourceRef is omitempty)."""
        for parent in self.parents:
            if parent.uid and owner.uid:
                if parent.uid == owner.uid:
                    return True
            elif (parent.kind, parent.namespace or self.namespace, parent.name) == (
                owner.kind,
                owner.namespace,
                owner.name,
            ):
                return True
        return False


@dataclass(frozen=True)
class KubeEvent:
    type: str
    reason: str
    message: str
    last_timestamp: str


@dataclass(frozen=True)
class Workflow:
    name: str
    namespace: str
    repo_name: str | None
    application: str | None
    image_tag: str | None
    created: str  # metadata.creationTimestamp (RFC 3339, UTC: sorts as text)
    phase: str | None
    failures: list[str] = field(default_factory=list)


def _object(value: Any, what: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ArgoUnavailable(f"malformed {what}")
    return value


def _string(value: Any, what: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ArgoUnavailable(f"malformed {what}")
    return value


def _items(data: Any, key: str = "items") -> list[Any]:
    """The list under `key`; `null` is an empty list (both servers send it for none), absence is junk."""
    if not isinstance(data, dict) or key not in data:
        raise ArgoUnavailable(f"lacks {key}")
    value = data[key]
    if value is None:
        return []
    if not isinstance(value, list):
        raise ArgoUnavailable(f"malformed {key}")
    return value


def parse_applications(data: Any) -> list[AppState]:
    return [parse_application(item) for item in _items(data)]


def parse_application(item: Any) -> AppState:
    item = _object(item, "application")
    metadata = _object(item.get("metadata"), "application")
    name = _string(metadata.get("name"), "application name")
    if not name:
        raise ArgoUnavailable("application lacks a name")
    annotations = _object(metadata.get("annotations"), "annotations")
    if not isinstance(item.get("status"), dict):
        raise ArgoUnavailable("application lacks status")  # the controller always writes one; junk otherwise
    status = item["status"]
    operation = _object(status.get("operationState"), "operationState")
    # a full Application has `syncResult`; the list's allowlist answers it as `operation.sync`
    sync_result = _object(
        operation.get("syncResult") or _object(operation.get("operation"), "operation").get("sync"), "syncResult"
    )
    health = _object(status.get("health"), "health")
    sync = _object(status.get("sync"), "sync")
    summary = _object(status.get("summary"), "summary")
    images = summary.get("images") or []
    if not isinstance(images, list) or not all(isinstance(image, str) for image in images):
        raise ArgoUnavailable("malformed images")

    def annotation(key: str) -> str | None:
        value = annotations.get(key)
        return value.strip() or None if isinstance(value, str) else None  # annotations are strings; others ignored

    return AppState(
        name=name,
        repo_name=annotation("repoName") or name,
        image_tag=annotation("imageTag"),
        phase=_string(operation.get("phase"), "operation phase") or None,
        message=_string(operation.get("message"), "operation message") or "",
        revision=_string(sync_result.get("revision"), "sync revision") or "",
        health=_string(health.get("status"), "health status") or None,
        health_message=_string(health.get("message"), "health message") or "",
        slack_channel=annotation("slackChannel"),
        sync_status=_string(sync.get("status"), "sync status") or None,
        images=tuple(images),
        started_at=_string(operation.get("startedAt"), "operation start") or "",
        post_sync=(annotation("postSyncWorkflowEnabled") or "true").lower() != "false",
    )


def parse_tree(data: Any) -> list[ResourceNode]:
    if not isinstance(data, dict):
        raise ArgoUnavailable("malformed resource tree")
    nodes = []
    # Argo CD leaves `nodes` out of a tree that has none: that is an empty tree, not an error
    for raw in _items(data, "nodes") if "nodes" in data else []:
        raw = _object(raw, "resource node")
        health = _object(raw.get("health"), "resource health")
        nodes.append(
            ResourceNode(
                kind=_string(raw.get("kind"), "resource kind") or "",
                name=_string(raw.get("name"), "resource name") or "",
                namespace=_string(raw.get("namespace"), "resource namespace") or "",
                uid=_string(raw.get("uid"), "resource uid") or "",
                health=_string(health.get("status"), "resource health") or None,
                health_message=_string(health.get("message"), "resource health message") or "",
                parents=tuple(_parent(parent) for parent in (_items(raw, "parentRefs") if "parentRefs" in raw else [])),
            )
        )
    return nodes


def _parent(raw: Any) -> ResourceRef:
    raw = _object(raw, "resource parent")
    return ResourceRef(
        kind=_string(raw.get("kind"), "parent kind") or "",
        name=_string(raw.get("name"), "parent name") or "",
        namespace=_string(raw.get("namespace"), "parent namespace") or "",
        uid=_string(raw.get("uid"), "parent uid") or "",
    )


def parse_events(data: Any) -> list[KubeEvent]:
    events = []
    for raw in _items(data):
        raw = _object(raw, "event")
        metadata = _object(raw.get("metadata"), "event metadata")
        stamp = (
            raw.get("lastTimestamp")
            or raw.get("eventTime")
            or raw.get("firstTimestamp")
            or metadata.get("creationTimestamp")
        )
        events.append(
            KubeEvent(
                type=_string(raw.get("type"), "event type") or "",
                reason=_string(raw.get("reason"), "event reason") or "",
                message=_string(raw.get("message"), "event message") or "",
                last_timestamp=stamp if isinstance(stamp, str) else "",
            )
        )
    return events


def parse_log_lines(text: str) -> list[str]:
    """Argo CD's log stream: one `{"result": {"content", ..., "last"}}` per line; the closing entry is empty."""
    lines = []
    for raw in text.splitlines():
        if not raw.strip():
            continue
        try:
            entry = json.loads(raw)
        except ValueError:
            raise ArgoUnavailable("logs are not JSON lines") from None
        result = entry.get("result") if isinstance(entry, dict) else None
        if not isinstance(result, dict):
            raise ArgoUnavailable("log line lacks result")
        content = _string(result.get("content"), "log content") or ""
        if result.get("last") is True and not content:
            continue
        lines.append(content)
    return lines


def parse_workflows(data: Any) -> list[Workflow]:
    return [parse_workflow(item) for item in _items(data)]


def parse_workflow(item: Any) -> Workflow:
    item = _object(item, "workflow")
    metadata = _object(item.get("metadata"), "workflow")
    name = _string(metadata.get("name"), "workflow name")
    if not name:
        raise ArgoUnavailable("workflow lacks a name")
    labels = _object(metadata.get("labels"), "workflow labels")
    status = _object(item.get("status"), "workflow status")
    nodes = _object(status.get("nodes"), "workflow nodes")
    failures: list[str] = []
    for raw in nodes.values():
        raw = _object(raw, "workflow node")
        message = _string(raw.get("message"), "node message") or ""
        if raw.get("phase") in ("Failed", "Error") and message.strip() and message not in failures:
            failures.append(message)

    def label(key: str) -> str | None:
        value = labels.get(key)
        return value.strip() or None if isinstance(value, str) else None

    return Workflow(
        name=name,
        namespace=_string(metadata.get("namespace"), "workflow namespace") or "",
        repo_name=label("repoName"),
        application=label("application"),
        image_tag=label("imageTag"),
        created=_string(metadata.get("creationTimestamp"), "creationTimestamp") or "",
        phase=_string(status.get("phase"), "workflow phase") or None,
        failures=failures,
    )
