"""Every rule of `transitions.apply`, as pure unit tests: no store, no Slack, no git."""

from __future__ import annotations

import pytest

from bot.releases.model import CI, MAX_DRAFTS, MAX_SEEN, Release, Requester, State
from bot.releases.transitions import (
    Change,
    DeployFailed,
    DeployRequested,
    Promoted,
    Refresh,
    Result,
    SyncOutcome,
    TestOutcome,
    TestsRestarted,
    ThreadNote,
    apply,
    sync_state,
)

PERSON = Requester("U012AB3CD", "octocat")
NOW = 1_800_000_000.0


def release(**envs: State) -> Release:
    r = Release(app="whitehall", tag="v1", created=NOW)
    for env, state in envs.items():
        r.entry(env).state = state
    return r


def sync(state: State, outcome: str = "whitehall:Succeeded:Healthy", env: str = "integration", **kw) -> SyncOutcome:
    return SyncOutcome(env=env, application=kw.pop("application", "whitehall"), state=state, outcome=outcome, **kw)


def outcome_of_tests(status: str, env: str = "integration", **kw) -> TestOutcome:
    application = kw.pop("application", "whitehall")
    return TestOutcome(
        env=env, application=application, status=status, suite="e2e", outcome=f"{application}:{status}", **kw
    )


def test_apply_leaves_the_release_it_was_given_unchanged() -> None:
    before = release()
    after = apply(before, DeployRequested("integration", PERSON, "abc1234"), NOW).release
    assert before.envs == {} and before.replies == []
    assert after.envs["integration"].state is State.REQUESTED


def test_a_deploy_by_a_person_is_requested_watched_and_told_in_the_thread() -> None:
    t = apply(release(), DeployRequested("integration", PERSON, "abc1234def"), NOW)
    entry = t.release.envs["integration"]
    assert (t.result, t.change, t.watch_sync) == (Result.APPLIED, Change.CARD, True)
    assert entry.state is State.REQUESTED and entry.requester == PERSON and entry.commit == "abc1234def"
    assert [r.text for r in t.release.replies] == ["<@U012AB3CD> requested v1 in integration (commit `abc1234`)."]


def test_a_deploy_by_ci_says_nothing_in_the_thread() -> None:
    t = apply(release(), DeployRequested("integration", CI, "abc1234"), NOW)
    assert t.release.replies == []
    assert t.release.envs["integration"].deployed_by_bot


def test_a_deploy_whose_sync_arrived_first_keeps_the_sync_and_is_not_watched() -> None:
    r = apply(release(), sync(State.SYNCED, revision="abc1234"), NOW).release
    t = apply(r, DeployRequested("integration", PERSON, "abc1234"), NOW)
    assert t.release.envs["integration"].state is State.SYNCED
    assert t.release.envs["integration"].requester == PERSON
    assert not t.watch_sync


@pytest.mark.parametrize("earlier", [None, State.REQUESTED, State.DEPLOY_FAILED])
def test_a_failed_deploy_shows_as_failed_where_nothing_more_was_known(earlier: State | None) -> None:
    r = release(integration=earlier) if earlier else release()
    t = apply(r, DeployFailed("integration", PERSON, "git <is> down"), NOW)
    assert t.release.envs["integration"].state is State.DEPLOY_FAILED
    reply = t.release.replies[-1]
    assert reply.broadcast and reply.urgent and "git &lt;is&gt; down" in reply.text


@pytest.mark.parametrize("later", [State.SYNCING, State.SYNCED, State.TESTS_PASSED, State.DEGRADED])
def test_a_failed_redeploy_never_takes_back_what_the_release_reached(later: State) -> None:
    t = apply(release(integration=later), DeployFailed("integration", PERSON, "git down"), NOW)
    assert t.release.envs["integration"].state is later
    assert t.release.replies[-1].broadcast  # the requester still hears it


def test_states_only_move_forward_and_a_late_outcome_is_stale() -> None:
    r = apply(release(), sync(State.SYNCED), NOW).release
    r = apply(r, outcome_of_tests("Succeeded"), NOW).release
    t = apply(r, sync(State.SYNCING, outcome="whitehall:Running:"), NOW)
    assert (t.result, t.change) == (Result.STALE, Change.QUIET)
    assert t.release.envs["integration"].state is State.TESTS_PASSED


def test_the_same_outcome_twice_is_a_duplicate_that_changes_nothing() -> None:
    r = apply(release(), sync(State.SYNC_FAILED, outcome="whitehall:Failed:"), NOW).release
    t = apply(r, sync(State.SYNC_FAILED, outcome="whitehall:Failed:"), NOW)
    assert (t.result, t.change) == (Result.DUPLICATE, Change.NONE)
    assert len(t.release.replies) == 1


def test_a_test_outcome_is_the_same_event_whatever_its_suite() -> None:
    r = apply(release(), outcome_of_tests("Failed"), NOW).release
    again = TestOutcome(
        env="integration", application="whitehall", status="Failed", suite="smokey", outcome="whitehall:Failed"
    )
    assert apply(r, again, NOW).result is Result.DUPLICATE


@pytest.mark.parametrize(
    ("phase", "health", "state"),
    [
        ("Running", None, State.SYNCING),
        ("Terminating", None, State.SYNCING),
        ("Failed", None, State.SYNC_FAILED),
        ("Error", "Healthy", State.SYNC_FAILED),
        ("Succeeded", "Degraded", State.DEGRADED),
        ("Succeeded", "Healthy", State.SYNCED),
        ("Succeeded", None, State.SYNCED),
        ("Succeeded", "Progressing", State.SYNCING),
        ("Succeeded", "Unknown", State.SYNCING),
        ("Running", "Degraded", State.SYNCING),
        (None, "Degraded", State.DEGRADED),
    ],
)
def test_sync_state_of_a_phase_and_health(phase: str | None, health: str | None, state: State) -> None:
    assert sync_state(phase, health) is state


