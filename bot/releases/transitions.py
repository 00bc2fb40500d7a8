"""The one rule for how a release changes: `apply(release, event, now)`.

A pure function: it takes a release and an event and returns the changed copy with what
happened, and does no I/O. The order of states (`State.rank`), late and duplicate outcomes,
failed deploys and promotions are all decided here; everything that stores or shows a release
only feeds this function and carries out what it decided.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from enum import Enum

from bot import messages
from bot.releases.model import (
    MAX_DRAFTS,
    MAX_SEEN,
    MAX_TEST_RUNS,
    Button,
    EnvEntry,
    Promotion,
    Release,
    Requester,
    State,
    TestRun,
)


class Result(Enum):
    APPLIED = "applied"
    DUPLICATE = "duplicate"  # the same outcome was seen before: nothing changes
    STALE = "stale"  # older than what the release already shows: remembered, not shown


class Change(Enum):
    CARD = "card"  # the card must show it
    QUIET = "quiet"  # saved, nothing for Slack
    NONE = "none"  # nothing to save


@dataclass(frozen=True)
class DeployRequested:
    """The bot committed a deploy of the release to `env`."""

    env: str
    requester: Requester
    commit: str | None
    automatic: bool = False
    # when the commit was made, before it reached the remote: an outcome recorded since is newer than
    # this "requested", which the bot can only write after its push (None: treat it as the newest)
    since: float | None = None


@dataclass(frozen=True)
class DeployFailed:
    """A deploy of the release to `env` ended without a commit."""

    env: str
    requester: Requester
    reason: str


@dataclass(frozen=True)
class SyncOutcome:
    env: str
    application: str
    state: State  # SYNCING, SYNCED, SYNC_FAILED or DEGRADED
    outcome: str  # what makes it the same event when delivered again
    message: str = ""
    revision: str = ""
    draft: bool = False  # a draft stack: shown beside the environment, never moves it
    argocd_url: str = ""
    buttons: tuple[Button, ...] = ()  # on the failure reply (roll back)
    no_tests: bool = False  # no deciding Application runs tests: synced is the end of the line


@dataclass(frozen=True)
class TestOutcome:
    __test__ = False  # a release event, not a test class

    env: str
    application: str
    status: str  # Succeeded, Failed or Error
    suite: str
    outcome: str
    failures: list[str] = field(default_factory=list)
    workflow_url: str | None = None
    draft: bool = False
    argocd_url: str = ""
    buttons: tuple[Button, ...] = ()  # on the failure reply (retry the tests, roll back)
    run: str = ""  # the workflow's name, "" when the sender gave none
    run_created: str = ""  # its creationTimestamp where Argo Workflows told it; a webhook never does

    @property
    def passed(self) -> bool:
        return self.status == "Succeeded"


@dataclass(frozen=True)
class Promoted:
    """The release moved on from `env` to `to_env`; `by` None: `to_env` was found running it already."""

    env: str
    to_env: str
    by: Requester | None
    at: float


@dataclass(frozen=True)
class TestsRestarted:
    """Someone resubmitted the post-sync tests in `env`: the next test outcome counts afresh."""

    __test__ = False  # a release event, not a test class

    env: str
    by: Requester
    workflow: str


@dataclass(frozen=True)
class ThreadNote:
    """Something to say in the card's thread (a stuck deploy, say)."""

    text: str
    broadcast: bool = False
    urgent: bool = False
    buttons: tuple[Button, ...] = ()
    env: str | None = None  # with `card_line`: what the card shows under that environment from now on
    card_line: str | None = None


@dataclass(frozen=True)
class Refresh:
    """Show the card again: what the charts repo says changed, not the release itself."""


Event = DeployRequested | DeployFailed | SyncOutcome | TestOutcome | TestsRestarted | Promoted | ThreadNote | Refresh


@dataclass(frozen=True)
class Transition:
    release: Release
    result: Result
    change: Change
    watch_sync: bool = False  # a deploy now waits for Argo CD: watch it for being stuck


def sync_state(phase: str, health: str | None) -> State:
    """An Argo CD operation phase and app health as a state.

    `Succeeded` is synced only once the app is Healthy (Argo CD's on-deployed trigger has fired
    while still Progressing); a webhook without any health is taken at its word, as GOV.UK's
    on-deployed payload carries none.
    """
    if phase in ("Failed", "Error"):
        return State.SYNC_FAILED
    if phase in ("Running", "Terminating"):
        return State.SYNCING
    if health == "Degraded":
        return State.DEGRADED
    if phase == "Succeeded" and health in ("Healthy", None):
        return State.SYNCED
    return State.SYNCING


def is_newer_run(decided: tuple[str, str], candidate: tuple[str, str]) -> bool:
    """Whether `candidate` (name, creationTimestamp) is a later run of the tests than `decided`.

    Where both creation times are known (read from Argo Workflows), the later one is newer. A run
    whose creation time the bot read itself is overtaken only by one it read later: a webhook says
    nothing of when its run was made, so it cannot be shown newer. Where nobody said when either
    was made (webhooks alone), only a run with a name, and another name than the one that decided,
    is a newer run: the same run reported again, or a run with no name, never is.
    """
    name, created = decided
    candidate_name, candidate_created = candidate
    if created and candidate_created:
        return (candidate_created, candidate_name) > (created, name)
    if created:
        return False
    return bool(candidate_name) and candidate_name != name


