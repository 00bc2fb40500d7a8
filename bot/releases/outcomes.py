"""What Argo CD sync outcomes, test outcomes and the clock mean for a release.

Webhook bodies arrive here already checked (`bot.webhooks`); this turns each into a release
event, hands it to the book, and starts automatic promotion when tests pass.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import replace

from bot import messages
from bot.audit import Action, AuditTrail
from bot.config import Settings
from bot.releases.book import ReleaseBook
from bot.releases.model import Button, State
from bot.releases.transitions import Result, SyncOutcome, TestOutcome, ThreadNote, sync_state
from bot.store import Store
from bot.webhooks import SmokeEvent, SyncEvent

log = logging.getLogger(__name__)

STUCK_FLAG_SECONDS = 7 * 24 * 3600
TestsPassed = Callable[[str, str, str], None]  # (app, tag, env)
Failed = Callable[[str, str, str, str, str], None]  # (app, tag, env, application, what failed)
FailureButtons = Callable[[str, str, str, str], tuple[Button, ...]]  # (app, tag, env, workflow) -> buttons
RollbackButton = Callable[[str, str, str], "Button | None"]  # (app, env, failing tag): a `rollback` button, or None


def is_draft_stack(application: str, app: str) -> bool:
    """A draft stack shares its app's image-tag file: its outcomes are told, but never move the card.

    A repository whose own name starts with `draft-` (application == repoName) is not a draft stack.
    """
    return application.startswith("draft-") and application != app


def promotes_automatically(application: str) -> bool:
    """GOV.UK's post-sync promotes every application whose name does not start with `draft-`."""
    return not application.startswith("draft-")


