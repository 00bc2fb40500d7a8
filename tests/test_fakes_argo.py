"""The fake Argo CD and Argo Workflows servers answer a plain HTTP client the way the real ones do."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.fakes import FakeArgoCD, FakeArgoWorkflows, govuk_topology
from tests.fakes.argocd import event, node


def get(fake: FakeArgoCD | FakeArgoWorkflows, path: str, token: str | None = None, **params: str) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token or fake.token}"}
    return httpx.get(fake.url + path, params=params, headers=headers, timeout=5)


def test_argocd_keeps_only_allowlisted_fields_as_the_real_server_does(argocd: FakeArgoCD) -> None:
    argocd.set_app("whitehall-admin", repo_name="whitehall", image_tag="v3232")
    argocd.set_app("router", image_tag="v12", phase="Failed", message="one or more objects failed", health="Degraded")
    fields = ",".join(
        [
            "items.metadata.name",
            "items.metadata.annotations",
            "items.status.health",
            "items.status.operationState.phase",
            "items.status.operationState.message",  # not on Argo CD's list: dropped silently
            "items.status.operationState.syncResult.revision",  # nor this
            "items.status.operationState.operation.sync",  # answers the syncResult
            "items.status.summary",
        ]
    )
    answer = get(argocd, "/api/v1/applications", fields=fields)
    assert answer.status_code == 200
    items = {item["metadata"]["name"]: item for item in answer.json()["items"]}
    router = items["router"]
    assert set(router) == {"metadata", "status"} and set(router["metadata"]) == {"name", "annotations"}
    operation = router["status"]["operationState"]
    assert operation["phase"] == "Failed" and "message" not in operation and "syncResult" not in operation
    assert operation["operation"]["sync"]["revision"] and operation["operation"]["sync"]["resources"][0]["kind"]
    assert router["status"]["health"] == {"status": "Degraded"}
    assert items["whitehall-admin"]["metadata"]["annotations"]["repoName"] == "whitehall"
    assert items["whitehall-admin"]["status"]["summary"]["images"][0].endswith("/govuk/whitehall:v3232")
    assert "spec" not in router and "sync" not in router["status"]
    # without fields=, the whole Application; GET one answers the message
    assert get(argocd, "/api/v1/applications").json()["items"][0]["spec"]["project"] == "govuk"
    one = get(argocd, "/api/v1/applications/router").json()
    assert one["status"]["operationState"]["message"] == "one or more objects failed"


def test_argocd_lists_only_the_projects_asked_for(argocd: FakeArgoCD) -> None:
    argocd.set_app("whitehall-admin", repo_name="whitehall", image_tag="v3232")
    argocd.set_app("ckan", image_tag="v1", project="datagovuk")
    names = [i["metadata"]["name"] for i in get(argocd, "/api/v1/applications", projects="govuk").json()["items"]]
    assert names == ["whitehall-admin"]
    assert len(get(argocd, "/api/v1/applications").json()["items"]) == 2


def test_argocd_answers_one_application_as_the_real_server_does_with_and_without_a_project(argocd: FakeArgoCD) -> None:
    """argo-cd server/application/application.go `getAppEnforceRBAC`: without a project an unknown
    Application is 403 (its existence is not told) and one of another project is answered (the token
    may read it); with `project=` (`projects=` for Get) both are 404 `... not found`. The tree,
    events and logs answer the same way."""
    argocd.set_app("router", image_tag="v1")
    argocd.set_app("ckan", image_tag="v1", project="datagovuk")
    for suffix in ("", "/resource-tree", "/events", "/logs"):
        assert get(argocd, f"/api/v1/applications/missing{suffix}").status_code == 403
        assert get(argocd, f"/api/v1/applications/ckan{suffix}").status_code == 200
        assert get(argocd, f"/api/v1/applications/router{suffix}", project="govuk").status_code == 200
        for name in ("missing", "ckan"):
            answer = get(argocd, f"/api/v1/applications/{name}{suffix}", project="govuk")
            assert answer.status_code == 404, (name, suffix)
            assert answer.json()["code"] == 5
            assert answer.json()["message"] == f'applications.argoproj.io "{name}" not found'
    assert get(argocd, "/api/v1/applications/ckan", projects="govuk").status_code == 404
    assert get(argocd, "/api/v1/applications/router", projects="govuk").status_code == 200
    listed = get(argocd, "/api/v1/applications", project="govuk").json()["items"]  # the legacy name lists too
    assert [item["metadata"]["name"] for item in listed] == ["router"]


def test_argocd_app_of_apps_flips_the_annotation_before_the_operation_starts(argocd: FakeArgoCD) -> None:
    argocd.set_app("router", image_tag="v511", started_at="2024-01-01T00:00:00Z")
    argocd.flip_image_tag("router", "v512")
    flipped = get(argocd, "/api/v1/applications/router").json()
    assert flipped["metadata"]["annotations"]["imageTag"] == "v512"
    assert (
        flipped["status"]["operationState"]["phase"] == "Succeeded"
        and flipped["status"]["health"]["status"] == "Healthy"
    )
    assert flipped["status"]["sync"]["status"] == "OutOfSync"
    assert flipped["status"]["summary"]["images"][0].endswith("/router:v511")
    argocd.start_operation("router")
    running = get(argocd, "/api/v1/applications/router").json()
    assert running["status"]["operationState"]["phase"] == "Running"
    assert running["status"]["operationState"]["startedAt"] > "2024-01-01T00:00:00Z"
    argocd.finish_operation("router")
    done = get(argocd, "/api/v1/applications/router").json()
    assert done["status"]["sync"]["status"] == "Synced" and done["status"]["summary"]["images"][0].endswith(":v512")


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
    argocd.set_logs("whitehall-admin", pod["name"], ["nginx access line"], container="nginx")

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
    path = "/api/v1/applications/whitehall-admin/logs"
    logs = get(argocd, path, podName=pod["name"], container="app", tailLines="20", follow="false")
    entries = [json.loads(line)["result"] for line in logs.text.splitlines()]
    assert [e["content"] for e in entries if not e["last"]] == [f"line {i}" for i in range(10, 30)]
    assert entries[-1]["last"] is True
    # two containers and none named: Kubernetes' refusal comes back as if it were the log
    refused = get(argocd, path, podName=pod["name"], tailLines="20", follow="false")
    assert refused.status_code == 200
    (line,) = [json.loads(line)["result"]["content"] for line in refused.text.splitlines()][:-1]
    assert line.startswith("a container name must be specified for pod")
    # an unknown application is 403, and an empty tree has no `nodes` at all
    assert get(argocd, "/api/v1/applications/nope/resource-tree").status_code == 403
    assert get(argocd, "/api/v1/applications/nope").status_code == 403
    argocd.set_tree("whitehall-admin", [])
    assert "nodes" not in get(argocd, "/api/v1/applications/whitehall-admin/resource-tree").json()


def test_argocd_streams_kubernetes_refusal_for_a_container_the_pod_lacks(argocd: FakeArgoCD) -> None:
    """GOV.UK's worker pods run containers named after the worker type and its Job pods `dbmigrate`
    and the like (govuk-helm-charts generic-govuk-app templates); only the web Deployment's pods have
    `app`. Kubernetes refuses a container the pod lacks, and Argo CD's PodLogs sends the refusal as
    the content of a log line (argo-cd server/application/application.go: `logEntry{line: err.Error()}`)."""
    argocd.set_app("whitehall-admin", image_tag="v1")
    pod = node("Pod", "whitehall-admin-worker-7f9c-x2", health="Degraded", message="back-off restarting")
    argocd.set_tree("whitehall-admin", [pod])
    argocd.set_pod_containers("whitehall-admin", pod["name"], ["worker"])
    argocd.set_logs("whitehall-admin", pod["name"], ["worker line"], container="worker")
    path = "/api/v1/applications/whitehall-admin/logs"
    refused = get(argocd, path, podName=pod["name"], container="app", tailLines="20", follow="false")
    assert refused.status_code == 200
    (line,) = [json.loads(line)["result"]["content"] for line in refused.text.splitlines()][:-1]
    assert line == f"container app is not valid for pod {pod['name']}"
    answer = get(argocd, path, podName=pod["name"], container="worker", tailLines="20", follow="false")
    assert [json.loads(line)["result"]["content"] for line in answer.text.splitlines()][:-1] == ["worker line"]


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


def test_workflows_hold_deploy_image_runs_beside_the_tests(workflows: FakeArgoWorkflows) -> None:
    workflows.add_workflow("post-sync-a1", repo_name="whitehall", application="whitehall-admin", image_tag="v3232")
    workflows.add_deploy_image("deploy-image-x1", repo_name="whitehall", image_tag="v3233", environment="staging")
    every = get(workflows, "/api/v1/workflows/apps", **{"listOptions.labelSelector": "repoName"}).json()["items"]
    assert sorted(i["metadata"]["name"] for i in every) == ["deploy-image-x1", "post-sync-a1"]
    selector = "workflows.argoproj.io/workflow-template=post-sync"
    tests = get(workflows, "/api/v1/workflows/apps", **{"listOptions.labelSelector": selector}).json()["items"]
    assert [i["metadata"]["name"] for i in tests] == ["post-sync-a1"]
    # deploy-image is made from its WorkflowTemplate too (govuk-helm-charts deploy-image/event-binding.yaml
    # workflowTemplateRef), so the controller labels it as one (argo-workflows workflow/common/convert.go):
    # only the template's name tells it from the tests
    templated = get(workflows, "/api/v1/workflows/apps", **{"listOptions.labelSelector": "workflows.argoproj.io/workflow-template"}).json()["items"]  # fmt: skip
    assert {i["metadata"]["labels"]["workflows.argoproj.io/workflow-template"] for i in templated} == {"post-sync", "deploy-image"}  # fmt: skip
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


def test_the_fake_argocd_holds_govuks_real_topology(argocd: FakeArgoCD) -> None:
    integration = govuk_topology.topology("integration")
    assert len(integration.applications) == 61 and len(integration.unfollowed) == 7
    assert [a.name for a in integration.following("router")] == ["router", "draft-router"]
    govuk_topology.populate(argocd, "integration", {"licensify-feed": "v77", "whitehall": "v3232"})
    items = get(argocd, "/api/v1/applications", projects="govuk").json()["items"]
    assert len(items) == 61
    apps = {i["metadata"]["name"]: i for i in items}
    licensify = apps["licensify"]
    assert licensify["metadata"]["annotations"]["imageTag"] == ""
    assert any(i.endswith("/govuk/licensify-feed:v77") for i in licensify["status"]["summary"]["images"])
    assert apps["whitehall-admin"]["metadata"]["annotations"]["repoName"] == "whitehall"
    assert apps["argo-services"]["metadata"]["annotations"]["postSyncWorkflowEnabled"] == "false"
    assert all(i["metadata"]["annotations"]["slackChannel"] == "" for i in items)
    assert len(get(argocd, "/api/v1/applications").json()["items"]) == 61 + len(govuk_topology.OTHER_PROJECT_APPS)
