"""Why a sync failed or turned Degraded, read from Argo CD and written as Slack mrkdwn.

Three reads for one failure: the resource tree (up to 5 Degraded or Missing resources), the
Warning events of the first of them, and the last 20 log lines of the first that is a Pod, or
else of the first Pod of a degraded Deployment or ReplicaSet (found through the tree's
`parentRefs`: a Pod that runs but never turns ready is Progressing, and only its owners are Degraded).
Everything from the cluster is untrusted text and goes through `bot.chat.mrkdwn.outside`
(redacted, cut short, escaped), and backticks are swapped so no log line can close the code
block. The whole text stays within `MAX_DIAGNOSIS` characters, so it fits one section block
(3,000) and a message with room to spare. `diagnose` never raises.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from bot.argo.models import ArgoUnavailable, KubeEvent, ResourceNode
from bot.chat.mrkdwn import clip, outside
from bot.chat.redaction import REDACTED, redact  # noqa: F401 - redact is part of what this module offers

MAX_DIAGNOSIS = 2900
MAX_NODES = 5
MAX_EVENTS = 5
LOG_LINES = 20
UNHEALTHY = ("Degraded", "Missing")
NODE_TEXT = 220  # per resource line, escaped
EVENT_TEXT = 220
LOG_TEXT = 240
BACKTICK_STAND_IN = "\u02cb"  # ˋ looks like a backtick but never opens or closes code


class DiagnosisSource(Protocol):
    def resource_tree(self, application: str) -> list[ResourceNode]: ...
    def events(self, application: str, node: ResourceNode) -> list[KubeEvent]: ...
    def logs(self, application: str, pod: str, namespace: str, tail_lines: int = LOG_LINES) -> list[str]: ...


@dataclass
class Findings:
    unhealthy: list[ResourceNode]
    events: list[KubeEvent] = field(default_factory=list)
    events_error: str | None = None
    log_pod: ResourceNode | None = None
    log_lines: list[str] = field(default_factory=list)
    logs_error: str | None = None


def _safe(text: str, limit: int, *, one_line: bool = True) -> str:
    """Cluster text made harmless (`outside`), with backticks swapped so it cannot close a code block."""
    return outside(text, limit, one_line=one_line).replace("`", BACKTICK_STAND_IN)


def gather(source: DiagnosisSource, application: str) -> Findings:
    """The three reads; only the resource tree is essential (ArgoUnavailable if it fails)."""
    nodes = source.resource_tree(application)
    findings = Findings(unhealthy=[n for n in nodes if n.health in UNHEALTHY][:MAX_NODES])
    if not findings.unhealthy:
        return findings
    first = findings.unhealthy[0]
    try:
        warnings = [e for e in source.events(application, first) if e.type == "Warning"]
        findings.events = sorted(warnings, key=lambda e: e.last_timestamp)[-MAX_EVENTS:]
    except ArgoUnavailable as error:
        findings.events_error = error.reason
    findings.log_pod = next((n for n in findings.unhealthy if n.kind == "Pod"), None) or _owned_pod(
        nodes, findings.unhealthy
    )
    if findings.log_pod is not None:
        try:
            pod = findings.log_pod
            findings.log_lines = source.logs(application, pod.name, pod.namespace, LOG_LINES)[-LOG_LINES:]
        except ArgoUnavailable as error:
            findings.logs_error = error.reason
    return findings


def _owned_pod(nodes: list[ResourceNode], unhealthy: list[ResourceNode]) -> ResourceNode | None:
    """The first Pod of the first unhealthy Deployment or ReplicaSet that has one: a ReplicaSet's
    Pods directly, a Deployment's through the ReplicaSets it owns."""
    pods = [n for n in nodes if n.kind == "Pod"]
    for owner in unhealthy:
        if owner.kind == "ReplicaSet":
            sets = [owner]
        elif owner.kind == "Deployment":
            sets = [n for n in nodes if n.kind == "ReplicaSet" and n.is_child_of(owner)]
        else:
            continue
        pod = next((p for p in pods if any(p.is_child_of(s) for s in sets)), None)
        if pod is not None:
            return pod
    return None


def render(findings: Findings, limit: int = MAX_DIAGNOSIS) -> str:
    if not findings.unhealthy:
        return "*Diagnosis:* no resource is Degraded or Missing in Argo CD's resource tree."
    lines = ["*Diagnosis from Argo CD:*"]
    for node in findings.unhealthy:
        said = f": {_safe(node.health_message, NODE_TEXT)}" if node.health_message.strip() else ""
        lines.append(f"• {node.health} {_safe(node.kind, 60)} `{_safe(node.name, 120)}`{said}")
    first = findings.unhealthy[0]
    where = f"{_safe(first.kind, 60)} `{_safe(first.name, 120)}`"
    if findings.events_error:
        lines.append(f"_Events of {where} unavailable: {_safe(findings.events_error, 80)}_")
    elif findings.events:
        lines.append(f"*Warning events of {where}:*")
        lines += [f"• {_safe(e.reason, 80)}: {_safe(e.message, EVENT_TEXT)}" for e in findings.events]
    else:
        lines.append(f"_No warning events for {where}._")
    head = "\n".join(lines)
    pod = findings.log_pod
    if pod is None:
        return clip(head, limit)
    title = f"*Last {LOG_LINES} log lines of Pod `{_safe(pod.name, 120)}`:*"
    if findings.logs_error:
        return clip(
            f"{head}\n_Logs of Pod `{_safe(pod.name, 120)}` unavailable: {_safe(findings.logs_error, 80)}_", limit
        )
    if not findings.log_lines:
        return clip(f"{head}\n_No log lines from Pod `{_safe(pod.name, 120)}`._", limit)
    logs = [_safe(line, LOG_TEXT, one_line=False).replace("\n", " ") or " " for line in findings.log_lines]
    title = f"*Last {len(logs)} log lines of Pod `{_safe(pod.name, 120)}`:*"
    while logs:  # the newest lines say most: drop from the oldest until everything fits
        text = f"{head}\n{title}\n```\n" + "\n".join(logs) + "\n```"
        if len(text) <= limit:
            return text
        logs.pop(0)
        title = f"*Last {len(logs)} log lines of Pod `{_safe(pod.name, 120)}`:*"
    return clip(head, limit)


def unavailable(reason: str) -> str:
    return f"_diagnosis unavailable: {_safe(reason, 80)}_"


def diagnose(source: DiagnosisSource, application: str) -> str:
    """The diagnosis of `application` as mrkdwn, or "diagnosis unavailable: <why>"; never raises."""
    try:
        return render(gather(source, application))
    except ArgoUnavailable as error:
        return unavailable(error.reason)
    except Exception as error:  # a surprise in cluster text must not cost the failure reply
        return unavailable(f"unexpected {type(error).__name__}")