class ReleaseEvents:
    def __init__(
        self,
        *,
        settings: Settings,
        store: Store,
        book: ReleaseBook,
        audit: AuditTrail,
        clock: Callable[[], float],
        on_tests_passed: TestsPassed,
        on_failure: Failed = lambda app, tag, env, application, what: None,
        test_failure_buttons: FailureButtons = lambda app, tag, env, workflow: (),
        rollback_button: RollbackButton | None = None,
        on_outcome: Callable[[str, str], None] = lambda env, outcome: None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.book = book
        self.audit = audit
        self.clock = clock
        self.on_tests_passed = on_tests_passed
        self.on_failure = on_failure
        self.test_failure_buttons = test_failure_buttons
        self.rollback_button = rollback_button
        self.on_outcome = on_outcome  # (environment, outcome) of every outcome applied: the metrics

    def sync(self, event: SyncEvent) -> str:
        """Apply a sync outcome; answers `applied`, `duplicate` or `stale`."""
        state = sync_state(event.state, event.health)
        outcome = SyncOutcome(
            env=event.env,
            application=event.application,
            state=state,
            # the same outcome, whether a webhook or the Argo CD API told it, and however it was worded
            outcome=f"{event.application}:{state.code}",
            message=event.message,
            revision=event.revision,
            draft=is_draft_stack(event.application, event.app),
            argocd_url=self.settings.environment(event.env).argocd_app_url(event.application),
            no_tests=event.no_tests,
        )
        outcome = replace(
            outcome, buttons=self._rollback(event.app, event.env, event.tag, outcome.state, outcome.draft)
        )
        result = self.book.apply(event.app, event.tag, outcome).result
        if result is Result.APPLIED:
            self.audit.record(
                Action.SYNC_OUTCOME,
                actor="CI",
                app=event.app,
                env=event.env,
                tag=event.tag,
                outcome=outcome.state.code,
                application=event.application,
            )
            self.on_outcome(event.env, outcome.state.code)
            if state.is_failure and not outcome.draft:
                self.on_failure(event.app, event.tag, event.env, event.application, state.words)
        return result.value

    def tests(self, event: SmokeEvent) -> str:
        """Apply a test outcome; answers `applied`, `duplicate` or `stale`."""
        environment = self.settings.environment(event.env)
        if event.workflow_url is None and re.fullmatch(r"[a-z0-9][a-z0-9.-]{0,252}", event.workflow_name):
            # no link given: the post-sync workflows run in the environment's workflows_namespace
            workflows = f"{environment.workflows_url}/workflows/{environment.workflows_namespace}"
            event = replace(event, workflow_url=f"{workflows}/{event.workflow_name}")
        draft = is_draft_stack(event.application, event.app)
        passed = event.status == "Succeeded"
        outcome = TestOutcome(
            env=event.env,
            application=event.application,
            status=event.status,
            suite=event.suite,
            outcome=f"{event.application}:{event.status}",
            failures=event.failures,
            workflow_url=event.workflow_url,
            draft=draft,
            argocd_url=environment.argocd_app_url(event.application),
            run=event.workflow_name,
            run_created=event.created,
        )
        if not passed:
            retry = self.test_failure_buttons(event.app, event.tag, event.env, event.workflow_name)
            rollback = self._rollback(event.app, event.env, event.tag, State.TESTS_FAILED, draft)
            outcome = replace(outcome, buttons=retry + rollback)
        result = self.book.apply(event.app, event.tag, outcome).result
        if result is Result.APPLIED:
            self.audit.record(
                Action.TEST_OUTCOME,
                actor="CI",
                app=event.app,
                env=event.env,
                tag=event.tag,
                outcome="tests_passed" if outcome.passed else "tests_failed",
                application=event.application,
                suite=event.suite,
            )
            self.on_outcome(event.env, "tests_passed" if outcome.passed else "tests_failed")
        if result is Result.APPLIED and not passed and not draft:
            self.on_failure(event.app, event.tag, event.env, event.application, State.TESTS_FAILED.words)
        if result is Result.APPLIED and passed and not draft and promotes_automatically(event.application):
            self.on_tests_passed(event.app, event.tag, event.env)
        return result.value

    def _rollback(self, app: str, env: str, tag: str, state: State, draft: bool) -> tuple[Button, ...]:
        """A failure reply's `rollback` button, where the bot knows a release to go back to."""
        if (
            self.rollback_button is None
            or draft
            or state not in (State.SYNC_FAILED, State.DEGRADED, State.TESTS_FAILED)
        ):
            return ()
        button = self.rollback_button(app, env, tag)
        return (button,) if button else ()

    def nobody_follows(self, env: str, releases: list[tuple[str, str]]) -> None:
        """Tag files no Argo CD Application follows in `env` (a complete pass found none): each release
        the bot deployed there is told so once in its thread, and never reported stuck there."""
        unfollowed = set(releases)
        for app, tag, waiting_env in self.book.awaiting_sync_since(float("inf")):
            if waiting_env != env or (app, tag) not in unfollowed:
                continue
            if self.store.claim(self.store.key("unfollowed", app, tag, env), STUCK_FLAG_SECONDS):
                self.book.apply(app, tag, ThreadNote(messages.nobody_follows(app, env)))
            self.book.forget_awaiting_sync(app, tag, env)

    def follows(self, app: str, tag: str, env: str) -> bool:
        """The bot follows this release in `env`: its card already shows it there."""
        release = self.book.get(app, tag)
        return release is not None and env in release.envs

    def flag_stuck_deploys(self) -> int:
        """One thread reply for each deploy with no sync outcome after STUCK_AFTER_MINUTES."""
        minutes = self.settings.stuck_after_minutes
        flagged = 0
        for app, tag, env in self.book.awaiting_sync_since(self.clock() - minutes * 60):
            release = self.book.get(app, tag)
            entry = release.envs.get(env) if release else None
            still_waiting = entry is not None and entry.state in (State.REQUESTED, State.SYNCING)
            if still_waiting and self.store.claim(self.store.key("stuck", app, tag, env), STUCK_FLAG_SECONDS):
                environment = self.settings.environment(env)
                url = environment.argocd_app_url(entry.application or app) if environment else None
                person = entry.requester.mention if entry.requester and entry.requester.is_person else None
                text = messages.stuck(person, app, tag, env, minutes, url)
                self.book.apply(app, tag, ThreadNote(text, urgent=person is not None))
                flagged += 1
            self.book.forget_awaiting_sync(app, tag, env)
        return flagged
