"""The reconciliation pass: one read per environment and source, a silent first pass, each change emitted once."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bot.argo import AppState, ArgoUnavailable, Workflow
from bot.argo.outcomes import sync_outcome
from bot.argo.reconcile import ArgoEnvironment, Reconciler, argo_environments
from bot.config import load_settings
from bot.store import Store, connect
from bot.webhooks import SmokeEvent, SyncEvent
from tests.fakes import FakeArgoCD, FakeArgoWorkflows


def app(name: str, tag: str, phase: str | None = "Succeeded", health: str | None = "Healthy", **extra: str) -> AppState:
    return AppState(
        name=name,
        repo_name=extra.get("repo", name),
        image_tag=tag,
        phase=phase,
        message=extra.get("message", ""),
        revision="abc",
        health=health,
        health_message="",
        slack_channel=extra.get("channel"),
        sync_status="Synced" if phase == "Succeeded" else "OutOfSync",
        started_at="2026-11-29T10:00:00Z",
    )


def run(name: str, tag: str, phase: str, created: str, repo: str | None = None) -> Workflow:
    return Workflow(name, "apps", repo or "whitehall", repo or "whitehall", tag, created, phase, ["boom"] if phase == "Failed" else [])  # fmt: skip


class Reader:
    """A stand-in for one environment's Argo CD or Argo Workflows client."""

    def __init__(self) -> None:
        self.apps: list[AppState] = []
        self.runs: list[Workflow] = []
        self.failure: str | None = None
        self.calls = 0
        self.details = 0  # GETs of one application (the message of a failure)

    def applications(self) -> list[AppState]:
        self.calls += 1
        if self.failure:
            raise ArgoUnavailable(self.failure)
        return list(self.apps)

    def application(self, name: str) -> AppState:
        self.details += 1
        if self.failure:
            raise ArgoUnavailable(self.failure)
        return next(a for a in self.apps if a.name == name)

    def post_sync_workflows(self) -> list[Workflow]:
        self.calls += 1
        if self.failure:
            raise ArgoUnavailable(self.failure)
        return list(self.runs)


class World:
    def __init__(self, store: Store, envs: list[ArgoEnvironment]) -> None:
        self.argocd = {e.name: Reader() for e in envs}
        self.workflows = {e.name: Reader() for e in envs}
        self.syncs: list[SyncEvent] = []
        self.tests: list[SmokeEvent] = []
        self.errors: list[tuple[str, str, str]] = []
        self.reconciler = Reconciler(
            envs,
            store,
            on_sync=self.syncs.append,
            on_tests=self.tests.append,
            on_error=lambda *error: self.errors.append(error),
            argocd_factory=lambda e: self.argocd[e.name],
            workflows_factory=lambda e: self.workflows[e.name],
        )

    def emitted(self) -> list[tuple[str, str, str, str]]:
        found = [(e.env, e.application, e.tag, sync_outcome(e.state, e.health)) for e in self.syncs]
        found += [(e.env, e.application, e.tag, f"tests {e.status}") for e in self.tests]
        self.syncs.clear()
        self.tests.clear()
        return found


ENVS = [
    ArgoEnvironment("integration", "https://argo.int", "t1", "https://wf.int", "apps", "w1"),
    ArgoEnvironment("staging", "https://argo.stg", "t2", "https://wf.stg", "apps", None),
    ArgoEnvironment("production", "https://argo.prd", None, "https://wf.prd", "apps", None),
]


@pytest.fixture
def world() -> Iterator[World]:
    yield World(Store(connect("memory://"), "t:"), ENVS)


def test_one_read_per_environment_and_source_with_a_token_whatever_the_number_of_apps(world: World) -> None:
    world.argocd["integration"].apps = [app(f"app-{i}", "v1") for i in range(700)]
    report = world.reconciler.run_once()
    assert report.reads == [("integration", "argocd"), ("integration", "workflows"), ("staging", "argocd")]
    assert [world.argocd[e].calls for e in ("integration", "staging", "production")] == [1, 1, 0]
    assert [world.workflows[e].calls for e in ("integration", "staging", "production")] == [1, 0, 0]


def test_the_first_pass_records_what_runs_and_emits_nothing(world: World) -> None:
    world.argocd["integration"].apps = [app("router", "v1"), app("frontend", "v9", "Failed", "Degraded")]
    world.workflows["integration"].runs = [run("ps-1", "v3", "Failed", "2026-11-29T10:00:00Z")]
    report = world.reconciler.run_once()
    assert world.emitted() == []
    assert report.baselined == [("integration", "argocd"), ("integration", "workflows"), ("staging", "argocd")]
    world.reconciler.run_once()
    assert world.emitted() == []  # nothing changed
    assert world.reconciler.recorded_application("integration", "frontend")["outcome"] == "sync_failed"