def _run_mark(event: TestOutcome) -> str:
    """What `seen` keeps of a named run, so that it is never taken for a newer one again."""
    return f"run:{event.application}:{event.run}"


def _a_new_run(entry: EnvEntry, event: TestOutcome) -> bool:
    """A named run the bot has not heard of, newer than the run that decided this application's tests."""
    decided = entry.test_runs.get(event.application)
    if decided is None or not event.run or _run_mark(event) in entry.seen:
        return False
    return is_newer_run((decided.name, decided.created), (event.run, event.run_created))


def _retried_in_place(entry: EnvEntry, event: TestOutcome) -> bool:
    """Argo Workflows itself shows the run that failed passing now: `argo retry` (the UI's Retry) runs
    a failed workflow again under its own name and creationTimestamp. Only a run the bot read with its
    creation time counts (a webhook never tells one), so no webhook can replay its way past a failure."""
    decided = entry.test_runs.get(event.application)
    return (
        decided is not None
        and not decided.passed
        and event.passed
        and bool(decided.created)
        and (event.run, event.run_created) == (decided.name, decided.created)
    )


def _turns_the_verdict(entry: EnvEntry, event: TestOutcome) -> bool:
    decided = entry.test_runs.get(event.application)
    if decided is None or decided.passed == event.passed:
        return False
    return _a_new_run(entry, event) or _retried_in_place(entry, event)


def _refused_test_outcome(entry: EnvEntry, event: TestOutcome) -> bool:
    """A test outcome that may not overwrite what decided this application's tests here.

    `tests failed` stays until a newer run passes; any other verdict gives way unless it is shown
    to come from an older run than the one that decided."""
    decided = entry.test_runs.get(event.application)
    if decided is None:
        return False
    if not decided.passed and event.passed:
        return not (_a_new_run(entry, event) or _retried_in_place(entry, event))
    both_timed = bool(decided.created and event.run_created)
    return both_timed and (event.run_created, event.run) < (decided.created, decided.name)


def _learned_creation_time(entry: EnvEntry, event: TestOutcome) -> bool:
    """The API read the very run a webhook told of: keep when it was made, so that from now on only a
    run made later can overtake it."""
    decided = entry.test_runs.get(event.application)
    if decided is None or not event.run or decided.name != event.run or decided.created or not event.run_created:
        return False
    entry.test_runs[event.application] = TestRun(decided.name, event.run_created, decided.passed)
    return True


def _record_test_run(entry: EnvEntry, event: TestOutcome) -> State:
    """Remember the run that now decides this application's tests; the environment's verdict after it.

    Several applications can follow one release (whitehall-admin, whitehall-frontend): one's pass
    does not hide another's failure."""
    if event.application in entry.test_runs or len(entry.test_runs) < MAX_TEST_RUNS:
        entry.test_runs[event.application] = TestRun(event.run, event.run_created, event.passed)
    if event.run:
        entry.seen = [*entry.seen, _run_mark(event)][-MAX_SEEN:]
    if not event.passed or any(not run.passed for run in entry.test_runs.values()):
        return State.TESTS_FAILED
    return State.TESTS_PASSED


def apply(release: Release, event: Event, now: float) -> Transition:
    """`release` after `event`, as a new object; `release` itself is left as it was."""
    release = copy.deepcopy(release)
    match event:
        case DeployRequested():
            return _deploy_requested(release, event, now)
        case DeployFailed():
            return _deploy_failed(release, event, now)
        case SyncOutcome() | TestOutcome():
            return _outcome(release, event, now)
        case Promoted():
            release.entry(event.env).promoted = Promotion(event.to_env, event.by, event.at)
            return Transition(release, Result.APPLIED, Change.CARD)
        case ThreadNote():
            release.add_reply(event.text, broadcast=event.broadcast, urgent=event.urgent, buttons=list(event.buttons))
            if event.env is not None:
                release.entry(event.env).note = event.card_line
            return Transition(release, Result.APPLIED, Change.CARD)
        case TestsRestarted():
            entry = release.entry(event.env)
            entry.state, entry.at = State.TESTS_RUNNING, now
            entry.seen = [fingerprint for fingerprint in entry.seen if not fingerprint.startswith("tests:")]
            release.add_reply(messages.tests_restarted(event.by.mention, release.tag, event.env, event.workflow))
            return Transition(release, Result.APPLIED, Change.CARD)
        case Refresh():
            return Transition(release, Result.APPLIED, Change.CARD)
    raise TypeError(f"not a release event: {event!r}")


