"""A test outcome is never overwritten by an older or forged one (SPEC section 13).

`tests failed` for a release in an environment stays until a newer run of that release's tests
passes: a run created later (Argo Workflows' `creationTimestamp`), or, where nobody reports when a
run was created (a webhook), a run with another name than the one that failed. A pass that names
the failed run again, or no run at all, changes nothing and is not remembered as seen, so the
genuine newer pass still counts when it comes.
"""

from __future__ import annotations

from bot.releases.model import Release, Requester, State
from bot.releases.transitions import Change, Result, TestOutcome, TestsRestarted, apply, is_newer_run

PERSON = Requester("U012AB3CD", "octocat")
NOW = 1_800_000_000.0
T1 = "2026-11-29T10:00:00Z"
T2 = "2026-11-29T10:05:00Z"


def outcome(status: str, run: str = "", created: str = "", application: str = "whitehall", **kw) -> TestOutcome:
    return TestOutcome(
        env="integration",
        application=application,
        status=status,
        suite="e2e",
        outcome=f"{application}:{status}",
        run=run,
        run_created=created,
        **kw,
    )


def failed(run: str = "post-sync-a", created: str = "") -> Release:
    r = Release(app="whitehall", tag="v1", created=NOW)
    t = apply(r, outcome("Failed", run, created), NOW)
    assert t.release.envs["integration"].state is State.TESTS_FAILED
    return t.release


def state(r: Release) -> State | None:
    return r.envs["integration"].state


# -- the pure rule -------------------------------------------------------------------------------------


def test_a_later_creation_time_is_newer_and_an_earlier_or_equal_one_is_not() -> None:
    assert is_newer_run(("a", T1), ("b", T2))
    assert not is_newer_run(("b", T2), ("a", T1))
    assert not is_newer_run(("a", T1), ("a", T1))


def test_a_run_read_with_its_creation_time_is_passed_only_by_one_with_a_later_time() -> None:
    assert not is_newer_run(("a", T1), ("b", ""))  # a webhook naming another run proves nothing here
    assert not is_newer_run(("a", T1), ("", ""))


def test_without_creation_times_only_another_named_run_is_newer() -> None:
    assert is_newer_run(("a", ""), ("b", ""))
    assert is_newer_run(("a", ""), ("b", T2))
    assert not is_newer_run(("a", ""), ("a", ""))
    assert not is_newer_run(("a", ""), ("", ""))
    assert not is_newer_run(("", ""), ("", ""))


# -- what apply does with it ---------------------------------------------------------------------------


def test_a_pass_for_the_run_that_failed_changes_nothing() -> None:
    r = failed("post-sync-a")
    t = apply(r, outcome("Succeeded", "post-sync-a"), NOW)
    assert (t.result, t.change) == (Result.STALE, Change.NONE)
    assert state(t.release) is State.TESTS_FAILED


def test_a_pass_naming_no_run_changes_nothing() -> None:
    t = apply(failed("post-sync-a"), outcome("Succeeded"), NOW)
    assert t.result is Result.STALE and state(t.release) is State.TESTS_FAILED


def test_a_failure_read_from_argo_workflows_is_not_passed_by_a_webhook() -> None:
    r = failed("post-sync-a", T1)
    for forged in (outcome("Succeeded", "post-sync-a"), outcome("Succeeded", "post-sync-zzz"), outcome("Succeeded")):
        t = apply(r, forged, NOW)
        assert t.result is Result.STALE and state(t.release) is State.TESTS_FAILED, forged


def test_an_older_run_passing_late_does_not_overwrite_a_newer_failure() -> None:
    t = apply(failed("post-sync-b", T2), outcome("Succeeded", "post-sync-a", T1), NOW)
    assert t.result is Result.STALE and state(t.release) is State.TESTS_FAILED


def test_a_newer_run_that_passes_does() -> None:
    t = apply(failed("post-sync-a", T1), outcome("Succeeded", "post-sync-b", T2), NOW)
    assert t.result is Result.APPLIED and state(t.release) is State.TESTS_PASSED


def test_a_refused_pass_is_not_remembered_so_the_genuine_one_still_counts() -> None:
    r = apply(failed("post-sync-a", T1), outcome("Succeeded", "post-sync-a"), NOW).release
    t = apply(r, outcome("Succeeded", "post-sync-b", T2), NOW)
    assert t.result is Result.APPLIED and state(t.release) is State.TESTS_PASSED


def test_an_older_failure_does_not_overwrite_a_newer_pass() -> None:
    r = Release(app="whitehall", tag="v1", created=NOW)
    r = apply(r, outcome("Succeeded", "post-sync-b", T2), NOW).release
    t = apply(r, outcome("Failed", "post-sync-a", T1), NOW)
    assert t.result is Result.STALE and state(t.release) is State.TESTS_PASSED
    assert t.release.replies == []