def test_a_new_tag_a_new_app_and_a_changed_outcome_are_each_emitted_once(world: World) -> None:
    reader = world.argocd["integration"]
    reader.apps = [app("router", "v1"), app("frontend", "v9", "Running", "Progressing")]
    world.reconciler.run_once()
    reader.apps = [
        app("router", "v2", "Running", "Progressing"),  # a tag deployed without the bot
        app("frontend", "v9", "Succeeded", "Degraded"),  # the same release turned Degraded
        app("publisher", "v5", "Succeeded", "Healthy"),  # an application that appeared
    ]
    world.reconciler.run_once()
    assert sorted(world.emitted()) == [
        ("integration", "frontend", "v9", "degraded"),
        ("integration", "publisher", "v5", "synced"),
        ("integration", "router", "v2", "syncing"),
    ]
    world.reconciler.run_once()
    assert world.emitted() == []
    reader.apps[0] = app("router", "v2", "Succeeded", "Progressing")  # still syncing: same outcome
    world.reconciler.run_once()
    assert world.emitted() == []
    reader.apps[0] = app("router", "v2", "Succeeded", "Healthy")
    world.reconciler.run_once()
    assert world.emitted() == [("integration", "router", "v2", "synced")]


def test_an_application_briefly_without_a_tag_is_not_new_when_it_comes_back(world: World) -> None:
    reader = world.argocd["integration"]
    reader.apps = [app("router", "v1")]
    world.reconciler.run_once()
    reader.apps = [app("router", None)]  # type: ignore[arg-type]
    world.reconciler.run_once()
    reader.apps = [app("router", "v1")]
    world.reconciler.run_once()
    assert world.emitted() == []


def test_applications_without_a_usable_tag_are_ignored(world: World) -> None:
    world.reconciler.run_once()
    world.argocd["integration"].apps = [app("secrets", None), app("bad", "-x")]  # type: ignore[arg-type]
    world.reconciler.run_once()
    assert world.emitted() == []


def test_finished_workflows_are_emitted_once_and_the_newest_run_counts(world: World) -> None:
    reader = world.workflows["integration"]
    reader.runs = [run("ps-1", "v1", "Succeeded", "2026-11-29T09:00:00Z")]
    world.reconciler.run_once()
    reader.runs += [run("ps-2", "v2", "Running", "2026-11-29T10:00:00Z")]
    world.reconciler.run_once()
    assert world.emitted() == []  # still running
    reader.runs[1] = run("ps-2", "v2", "Failed", "2026-11-29T10:00:00Z")
    world.reconciler.run_once()
    (event,) = world.tests
    assert (event.workflow_name, event.failures, event.suite) == ("ps-2", ["boom"], "e2e")
    assert event.workflow_url == "https://wf.int/workflows/apps/ps-2"
    assert world.emitted() == [("integration", "whitehall", "v2", "tests Failed")]
    reader.runs += [run("ps-3", "v2", "Running", "2026-11-29T11:00:00Z")]  # resubmitted
    world.reconciler.run_once()
    assert world.emitted() == []
    reader.runs[2] = run("ps-3", "v2", "Succeeded", "2026-11-29T11:00:00Z")
    world.reconciler.run_once()
    world.reconciler.run_once()
    assert world.emitted() == [("integration", "whitehall", "v2", "tests Succeeded")]


def test_an_api_failure_changes_nothing_and_the_next_pass_catches_up(world: World) -> None:
    reader = world.argocd["integration"]
    reader.apps = [app("router", "v1")]
    world.reconciler.run_once()
    reader.apps = [app("router", "v2", "Failed", "Degraded")]
    reader.failure = "answered 503"
    report = world.reconciler.run_once()
    assert world.emitted() == [] and world.errors == [("integration", "argocd", "answered 503")]
    assert report.errors == [("integration", "argocd", "answered 503")]
    assert world.reconciler.recorded_application("integration", "router")["tag"] == "v1"
    reader.failure = None
    world.reconciler.run_once()
    assert world.emitted() == [("integration", "router", "v2", "sync_failed")]


def test_a_failure_in_the_first_pass_leaves_the_environment_unrecorded(world: World) -> None:
    world.argocd["integration"].failure = "timed out"
    world.reconciler.run_once()
    world.argocd["integration"].failure = None
    world.argocd["integration"].apps = [app("router", "v1", "Failed", "Degraded")]
    report = world.reconciler.run_once()
    assert ("integration", "argocd") in report.baselined and world.emitted() == []


def test_one_environment_failing_does_not_stop_the_others(world: World) -> None:
    world.reconciler.run_once()
    world.argocd["integration"].failure = "answered 401"
    world.argocd["staging"].apps = [app("router", "v7")]
    world.reconciler.run_once()
    assert world.emitted() == [("staging", "router", "v7", "synced")]


