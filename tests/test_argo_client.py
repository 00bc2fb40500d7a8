"""The Argo CD and Argo Workflows clients against the loopback fakes: one request each, plain errors."""

from __future__ import annotations

import logging
import time

import pytest

from bot.argo import ArgoCD, ArgoUnavailable, ArgoWorkflows
from bot.config import Secret
from tests.fakes import FakeArgoCD, FakeArgoWorkflows
from tests.fakes.argocd import node


def test_applications_are_read_in_one_request_with_the_bearer_token(argocd: FakeArgoCD) -> None:
    for index in range(50):
        argocd.set_app(f"app-{index}", image_tag=f"v{index}")
    client = ArgoCD(argocd.url, Secret(argocd.token))
    apps = client.applications()
    assert len(apps) == 50 and apps[7].image_tag == "v7"
    (request,) = argocd.list_requests()
    assert request.headers["authorization"] == f"Bearer {argocd.token}"
    assert "items.status.health" in request.query["fields"]


def test_the_list_asks_for_the_project_and_only_allowlisted_fields(argocd: FakeArgoCD) -> None:
    from tests.fakes.argocd import FIELDS_ALLOWLIST

    argocd.set_app("router", image_tag="v12", phase="Failed", message="one or more objects failed", health="Degraded")
    argocd.set_app("ckan", image_tag="v1", project="datagovuk")
    client = ArgoCD(argocd.url, argocd.token)
    (router,) = client.applications()  # datagovuk's share the server, never the bot's business
    assert (router.name, router.phase, router.sync_status, router.message) == ("router", "Failed", "OutOfSync", "")
    assert router.images[0].endswith("/govuk/router:v12") and router.started_at and router.revision
    (request,) = argocd.list_requests()
    assert request.query["projects"] == "govuk"
    asked = request.query["fields"].split(",")
    assert all(field.removeprefix("items.") in FIELDS_ALLOWLIST for field in asked), asked
    detail = client.application("router")  # the message only comes this way
    assert detail.message == "one or more objects failed" and detail.phase == "Failed"


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        ({"fail_status": 401}, "answered 401"),
        ({"fail_status": 403}, "answered 403"),
        ({"fail_status": 502}, "answered 502"),
        ({"junk": "not_json"}, "not JSON"),
        ({"junk": "missing_fields"}, "lacks items"),
        ({"junk": "bare_items"}, "application lacks status"),
    ],
)
def test_every_api_failure_is_one_plain_reason(argocd: FakeArgoCD, fault: dict, reason: str) -> None:
    for name, value in fault.items():
        setattr(argocd, name, value)
    with pytest.raises(ArgoUnavailable) as error:
        ArgoCD(argocd.url, argocd.token).applications()
    assert error.value.reason == reason


def test_a_wrong_token_is_answered_401(argocd: FakeArgoCD) -> None:
    with pytest.raises(ArgoUnavailable, match="answered 401"):
        ArgoCD(argocd.url, "not-the-token").applications()


def test_a_slow_server_times_out_within_the_client_timeout(argocd: FakeArgoCD) -> None:
    argocd.slow_seconds = 5
    started = time.monotonic()
    with pytest.raises(ArgoUnavailable, match="timed out"):
        ArgoCD(argocd.url, argocd.token, timeout=0.3).applications()
    assert time.monotonic() - started < 2


def test_an_unreachable_server_is_said_plainly() -> None:
    fake = FakeArgoCD().start()
    url = fake.url
    fake.stop()
    with pytest.raises(ArgoUnavailable, match="unreachable"):
        ArgoCD(url, "t").applications()


def test_the_token_is_never_logged(argocd: FakeArgoCD, caplog: pytest.LogCaptureFixture) -> None:
    argocd.set_app("router", image_tag="v1")
    caplog.set_level(logging.DEBUG)
    client = ArgoCD(argocd.url, Secret("argocd-test-token"))
    client.applications()
    argocd.fail_status = 401
    with pytest.raises(ArgoUnavailable) as error:
        client.applications()
    assert "argocd-test-token" not in caplog.text + str(error.value) + repr(error.value)