@pytest.mark.parametrize("state", [State.SYNC_FAILED, State.DEGRADED])
def test_a_failed_or_degraded_sync_is_broadcast_and_mentions_the_person_who_deployed(state: State) -> None:
    r = apply(release(), DeployRequested("integration", PERSON, "abc1234"), NOW).release
    t = apply(
        r, sync(state, outcome=f"whitehall:{state.code}", message="<!channel> boom", argocd_url="https://argo/x"), NOW
    )
    reply = t.release.replies[-1]
    assert reply.broadcast and "<@U012AB3CD>" in reply.text
    assert "&lt;!channel&gt;" in reply.text and "<!channel>" not in reply.text
    assert "https://argo/x" in reply.text


def test_failed_tests_list_their_failures_and_link_the_run() -> None:
    t = apply(release(), outcome_of_tests("Failed", failures=["checkout broke"], workflow_url="https://wf/run"), NOW)
    reply = t.release.replies[-1]
    assert reply.broadcast and "checkout broke" in reply.text and "https://wf/run" in reply.text
    assert "<@" not in reply.text  # nobody to mention: the bot did not deploy it


def test_passing_tests_say_nothing_in_the_thread() -> None:
    assert apply(release(), outcome_of_tests("Succeeded"), NOW).release.replies == []


def test_a_draft_stack_is_shown_beside_the_environment_and_never_moves_it() -> None:
    r = release(integration=State.SYNCED)
    t = apply(r, outcome_of_tests("Failed", application="draft-whitehall", draft=True), NOW)
    entry = t.release.envs["integration"]
    assert entry.state is State.SYNCED
    assert entry.drafts == {"draft-whitehall": State.TESTS_FAILED}
    assert t.release.replies[-1].broadcast


def test_what_one_release_remembers_is_bounded_whatever_arrives() -> None:
    r = release()
    for n in range(200):
        r = apply(r, outcome_of_tests("Failed", application=f"draft-x{n}", draft=True), NOW).release
    entry = r.envs["integration"]
    assert len(entry.seen) <= MAX_SEEN
    assert len(entry.drafts) <= MAX_DRAFTS
    assert len(r.replies) <= 50


def test_a_promotion_is_recorded_on_the_environment_it_left() -> None:
    t = apply(release(integration=State.TESTS_PASSED), Promoted("integration", "staging", PERSON, NOW), NOW)
    promoted = t.release.envs["integration"].promoted
    assert (promoted.to_env, promoted.by, promoted.at) == ("staging", PERSON, NOW)


def test_a_note_and_a_refresh_change_the_card() -> None:
    t = apply(release(), ThreadNote("stuck", urgent=True), NOW)
    assert t.change is Change.CARD and t.release.replies[-1].urgent and not t.release.replies[-1].broadcast
    assert apply(release(), Refresh(), NOW).change is Change.CARD


def test_the_order_of_states_lives_on_the_state() -> None:
    ranks = [s.rank for s in (State.REQUESTED, State.SYNCING, State.SYNCED, State.TESTS_PASSED)]
    assert ranks == sorted(ranks) and len(set(ranks)) == 4
    assert State.DEPLOY_FAILED.rank == State.REQUESTED.rank
    assert {s.code for s in State} == {s.code for s in State if State.from_code(s.code) is s}


def test_tests_restarted_count_the_next_outcome_afresh() -> None:
    r = apply(release(), outcome_of_tests("Failed"), NOW).release
    t = apply(r, TestsRestarted("integration", PERSON, "post-sync-abc"), NOW)
    assert t.release.envs["integration"].state is State.TESTS_RUNNING
    assert "started the tests" in t.release.replies[-1].text
    again = apply(t.release, outcome_of_tests("Failed"), NOW)
    assert again.result is Result.APPLIED and again.release.envs["integration"].state is State.TESTS_FAILED


def test_a_sync_outcome_does_not_undo_tests_running_again() -> None:
    r = apply(release(integration=State.TESTS_FAILED), TestsRestarted("integration", PERSON, "wf"), NOW).release
    assert apply(r, sync(State.SYNCED, outcome="whitehall:other"), NOW).result is Result.STALE


def test_another_application_of_the_release_lagging_or_failing_is_shown_by_name_and_told() -> None:
    """SPEC 10.1: several Applications for one release; the line names the one that holds it back,
    and a failure of any of them is a failure, told once per Application."""
    r = apply(release(), sync(State.SYNCED, application="whitehall-admin"), NOW).release
    r = apply(r, outcome_of_tests("Succeeded", application="whitehall-admin"), NOW).release
    t = apply(r, sync(State.SYNCING, outcome="whitehall-frontend:syncing", application="whitehall-frontend"), NOW)
    assert t.result is Result.APPLIED and t.change is Change.CARD
    entry = t.release.envs["integration"]
    assert entry.state is State.TESTS_PASSED and entry.drafts == {"whitehall-frontend": State.SYNCING}
    t = apply(t.release, sync(State.SYNC_FAILED, outcome="whitehall-frontend:sync_failed", application="whitehall-frontend"), NOW)  # fmt: skip
    assert t.result is Result.APPLIED and t.release.replies[-1].broadcast
    assert t.release.envs["integration"].drafts == {"whitehall-frontend": State.SYNC_FAILED}
    # the deciding Application's own late outcome is still stale
    t = apply(t.release, sync(State.SYNCING, outcome="whitehall-admin:syncing", application="whitehall-admin"), NOW)
    assert t.result is Result.STALE