def test_an_event_the_callback_could_not_handle_is_emitted_again(world: World) -> None:
    world.reconciler.run_once()
    world.argocd["integration"].apps = [app("router", "v2")]
    failing = {"left": 1}

    def flaky(event: SyncEvent) -> None:
        if failing["left"]:
            failing["left"] -= 1
            raise RuntimeError("store down")
        world.syncs.append(event)

    world.reconciler.on_sync = flaky
    world.reconciler.run_once()
    assert world.emitted() == []
    world.reconciler.run_once()
    world.reconciler.run_once()
    assert world.emitted() == [("integration", "router", "v2", "synced")]


def test_the_slack_channel_annotation_is_recorded_for_the_team_message(world: World) -> None:
    world.argocd["integration"].apps = [app("whitehall-admin", "v1", repo="whitehall", channel="whitehall-team")]
    world.reconciler.run_once()
    recorded = world.reconciler.recorded_application("integration", "whitehall-admin")
    assert recorded == {
        "tag": "v1",
        "outcome": "synced",
        "channel": "whitehall-team",
        "releases": {"whitehall": "v1|synced"},
    }
    assert world.reconciler.recorded_application("integration", "nope") is None


def test_settings_become_reconciler_environments(tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings = load_settings(
        {"XDG_CACHE_HOME": str(tmp_path), "ARGOCD_TOKEN_STAGING": "a", "ARGO_WORKFLOWS_TOKEN_PRODUCTION": "w"},
        require_serve=False,
    )
    envs = {e.name: e for e in argo_environments(settings)}
    assert envs["staging"].argocd_token.reveal() == "a" and envs["staging"].workflows_token is None
    assert envs["production"].workflows_namespace == "apps" and envs["production"].workflows_token.reveal() == "w"
    reconciler = Reconciler(list(envs.values()), Store(connect("memory://"), "t:"), on_sync=print, on_tests=print)
    assert reconciler.argocd("staging") is not None and reconciler.argocd("integration") is None
    assert reconciler.workflows("production").namespace == "apps"
    reconciler.close()


# -- on the wire: loopback fakes and a real Redis ----------------------------------------------


def test_wire_first_pass_silent_then_a_new_tag_is_emitted_once(redis_url: str, redis_prefix: str) -> None:
    with FakeArgoCD() as argocd, FakeArgoWorkflows() as workflows:
        for index in range(700):  # a busy environment: still one request, and a silent first pass
            argocd.set_app(f"app-{index}", image_tag="v1", slack_channel="team-a")
        argocd.set_app("whitehall-admin", repo_name="whitehall", image_tag="v3231")
        workflows.add_workflow("post-sync-old", repo_name="whitehall", application="whitehall-admin", image_tag="v3231", created="2026-11-29T09:00:00Z")  # fmt: skip
        env = ArgoEnvironment("integration", argocd.url, argocd.token, workflows.url, "apps", workflows.token)
        syncs: list[SyncEvent] = []
        tests: list[SmokeEvent] = []
        errors: list[tuple[str, str, str]] = []
        reconciler = Reconciler(
            [env],
            Store(connect(redis_url), redis_prefix),
            on_sync=syncs.append,
            on_tests=tests.append,
            on_error=lambda *e: errors.append(e),
        )
        try:
            reconciler.run_once()
            assert (syncs, tests, errors) == ([], [], [])

            argocd.set_app("whitehall-admin", repo_name="whitehall", image_tag="v3232", phase="Failed", health="Degraded")  # fmt: skip
            workflows.add_workflow("post-sync-new", repo_name="whitehall", application="whitehall-admin", image_tag="v3232", phase="Failed", created="2026-11-29T10:00:00Z", failures=[("e2e", "2 failed")])  # fmt: skip
            reconciler.run_once()
            assert [(e.application, e.app, e.tag, e.state, e.health) for e in syncs] == [
                ("whitehall-admin", "whitehall", "v3232", "Failed", "Degraded")
            ]
            assert [(e.tag, e.status, e.workflow_name) for e in tests] == [("v3232", "Failed", "post-sync-new")]
            assert "2 failed" in tests[0].failures

            reconciler.run_once()
            assert len(syncs) == 1 and len(tests) == 1  # an identical pass emits nothing
            assert len(argocd.list_requests()) == 3 and len(workflows.list_requests()) == 3

            argocd.fail_status = 401
            workflows.junk = "not_json"
            argocd.set_app("app-3", image_tag="v2")
            reconciler.run_once()
            assert errors == [("integration", "argocd", "answered 401"), ("integration", "workflows", "not JSON")]
            assert len(syncs) == 1
            argocd.heal()
            workflows.heal()
            reconciler.run_once()
            assert [(e.application, e.tag) for e in syncs[1:]] == [("app-3", "v2")]
            # fields= drops the message: a synced item costs no second call, and carries none
            assert (syncs[1].state, syncs[1].health, syncs[1].message) == ("Succeeded", "Healthy", "")
        finally:
            reconciler.close()
