"""Argo CD and Argo Workflows answers, parsed defensively and read as the webhook events they stand for."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from bot.argo.models import ArgoUnavailable, parse_applications, parse_log_lines, parse_tree, parse_workflows
from bot.argo.outcomes import (
    DEGRADED,
    SYNC_FAILED,
    SYNCED,
    SYNCING,
    newest_workflows,
    smoke_event,
    sync_event,
    sync_outcome,
    team_channel,
)
from bot.webhooks import SmokeEvent, SyncEvent

FIXTURES = Path(__file__).parent / "fixtures" / "argo"


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def events_by_application() -> dict[str, SyncEvent | None]:
    return {app.name: sync_event(app, "integration") for app in parse_applications(fixture("applications.json"))}


# -- applications -----------------------------------------------------------------------------


def test_a_synced_and_healthy_application_is_the_webhook_on_deployed_would_send() -> None:
    assert events_by_application()["whitehall-admin"] == SyncEvent(
        application="whitehall-admin",
        app="whitehall",
        env="integration",
        tag="v3232",
        state="Succeeded",
        health="Healthy",
        message="successfully synced (all tasks run)",
        revision="7d3e5a1c9b2f4e6a8c0d1e3f5a7b9c1d3e5f7a9b",
    )


@pytest.mark.parametrize(
    ("application", "state", "health", "outcome"),
    [
        ("whitehall-admin", "Succeeded", "Healthy", SYNCED),
        ("router", "Running", "Progressing", SYNCING),
        ("content-store", "Failed", "Degraded", SYNC_FAILED),  # one failure, not also degraded
        ("publisher", "Succeeded", "Degraded", DEGRADED),
        ("frontend", "Succeeded", "Progressing", SYNCING),
        ("search-api", "Succeeded", "Unknown", SYNCING),  # no health at all: not synced yet
        ("signon", "Error", "Missing", SYNC_FAILED),
    ],
)
def test_each_application_reads_as_spec_10_1_says(application: str, state: str, health: str, outcome: str) -> None:
    event = events_by_application()[application]
    assert event is not None
    assert (event.state, event.health) == (state, health)
    assert sync_outcome(event.state, event.health) == outcome


def test_repo_name_defaults_to_the_application_and_messages_fit_the_outcome() -> None:
    events = events_by_application()
    assert events["router"].app == "router"
    assert events["content-store"].message == "one or more synchronization tasks completed unsuccessfully"
    assert events["publisher"].message == 'Deployment "publisher" exceeded its progress deadline'


def test_applications_without_a_usable_tag_or_any_operation_are_skipped() -> None:
    events = events_by_application()
    assert events["cluster-secrets"] is None  # no imageTag annotation: not deployed by tag
    assert events["bad-tag"] is None  # a tag that could be read as a git option
    assert events["email-alert-api"] is None  # never synced by an operation, and healthy


def test_degraded_without_any_operation_is_still_degraded() -> None:
    data = {"items": [{"metadata": {"name": "router", "annotations": {"imageTag": "v1"}}, "status": {"health": {"status": "Degraded"}}}]}  # fmt: skip
    event = sync_event(parse_applications(data)[0], "staging")
    assert event is not None and sync_outcome(event.state, event.health) == DEGRADED


def test_the_slack_channel_annotation_is_read() -> None:
    apps = {app.name: app for app in parse_applications(fixture("applications.json"))}
    assert apps["whitehall-admin"].slack_channel == "whitehall-notifications"
    assert apps["router"].slack_channel is None


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        ({"metadata": {}}, "lacks items"),
        ([], "lacks items"),
        ({"items": "nope"}, "malformed items"),
        ({"items": [17]}, "malformed application"),
        ({"items": [{"metadata": {"annotations": {}}}]}, "application lacks a name"),
        ({"items": [{"metadata": {"name": 3}}]}, "malformed application name"),
        ({"items": [{"metadata": {"name": "a"}, "status": {"health": "Healthy"}}]}, "malformed health"),
        ({"items": [{"metadata": {"name": "a", "annotations": {"imageTag": "v1"}}}]}, "application lacks status"),
        (
            {"items": [{"metadata": {"name": "a"}, "status": {"operationState": {"phase": 1}}}]},
            "malformed operation phase",
        ),
    ],
)
def test_a_malformed_application_list_is_one_plain_error(answer: Any, reason: str) -> None:
    with pytest.raises(ArgoUnavailable) as error:
        parse_applications(answer)
    assert error.value.reason == reason


def test_an_empty_application_list_may_be_null() -> None:
    assert parse_applications({"items": None}) == []


# -- workflows --------------------------------------------------------------------------------


def test_the_newest_workflow_of_a_release_counts() -> None:
    workflows = parse_workflows(fixture("workflows.json"))
    newest = newest_workflows(workflows)
    assert newest[("whitehall", "whitehall-admin", "v3232")].name == "post-sync-r7m4q"  # the rerun that passed
    reversed_order = newest_workflows(list(reversed(workflows)))
    assert reversed_order[("whitehall", "whitehall-admin", "v3232")].name == "post-sync-r7m4q"


def test_finished_workflows_are_the_tests_webhook_events() -> None:
    newest = newest_workflows(parse_workflows(fixture("workflows.json"))).values()
    finished = (smoke_event(w, "staging", "https://wf.example/", "apps") for w in newest)
    events = {e.app: e for e in finished if e is not None}
    assert set(events) == {"whitehall", "content-store", "publisher"}  # router's run is still going
    assert events["whitehall"] == SmokeEvent(
        application="whitehall-admin",
        app="whitehall",
        env="staging",
        tag="v3232",
        status="Succeeded",
        suite="e2e",
        workflow_name="post-sync-r7m4q",
        workflow_url="https://wf.example/workflows/apps/post-sync-r7m4q",
        failures=[],
        created="2026-11-29T10:20:00Z",  # which run is newer (issue 19): a webhook never says
    )
    assert events["content-store"].status == "Error"
    assert events["content-store"].failures == ["child 'post-sync-z9y8x-2861' failed", "pod deleted"]
    assert events["publisher"].failures[1:] == ["1 failed › publisher.spec.ts:3:1 › publishes"]  # repeated once


def test_workflows_without_usable_labels_are_skipped() -> None:
    data = fixture("workflows.json")
    broken = copy.deepcopy(data["items"][0])
    broken["metadata"]["name"] = "no-tag"
    del broken["metadata"]["labels"]["imageTag"]
    evil = copy.deepcopy(data["items"][0])
    evil["metadata"]["name"] = "evil"
    evil["metadata"]["labels"]["repoName"] = "../etc"
    names = {w.name for w in newest_workflows(parse_workflows({"items": [broken, evil]}))}
    assert names == set()


def test_a_null_workflow_list_is_empty_and_a_malformed_one_an_error() -> None:
    assert parse_workflows({"metadata": {}, "items": None}) == []
    with pytest.raises(ArgoUnavailable) as error:
        parse_workflows({"items": [{"metadata": {"name": "x"}, "status": {"nodes": []}}]})
    assert error.value.reason == "malformed workflow nodes"


# -- tree and logs ----------------------------------------------------------------------------


def test_resource_tree_nodes_keep_kind_name_and_health() -> None:
    nodes = parse_tree(fixture("resource-tree.json"))
    assert [(n.kind, n.health) for n in nodes][:2] == [("Service", "Healthy"), ("Deployment", "Degraded")]
    assert nodes[4].health is None  # a ConfigMap has no health
    assert parse_tree({}) == [] and parse_tree({"hosts": []}) == []  # Argo CD leaves out `nodes` when none
    with pytest.raises(ArgoUnavailable):
        parse_tree({"nodes": "junk"})


def test_log_lines_are_unwrapped_and_the_closing_entry_dropped() -> None:
    lines = parse_log_lines((FIXTURES / "logs.jsonl").read_text(encoding="utf-8"))
    assert len(lines) == 4 and lines[0].endswith("Booting Puma")
    with pytest.raises(ArgoUnavailable):
        parse_log_lines("<html>oops</html>\n")
    with pytest.raises(ArgoUnavailable):
        parse_log_lines('{"error": "too many pods"}\n')


def test_the_team_channel_comes_from_the_annotation_then_team_channels() -> None:
    channels = {"whitehall": "whitehall-notifications", "router-api": "C0ROUTER1"}
    assert team_channel("#publishing", channels, "whitehall-admin", "whitehall") == "publishing"
    assert team_channel(None, channels, "whitehall-admin", "whitehall") == "whitehall-notifications"
    assert team_channel("  ", channels, "router-api", "router") == "C0ROUTER1"
    assert team_channel(None, channels, "frontend", "frontend") is None