def test_a_failure_of_a_newer_run_overwrites_a_pass() -> None:
    r = Release(app="whitehall", tag="v1", created=NOW)
    r = apply(r, outcome("Succeeded", "post-sync-a", T1), NOW).release
    t = apply(r, outcome("Failed", "post-sync-b", T2), NOW)
    assert t.result is Result.APPLIED and state(t.release) is State.TESTS_FAILED


def test_after_a_retry_the_failed_run_still_cannot_pass_and_the_new_one_can() -> None:
    r = apply(failed("post-sync-a", T1), TestsRestarted("integration", PERSON, "post-sync-a"), NOW).release
    assert state(r) is State.TESTS_RUNNING
    assert apply(r, outcome("Succeeded", "post-sync-a"), NOW).result is Result.STALE
    t = apply(r, outcome("Succeeded", "post-sync-a-retry", T2), NOW)
    assert t.result is Result.APPLIED and state(t.release) is State.TESTS_PASSED


def test_one_applications_pass_does_not_hide_anothers_failure() -> None:
    r = apply(failed("post-sync-admin"), outcome("Succeeded", "post-sync-front", application="whitehall-frontend"), NOW)
    assert state(r.release) is State.TESTS_FAILED
    t = apply(r.release, outcome("Succeeded", "post-sync-admin-2"), NOW)
    assert state(t.release) is State.TESTS_PASSED


def test_the_runs_that_decided_survive_the_store() -> None:
    r = failed("post-sync-a", T1)
    again = Release.from_json(r.to_json())
    assert apply(again, outcome("Succeeded", "post-sync-zzz"), NOW).result is Result.STALE


def test_a_newer_runs_failure_after_a_pass_is_no_duplicate_of_the_first_failure() -> None:
    r = apply(failed("post-sync-a", T1), outcome("Succeeded", "post-sync-b", T2), NOW).release
    t = apply(r, outcome("Failed", "post-sync-c", "2026-11-29T10:10:00Z"), NOW)
    assert t.result is Result.APPLIED and state(t.release) is State.TESTS_FAILED
    r = apply(failed("post-sync-a"), outcome("Succeeded", "post-sync-b"), NOW).release  # webhooks alone
    t = apply(r, outcome("Failed", "post-sync-c"), NOW)
    assert t.result is Result.APPLIED and state(t.release) is State.TESTS_FAILED


def test_an_old_failure_delivered_again_after_a_newer_pass_changes_nothing() -> None:
    r = apply(failed("post-sync-a"), outcome("Succeeded", "post-sync-b"), NOW).release
    t = apply(r, outcome("Failed", "post-sync-a"), NOW)
    assert t.result is Result.DUPLICATE and state(t.release) is State.TESTS_PASSED


def test_the_api_reading_the_run_a_webhook_told_of_learns_when_it_was_made() -> None:
    r = failed("post-sync-a")  # a webhook, no creation time
    t = apply(r, outcome("Failed", "post-sync-a", T1), NOW)  # the API reads the same run
    assert (t.result, t.change) == (Result.DUPLICATE, Change.QUIET)
    assert t.release.replies == r.replies  # said once
    forged = apply(t.release, outcome("Succeeded", "post-sync-zzz"), NOW)  # now only a later run may pass
    assert forged.result is Result.STALE and state(forged.release) is State.TESTS_FAILED


def test_a_second_run_passing_after_a_pass_is_still_a_duplicate() -> None:
    r = Release(app="whitehall", tag="v1", created=NOW)
    r = apply(r, outcome("Succeeded", "post-sync-a", T1), NOW).release
    assert apply(r, outcome("Succeeded", "post-sync-b", T2), NOW).result is Result.DUPLICATE  # nothing to promote again


def test_a_run_argo_workflows_itself_shows_retried_in_place_and_passing_clears_the_failure() -> None:
    # `argo retry` (the UI's Retry) re-runs the failed workflow under its own name and creationTimestamp:
    # read from Argo Workflows, that run now passing is the truth, not a replay
    r = failed("post-sync-a", T1)
    t = apply(r, outcome("Succeeded", "post-sync-a", T1), NOW + 60)
    assert state(t.release) is State.TESTS_PASSED


def test_a_webhook_naming_the_failed_run_still_cannot_pass_it_even_once_read_with_its_time() -> None:
    r = failed("post-sync-a", T1)
    assert state(apply(r, outcome("Succeeded", "post-sync-a", ""), NOW + 60).release) is State.TESTS_FAILED


def test_a_newer_run_failing_after_a_pass_then_retried_in_place_and_passing_clears_it() -> None:
    r = apply(Release(app="whitehall", tag="v1", created=NOW), outcome("Succeeded", "post-sync-a", T1), NOW).release
    r = apply(r, outcome("Failed", "post-sync-b", T2), NOW + 1).release
    assert state(r) is State.TESTS_FAILED
    assert state(apply(r, outcome("Succeeded", "post-sync-b", T2), NOW + 2).release) is State.TESTS_PASSED
