"""The fake Argo CD and Argo Workflows servers answer a plain HTTP client the way the real ones do."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from tests.fakes import FakeArgoCD, FakeArgoWorkflows
from tests.fakes.argocd import event, node


@pytest.fixture
def argocd() -> Iterator[FakeArgoCD]:
    with FakeArgoCD() as fake:
        yield fake


@pytest.fixture
def workflows() -> Iterator[FakeArgoWorkflows]:
    with FakeArgoWorkflows() as fake:
        yield fake


def get(fake: FakeArgoCD | FakeArgoWorkflows, path: str, token: str | None = None, **params: str) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token or fake.token}"}
    return httpx.get(fake.url + path, params=params, headers=headers, timeout=5)


def test_argocd_lists_applications_with_the_fields_the_bot_reads(argocd: FakeArgoCD) -> None:
    argocd.set_app("whitehall-admin", repo_name="whitehall", image_tag="v3232", slack_channel="whitehall-notifications")
    argocd.set_app("router", image_tag="v12", phase="Failed", message="one or more objects failed", health="Degraded")

    answer = get(argocd, "/api/v1/applications", fields="items.metadata.name,items.status.health")
    assert answer.status_code == 200
    items = {item["metadata"]["name"]: item for item in answer.json()["items"]}
    assert items["whitehall-admin"]["metadata"]["annotations"]["repoName"] == "whitehall"
    assert items["whitehall-admin"]["metadata"]["annotations"]["slackChannel"] == "whitehall-notifications"
    assert items["router"]["status"]["operationState"]["phase"] == "Failed"
    assert items["router"]["status"]["health"]["status"] == "Degraded"
    assert "repoName" not in items["router"]["metadata"]["annotations"]
    assert argocd.list_requests()[0].query["fields"].startswith("items.metadata.name")


def test_argocd_refuses_a_missing_or_wrong_token_and_records_it(argocd: FakeArgoCD) -> None:
    assert get(argocd, "/api/v1/applications", token="wrong").status_code == 401
    assert httpx.get(argocd.url + "/api/v1/applications", timeout=5).status_code == 401
    assert [r.status for r in argocd.list_requests()] == [401, 401]


def test_argocd_serves_tree_events_and_logs_for_one_application(argocd: FakeArgoCD) -> None:
    argocd.set_app("whitehall-admin", image_tag="v1")
    pod = node("Pod", "whitehall-admin-7f9c-x2", health="Degraded", message="back-off restarting")
    argocd.set_tree("whitehall-admin", [node("Service", "whitehall-admin", health="Healthy"), pod])
    argocd.set_events(
        "whitehall-admin", pod["name"], [event("Pod", pod["name"], reason="BackOff", message="Back-off restarting")]
    )
    argocd.set_logs("whitehall-admin", pod["name"], [f"line {i}" for i in range(30)])

    tree = get(argocd, "/api/v1/applications/whitehall-admin/resource-tree").json()
    assert [n["kind"] for n in tree["nodes"]] == ["Service", "Pod"]
    events = get(
        argocd,
        "/api/v1/applications/whitehall-admin/events",
        resourceName=pod["name"],
        resourceNamespace="apps",
        resourceUID=pod["uid"],
    ).json()
    assert [(e["type"], e["reason"]) for e in events["items"]] == [("Warning", "BackOff")]
    logs = get(argocd, "/api/v1/applications/whitehall-admin/logs", podName=pod["name"], tailLines="20", follow="false")
    entries = [json.loads(line)["result"] for line in logs.text.splitlines()]
    assert [e["content"] for e in entries if not e["last"]] == [f"line {i}" for i in range(10, 30)]
    assert entries[-1]["last"] is True
    assert get(argocd, "/api/v1/applications/nope/resource-tree").status_code == 404


@pytest.mark.parametrize("status", [401, 403, 500, 503])
def test_argocd_answers_the_fault_it_is_told(argocd: FakeArgoCD, status: int) -> None:
    argocd.fail_status = status
    answer = get(argocd, "/api/v1/applications")
    assert answer.status_code == status and "message" in answer.json()


def test_argocd_junk_and_path_limited_faults(argocd: FakeArgoCD) -> None:
    argocd.set_app("router", image_tag="v1")
    argocd.junk = "not_json"
    with pytest.raises(json.JSONDecodeError):
        get(argocd, "/api/v1/applications").json()
    argocd.junk = "missing_fields"
    assert "items" not in get(argocd, "/api/v1/applications").json()
    argocd.heal()
    argocd.fail_status, argocd.fault_path = 500, "/resource-tree"
    assert get(argocd, "/api/v1/applications").status_code == 200
    assert get(argocd, "/api/v1/applications/router/resource-tree").status_code == 500


def test_argocd_slow_answers_time_a_client_out(argocd: FakeArgoCD) -> None:
    argocd.slow_seconds = 2
    with pytest.raises(httpx.TimeoutException):
        httpx.get(argocd.url + "/api/v1/applications", headers={"Authorization": "Bearer x"}, timeout=0.2)


def test_workflows_list_by_label_and_null_items_when_empty(workflows: FakeArgoWorkflows) -> None:
    assert get(workflows, "/api/v1/workflows/apps", **{"listOptions.labelSelector": "repoName"}).json()["items"] is None
    workflows.add_workflow(
        "post-sync-a1", repo_name="whitehall", application="whitehall-admin", image_tag="v3232", phase="Failed",
        failures=[("e2e-tests", "2 tests failed")],
    )  # fmt: skip
    workflows.put_raw_workflow("apps", "unlabelled", {"metadata": {"name": "unlabelled", "labels": {}}})
    items = get(workflows, "/api/v1/workflows/apps", **{"listOptions.labelSelector": "repoName"}).json()["items"]
    assert [i["metadata"]["name"] for i in items] == ["post-sync-a1"]
    assert items[0]["metadata"]["labels"]["application"] == "whitehall-admin"
    messages = [n.get("message") for n in items[0]["status"]["nodes"].values() if n["phase"] == "Failed"]
    assert "2 tests failed" in messages
    assert get(workflows, "/api/v1/workflows/other").json()["items"] is None
    assert get(workflows, "/api/v1/workflows/apps", token="nope").status_code == 401


def test_workflows_resubmit_creates_a_new_running_workflow(workflows: FakeArgoWorkflows) -> None:
    workflows.add_workflow("post-sync-a1", repo_name="whitehall", image_tag="v3232", phase="Failed")
    answer = httpx.put(
        workflows.url + "/api/v1/workflows/apps/post-sync-a1/resubmit",
        json={"memoized": False},
        headers={"Authorization": f"Bearer {workflows.token}"},
        timeout=5,
    )
    assert answer.status_code == 200
    new = answer.json()
    assert new["status"]["phase"] == "Running" and new["metadata"]["name"] != "post-sync-a1"
    assert new["metadata"]["labels"]["imageTag"] == "v3232"
    assert new["metadata"]["creationTimestamp"] > "2026-11-29T10:05:00Z"
    assert workflows.resubmitted == [("post-sync-a1", new["metadata"]["name"])]
    assert len(workflows.resubmit_requests()) == 1
    workflows.finish(new["metadata"]["name"], "Succeeded")
    assert workflows.workflow(new["metadata"]["name"])["status"]["phase"] == "Succeeded"