def _deploy_requested(release: Release, event: DeployRequested, now: float) -> Transition:
    entry = release.envs.get(event.env)
    # Argo CD may report the sync of this very commit before the bot has written it down
    synced_already = entry is not None and event.commit is not None and entry.revision == event.commit
    # ... and the sync or the tests may be reported, without the commit, within a second of the push:
    # an older "requested" never takes a newer outcome away (nor the promotion it allows)
    outcome_since = (
        entry is not None
        and event.since is not None
        and entry.state is not None
        and entry.state.rank > 0
        and entry.at is not None
        and entry.at >= event.since
    )
    if synced_already or outcome_since:
        assert entry is not None
        entry.requester, entry.commit, entry.automatic = event.requester, event.commit, event.automatic
        watch = not synced_already and entry.state is State.SYNCING  # not synced yet: it may still get stuck
    else:
        release.envs[event.env] = EnvEntry(
            state=State.REQUESTED, at=now, requester=event.requester, commit=event.commit, automatic=event.automatic
        )
        watch = True
    if event.requester.is_person:
        release.add_reply(messages.requested_in_thread(event.requester.mention, release.tag, event.env, event.commit))
    return Transition(release, Result.APPLIED, Change.CARD, watch_sync=watch)


def _deploy_failed(release: Release, event: DeployFailed, now: float) -> Transition:
    entry = release.entry(event.env)
    # only a deploy that had not got further may show as failed: a redeploy that fails while the
    # release already passed its tests there must not take that (or its promote button) away
    if entry.state is None or entry.state.rank == 0:
        release.envs[event.env] = EnvEntry(state=State.DEPLOY_FAILED, at=now, requester=event.requester)
    release.add_reply(
        messages.deploy_failed_in_thread(event.requester.mention, release.tag, event.env, event.reason),
        broadcast=True,
    )
    return Transition(release, Result.APPLIED, Change.CARD)


def _outcome(release: Release, event: SyncOutcome | TestOutcome, now: float) -> Transition:
    entry = release.entry(event.env)
    kind = "sync" if isinstance(event, SyncOutcome) else "tests"
    fingerprint = f"{kind}:{event.outcome}"
    deciding_tests = isinstance(event, TestOutcome) and not event.draft
    # a newer run turning the verdict again (failing after a retry passed) is no duplicate of the first
    if fingerprint in entry.seen and not (deciding_tests and _turns_the_verdict(entry, event)):
        if deciding_tests and _learned_creation_time(entry, event):
            return Transition(release, Result.DUPLICATE, Change.QUIET)
        return Transition(release, Result.DUPLICATE, Change.NONE)
    if deciding_tests and _refused_test_outcome(entry, event):
        # not remembered as seen either: the genuine newer outcome must still count when it comes
        return Transition(release, Result.STALE, Change.NONE)
    entry.seen = [*entry.seen, fingerprint][-MAX_SEEN:]
    state = _state_of(event)
    if event.draft:
        if event.application in entry.drafts or len(entry.drafts) < MAX_DRAFTS:
            entry.drafts[event.application] = state
        _reply_to_outcome(release, entry, event, state)
        return Transition(release, Result.APPLIED, Change.CARD)
    if entry.state is not None and state.rank < entry.state.rank:
        if isinstance(event, SyncOutcome) and entry.application not in (None, event.application):
            # another Application of this release here (SPEC 10.1): shown by name while it lags
            # behind, and its failure told, like a draft stack's; it never takes the line back
            if event.application in entry.drafts or len(entry.drafts) < MAX_DRAFTS:
                entry.drafts[event.application] = state
            _reply_to_outcome(release, entry, event, state)
            return Transition(release, Result.APPLIED, Change.CARD)
        return Transition(release, Result.STALE, Change.QUIET)
    if entry.state is State.TESTS_RUNNING and isinstance(event, SyncOutcome):
        return Transition(release, Result.STALE, Change.QUIET)  # the tests run again on what has synced
    verdict = state
    if isinstance(event, TestOutcome):
        verdict = _record_test_run(entry, event)
    entry.state, entry.at, entry.application = verdict, now, event.application
    if isinstance(event, SyncOutcome):
        entry.message = event.message or entry.message
        entry.revision = event.revision or entry.revision
        entry.no_tests = event.no_tests
    else:
        entry.workflow_url = event.workflow_url or entry.workflow_url
    _reply_to_outcome(release, entry, event, state)
    return Transition(release, Result.APPLIED, Change.CARD)


def _state_of(event: SyncOutcome | TestOutcome) -> State:
    if isinstance(event, SyncOutcome):
        return event.state
    return State.TESTS_PASSED if event.passed else State.TESTS_FAILED


def _reply_to_outcome(release: Release, entry: EnvEntry, event: SyncOutcome | TestOutcome, state: State) -> None:
    person = entry.requester.mention if entry.requester and entry.requester.is_person else None
    app, tag = release.app, release.tag
    if state is State.SYNC_FAILED:
        text = messages.sync_failed(person, app, tag, event.env, event.message, event.argocd_url, event.application)
    elif state is State.DEGRADED:
        text = messages.degraded(person, app, tag, event.env, event.message, event.argocd_url, event.application)
    elif state is State.TESTS_FAILED:
        assert isinstance(event, TestOutcome)
        text = messages.tests_failed(
            person, event.suite, event.status, app, tag, event.env, event.failures, event.workflow_url, event.argocd_url
        )
    else:
        return
    release.add_reply(text, broadcast=True, buttons=list(event.buttons))
