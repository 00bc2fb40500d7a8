"""The failure diagnosis: what Argo CD shows of a broken app, safe to post and within Slack's limits."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.argo import ArgoCD, ArgoUnavailable
from bot.argo.diagnosis import BACKTICK_STAND_IN, MAX_DIAGNOSIS, diagnose, redact
from bot.argo.models import KubeEvent, ResourceNode, parse_events, parse_log_lines, parse_tree
from tests.fakes import FakeArgoCD
from tests.fakes.argocd import event, node

FIXTURES = Path(__file__).parent / "fixtures" / "argo"
SECTION_LIMIT = 3000


class Recorded:
    """A diagnosis source answering from the recorded fixtures (or failing where told)."""

    def __init__(self, *, fail: str = "", logs: list[str] | None = None, tree: list[ResourceNode] | None = None):
        self.fail = fail
        self.calls: list[str] = []
        self._logs = logs
        self._tree = tree

    def _maybe_fail(self, what: str) -> None:
        self.calls.append(what)
        if self.fail == what:
            raise ArgoUnavailable("answered 503")

    def resource_tree(self, application: str) -> list[ResourceNode]:
        self._maybe_fail("tree")
        if self._tree is not None:
            return self._tree
        return parse_tree(json.loads((FIXTURES / "resource-tree.json").read_text()))

    def events(self, application: str, node: ResourceNode) -> list[KubeEvent]:
        self._maybe_fail("events")
        return parse_events(json.loads((FIXTURES / "events.json").read_text()))

    def logs(self, application: str, pod: str, namespace: str, tail_lines: int = 20) -> list[str]:
        self._maybe_fail("logs")
        if self._logs is not None:
            return self._logs[-tail_lines:]
        return parse_log_lines((FIXTURES / "logs.jsonl").read_text())


def code_block(text: str) -> str:
    assert text.count("```") == 2, text
    return text.split("```")[1]


# -- what it says -----------------------------------------------------------------------------


def test_unhealthy_resources_first_events_and_pod_logs_are_shown() -> None:
    source = Recorded()
    text = diagnose(source, "content-store")
    assert "Degraded Deployment `content-store`" in text
    assert "Degraded Pod `content-store-6d8f9b7c5-x2x7q`" in text
    assert "Missing ExternalSecret `content-store-db`" in text
    assert "ConfigMap" not in text and "Service" not in text  # healthy or without health
    assert "ProgressDeadlineExceeded: Deployment content-store has timed out progressing" in text
    assert "ScalingReplicaSet" not in text  # a Normal event
    assert text.index("FailedCreate") < text.index("ProgressDeadlineExceeded")  # oldest first
    assert "Booting Puma" in code_block(text)
    assert source.calls == ["tree", "events", "logs"]


def test_at_most_five_resources_and_five_warning_events() -> None:
    tree = [ResourceNode("Pod", f"p{i}", "apps", f"u{i}", "Degraded", "x") for i in range(9)]

    class ManyEvents(Recorded):
        def events(self, application: str, node: ResourceNode) -> list[KubeEvent]:
            return [KubeEvent("Warning", f"R{i}", "m", f"2026-11-29T10:00:{i:02d}Z") for i in range(9)]

    text = diagnose(ManyEvents(tree=tree, logs=[]), "app")
    assert [f"`p{i}`" in text for i in range(9)] == [True] * 5 + [False] * 4
    assert [f"R{i}:" in text for i in range(9)] == [False] * 4 + [True] * 5  # the last five


def test_credentials_in_cluster_text_are_redacted() -> None:
    text = diagnose(Recorded(), "content-store")
    assert "hunter2" not in text and "s3cr3tPassw0rd" not in text
    assert "[redacted]" in text


@pytest.mark.parametrize(
    ("line", "secret"),
    [
        ("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.payload.sig", "eyJhbGciOiJIUzI1NiJ9"),
        ("authorization=Basic dXNlcjpwYXNz", "dXNlcjpwYXNz"),
        ("connecting with password=hunter2 now", "hunter2"),
        ('{"db_password": "correct horse"}', "correct horse"),
        ("GET /hook?token=abc123def&x=1", "abc123def"),
        ("SLACK_BOT_TOKEN xoxb-123-456-abcdef posted", "xoxb-123-456-abcdef"),
        ("cloning with ghp_abcdefghijklmnopqrstuvwxyz0123456789", "ghp_abcdefghijklmnopqrstuvwxyz0123456789"),
        ("aws key AKIAIOSFODNN7EXAMPLE in env", "AKIAIOSFODNN7EXAMPLE"),
        ("redis://default:s3cret@redis:6379/0", "s3cret"),
        ("user xoxp-99-aa", "xoxp-99-aa"),
    ],
)
def test_each_kind_of_credential_is_redacted(line: str, secret: str) -> None:
    assert secret not in redact(line)
    assert "[redacted]" in redact(line)
    assert secret not in diagnose(Recorded(logs=[line]), "content-store")


def test_ordinary_text_is_left_alone() -> None:
    line = "Deployment content-store exceeded its progress deadline (tokenizer ok)"
    assert redact(line) == line


def test_cluster_text_is_escaped_and_cannot_break_the_code_block() -> None:
    text = diagnose(Recorded(), "content-store")
    logs = code_block(text)
    assert "&lt;!channel&gt; &amp;" in logs and "<!channel>" not in text
    assert BACKTICK_STAND_IN * 3 + "done" in logs


def test_hostile_names_and_messages_ping_nobody() -> None:
    tree = [ResourceNode("Pod", "p`<!here>", "apps", "u", "Degraded", "<@U123> & ```x```\nsecond line")]
    text = diagnose(Recorded(tree=tree, logs=["```", "`", "``"]), "app")
    assert "<!here>" not in text and "<@U123>" not in text
    code_block(text)  # exactly one block, still closed


def test_the_whole_diagnosis_fits_slack_limits_and_keeps_the_newest_log_lines() -> None:
    huge = "x" * 5000
    tree = [ResourceNode("Pod", "p" * 300, "apps", f"u{i}", "Degraded", "&" * 3000) for i in range(5)]

    class Loud(Recorded):
        def events(self, application: str, node: ResourceNode) -> list[KubeEvent]:
            return [KubeEvent("Warning", "<" * 500, ">" * 5000, "t") for _ in range(5)]

    logs = [f"line {i} {huge}" for i in range(20)]
    text = diagnose(Loud(tree=tree, logs=logs), "app")
    assert len(text) <= MAX_DIAGNOSIS < SECTION_LIMIT
    normal = diagnose(Recorded(logs=[f"line {i} " + "y" * 200 for i in range(20)]), "content-store")
    assert len(normal) <= MAX_DIAGNOSIS
    kept = code_block(normal).strip().splitlines()
    assert kept[-1].startswith("line 19") and len(kept) < 20
    assert f"Last {len(kept)} log lines" in normal


def test_argo_cd_unable_to_answer_gives_a_short_reason() -> None:
    assert diagnose(Recorded(fail="tree"), "app") == "_diagnosis unavailable: answered 503_"
    partial = diagnose(Recorded(fail="events"), "content-store")
    assert "unavailable: answered 503" in partial and "Booting Puma" in partial
    no_logs = diagnose(Recorded(fail="logs"), "content-store")
    assert "Logs of Pod `content-store-6d8f9b7c5-x2x7q` unavailable: answered 503" in no_logs


def test_nothing_unhealthy_is_said_plainly() -> None:
    text = diagnose(Recorded(tree=[ResourceNode("Service", "s", "apps", "u", "Healthy", "")]), "app")
    assert "no resource is Degraded or Missing" in text


# -- on the wire ------------------------------------------------------------------------------


def crash_looping(argocd: FakeArgoCD) -> dict:
    argocd.set_app("router", image_tag="v12", phase="Failed", health="Degraded")
    pod = node("Pod", "router-5c7d-q8z", health="Degraded", message="back-off 5m0s restarting failed container")
    argocd.set_tree("router", [node("Deployment", "router", health="Degraded", message="progress deadline"), pod])
    argocd.set_events("router", "router", [event("Deployment", "router", reason="ProgressDeadlineExceeded", message="timed out")])  # fmt: skip
    argocd.set_logs("router", pod["name"], [f"boot {i} token=sekrit{i}" for i in range(25)])
    return pod


def test_a_crash_looping_pod_is_diagnosed_over_the_wire(argocd: FakeArgoCD) -> None:
    pod = crash_looping(argocd)
    text = diagnose(ArgoCD(argocd.url, argocd.token), "router")
    assert "ProgressDeadlineExceeded: timed out" in text
    lines = code_block(text).strip().splitlines()
    assert lines[0].startswith("boot 5 ") and lines[-1].startswith("boot 24 ") and len(lines) == 20
    assert "sekrit" not in text
    paths = [r.path for r in argocd.requests]
    assert paths == [
        "/api/v1/applications/router/resource-tree",
        "/api/v1/applications/router/events",
        "/api/v1/applications/router/logs",
    ]
    assert argocd.requests[2].query["podName"] == pod["name"]


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        ({"fail_status": 500}, "answered 500"),
        ({"fail_status": 403}, "answered 403"),
        ({"junk": "not_json"}, "not JSON"),
    ],
)
def test_argo_cd_failing_over_the_wire_says_diagnosis_unavailable(argocd: FakeArgoCD, fault: dict, reason: str) -> None:
    crash_looping(argocd)
    for name, value in fault.items():
        setattr(argocd, name, value)
    assert diagnose(ArgoCD(argocd.url, argocd.token), "router") == f"_diagnosis unavailable: {reason}_"


def test_a_slow_argo_cd_times_out(argocd: FakeArgoCD) -> None:
    crash_looping(argocd)
    argocd.slow_seconds = 5
    assert diagnose(ArgoCD(argocd.url, argocd.token, timeout=0.3), "router") == "_diagnosis unavailable: timed out_"


def test_logs_refused_by_argo_cd_keep_the_rest(argocd: FakeArgoCD) -> None:
    crash_looping(argocd)
    argocd.fail_status, argocd.fault_path = 400, "/logs"
    text = diagnose(ArgoCD(argocd.url, argocd.token), "router")
    assert "ProgressDeadlineExceeded" in text and "unavailable: answered 400" in text and "```" not in text


def test_a_worker_pod_without_the_app_container_says_so_instead_of_posting_kubernetes_refusal(
    argocd: FakeArgoCD,
) -> None:
    """A degraded worker pod names its container after the worker type: asked for `app`, Argo CD
    streams Kubernetes' refusal as if it were the log. That is not the pod's log: it is said plainly."""
    argocd.set_app("whitehall-admin", image_tag="v12", phase="Failed", health="Degraded")
    pod = node("Pod", "whitehall-admin-worker-5c7d-q8z", health="Degraded", message="back-off restarting failed container")  # fmt: skip
    argocd.set_tree("whitehall-admin", [pod])
    argocd.set_pod_containers("whitehall-admin", pod["name"], ["worker"])
    text = diagnose(ArgoCD(argocd.url, argocd.token), "whitehall-admin")
    assert "```" not in text and "is not valid for pod" not in text
    assert f"Logs of Pod `{pod['name']}` unavailable: no container app" in text


# -- whose logs (SPEC 10.3: the first Pod, or else the first Pod of a degraded Deployment or ReplicaSet)


def logs_asked_for(argocd: FakeArgoCD) -> list[str]:
    return [r.query["podName"] for r in argocd.requests if r.path.endswith("/logs")]


def test_a_degraded_deployment_without_an_unhealthy_pod_shows_the_logs_of_its_pod(argocd: FakeArgoCD) -> None:
    """A pod that runs but never turns ready is Progressing, not Degraded: its Deployment is the
    unhealthy node, and its logs are found through the ReplicaSet the Deployment owns."""
    argocd.set_app("router", image_tag="v12", phase="Failed", health="Degraded")
    deployment = node("Deployment", "router", health="Degraded", message="progress deadline")
    old_set = node("ReplicaSet", "router-4b2a", health="Healthy", parents=[deployment])
    new_set = node("ReplicaSet", "router-5c7d", health="Progressing", parents=[deployment])
    other_deployment = node("Deployment", "router-api", health="Healthy")
    other_set = node("ReplicaSet", "router-api-9e8f", health="Healthy", parents=[other_deployment])
    other_pod = node("Pod", "router-api-9e8f-aaaaa", health="Healthy", parents=[other_set])
    pod = node("Pod", "router-5c7d-q8z", health="Progressing", message="readiness probe failed", parents=[new_set])
    argocd.set_tree("router", [other_deployment, other_set, other_pod, deployment, old_set, new_set, pod])
    argocd.set_logs("router", other_pod["name"], ["the wrong pod"])
    argocd.set_logs("router", pod["name"], ["listening on 3000", "GET /healthcheck/ready 503"])
    text = diagnose(ArgoCD(argocd.url, argocd.token), "router")
    assert logs_asked_for(argocd) == [pod["name"]]
    assert f"log lines of Pod `{pod['name']}`" in text
    assert "GET /healthcheck/ready 503" in code_block(text) and "the wrong pod" not in text


def test_a_degraded_replica_set_shows_the_logs_of_its_own_pod(argocd: FakeArgoCD) -> None:
    argocd.set_app("router", image_tag="v12", phase="Failed", health="Degraded")
    other_set = node("ReplicaSet", "router-4b2a", health="Healthy")
    replica_set = node("ReplicaSet", "router-5c7d", health="Degraded", message="quota exceeded")
    other_pod = node("Pod", "router-4b2a-aaaaa", health="Healthy", parents=[other_set])
    pod = node("Pod", "router-5c7d-q8z", health="Progressing", parents=[replica_set])
    argocd.set_tree("router", [other_set, replica_set, other_pod, pod])
    argocd.set_logs("router", pod["name"], ["waiting for the database"])
    text = diagnose(ArgoCD(argocd.url, argocd.token), "router")
    assert logs_asked_for(argocd) == [pod["name"]]
    assert "waiting for the database" in code_block(text)


def test_an_unhealthy_pod_is_still_preferred_over_a_degraded_deployments_pods(argocd: FakeArgoCD) -> None:
    argocd.set_app("router", image_tag="v12", phase="Failed", health="Degraded")
    deployment = node("Deployment", "router", health="Degraded", message="progress deadline")
    replica_set = node("ReplicaSet", "router-5c7d", health="Progressing", parents=[deployment])
    running = node("Pod", "router-5c7d-aaaaa", health="Healthy", parents=[replica_set])
    crashing = node("Pod", "router-5c7d-q8z", health="Degraded", message="back-off", parents=[replica_set])
    argocd.set_tree("router", [deployment, replica_set, running, crashing])
    diagnose(ArgoCD(argocd.url, argocd.token), "router")
    assert logs_asked_for(argocd) == [crashing["name"]]


def test_a_degraded_deployment_with_no_pod_of_its_own_reads_no_logs(argocd: FakeArgoCD) -> None:
    argocd.set_app("router", image_tag="v12", phase="Failed", health="Degraded")
    deployment = node("Deployment", "router", health="Degraded", message="progress deadline")
    other_set = node("ReplicaSet", "router-api-9e8f", health="Healthy", parents=[node("Deployment", "router-api", health="Healthy")])  # fmt: skip
    other_pod = node("Pod", "router-api-9e8f-aaaaa", health="Healthy", parents=[other_set])
    argocd.set_tree("router", [deployment, other_set, other_pod])
    text = diagnose(ArgoCD(argocd.url, argocd.token), "router")
    assert logs_asked_for(argocd) == [] and "```" not in text


def test_parent_refs_are_read_from_the_resource_tree() -> None:
    tree = parse_tree(json.loads((FIXTURES / "resource-tree.json").read_text()))
    pod = next(n for n in tree if n.kind == "Pod")
    assert [(p.kind, p.name, p.uid) for p in pod.parents] == [("ReplicaSet", "content-store-6d8f9b7c5", "u-rs")]