def test_tree_events_and_logs_of_a_failing_pod(argocd: FakeArgoCD) -> None:
    argocd.set_app("router", image_tag="v1")
    pod = node("Pod", "router-5c-abc", health="Degraded", message="CrashLoopBackOff")
    argocd.set_tree("router", [pod])
    argocd.set_logs("router", "router-5c-abc", [f"line {i}" for i in range(40)])
    client = ArgoCD(argocd.url, argocd.token)
    (found,) = client.resource_tree("router")
    assert (found.kind, found.uid) == ("Pod", pod["uid"])
    assert client.events("router", found) == []
    assert client.logs("router", found.name, found.namespace) == [f"line {i}" for i in range(20, 40)]
    (events_request,) = argocd.requests_to("/api/v1/applications/router/events")
    assert events_request.query == {"resourceName": "router-5c-abc", "resourceNamespace": "apps", "resourceUID": pod["uid"], "project": "govuk"}  # fmt: skip
    (logs_request,) = argocd.requests_to("/api/v1/applications/router/logs")
    assert logs_request.query["tailLines"] == "20" and logs_request.query["follow"] == "false"
    assert logs_request.query["container"] == "app"  # GOV.UK's pods have two: without it, Kubernetes' refusal
    with pytest.raises(ArgoUnavailable, match="answered 404"):  # asked in the project: Argo CD says not found
        client.resource_tree("missing-app")
    with pytest.raises(ArgoUnavailable, match="answered 404"):
        client.application("missing-app")
    argocd.set_tree("router", [])
    assert client.resource_tree("router") == []  # `nodes` left out: no error
    with pytest.raises(ArgoUnavailable, match="invalid name"):
        client.resource_tree("../../settings")


def test_one_application_and_its_diagnosis_are_asked_for_in_the_project_only(argocd: FakeArgoCD) -> None:
    """Another project's Application shares the server; the token may read it. Asked with `project=`,
    Argo CD itself refuses it (404), so no read of one Application can speak for another project's."""
    argocd.set_app("ckan", image_tag="v1", project="datagovuk", phase="Failed", health="Degraded")
    argocd.set_tree("ckan", [node("Pod", "ckan-5c-abc", health="Degraded", message="CrashLoopBackOff")])
    client = ArgoCD(argocd.url, argocd.token)
    with pytest.raises(ArgoUnavailable, match="answered 404"):
        client.application("ckan")
    with pytest.raises(ArgoUnavailable, match="answered 404"):
        client.resource_tree("ckan")
    with pytest.raises(ArgoUnavailable, match="answered 404"):
        client.logs("ckan", "ckan-5c-abc", "apps")
    assert all(r.query.get("project") == "govuk" for r in argocd.requests)


def test_post_sync_workflows_are_listed_once_by_label_and_resubmitted(workflows: FakeArgoWorkflows) -> None:
    client = ArgoWorkflows(workflows.url, "apps", Secret(workflows.token))
    assert client.post_sync_workflows() == []  # items: null
    workflows.add_workflow("post-sync-a1", repo_name="whitehall", image_tag="v3232", phase="Failed")
    (listed,) = client.post_sync_workflows()
    assert (listed.name, listed.phase, listed.image_tag) == ("post-sync-a1", "Failed", "v3232")
    selector = "workflows.argoproj.io/workflow-template=post-sync"
    assert workflows.list_requests()[0].query == {"listOptions.labelSelector": selector}
    workflows.add_deploy_image("deploy-image-z9", repo_name="whitehall", image_tag="v3233", environment="staging")
    assert [w.name for w in client.post_sync_workflows()] == ["post-sync-a1"]  # never a deploy-image run
    new = client.resubmit("post-sync-a1")
    assert new.phase == "Running" and new.repo_name == "whitehall" and new.name != "post-sync-a1"
    assert len(workflows.resubmit_requests()) == 1
    with pytest.raises(ArgoUnavailable, match="answered 404"):
        client.resubmit("never-ran")
    workflows.junk = "missing_fields"
    with pytest.raises(ArgoUnavailable, match="lacks items"):
        client.post_sync_workflows()
