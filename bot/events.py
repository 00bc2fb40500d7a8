"""What Argo CD sync outcomes, smokey test outcomes and the clock mean for a release's card."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from bot.config import Settings
from bot.deploys import Deployer
from bot.releases import ReleaseBook, mention
from bot.store import Store
from bot.webhooks import SmokeEvent, SyncEvent

log = logging.getLogger(__name__)

STUCK_FLAG_SECONDS = 7 * 24 * 3600


def sync_state(state: str, health: str | None) -> str:
    if state in ("Failed", "Error"):
        return "sync_failed"
    if state == "Succeeded":
        return "degraded" if health == "Degraded" else "synced"
    return "syncing"


def _person(entry: dict[str, Any]) -> str:
    """A mention of the person who deployed, followed by a space, or nothing for CI."""
    requester = entry.get("requester")
    return f"{mention(requester)} " if requester and requester.get("slack_user") else ""


class ReleaseEvents:
    def __init__(
        self, *, settings: Settings, store: Store, book: ReleaseBook, deployer: Deployer, clock: Callable[[], float]
    ) -> None:
        self.settings = settings
        self.store = store
        self.book = book
        self.deployer = deployer
        self.clock = clock

    def sync(self, event: SyncEvent) -> str:
        state = sync_state(event.state, event.health)
        argocd = self.settings.environment(event.env).argocd_app_url(event.application)

        def reply(entry: dict[str, Any]) -> tuple[str, bool] | None:
            said = f": {event.message}" if event.message else ""
            if state == "sync_failed":
                return (
                    f":red_circle: {_person(entry)}the sync of *{event.app}* `{event.tag}` failed in "
                    f"*{event.env}*{said}. <{argocd}|Open {event.application} in Argo CD>",
                    True,
                )
            if state == "degraded":
                return (
                    f":warning: {_person(entry)}*{event.app}* `{event.tag}` is Degraded in *{event.env}*{said}. "
                    f"<{argocd}|Open {event.application} in Argo CD>",
                    True,
                )
            return None

        return self.book.event(
            event.app,
            event.tag,
            event.env,
            kind="sync",
            outcome=f"{event.state}:{event.health or ''}",
            state=state,
            details={"application": event.application, "message": event.message, "revision": event.revision},
            reply=reply,
        )

    def tests(self, event: SmokeEvent) -> str:
        passed = event.status == "Succeeded"
        argocd = self.settings.environment(event.env).argocd_app_url(event.application)

        def reply(entry: dict[str, Any]) -> tuple[str, bool] | None:
            if passed:
                return None
            failures = "".join(f"\n• {failure}" for failure in event.failures)
            run = f"<{event.workflow_url}|Workflow run> · " if event.workflow_url else ""
            return (
                f":x: {_person(entry)}{event.suite} tests {event.status.lower()} for *{event.app}* `{event.tag}` "
                f"in *{event.env}*{failures}\n{run}<{argocd}|Argo CD>",
                True,
            )

        result = self.book.event(
            event.app,
            event.tag,
            event.env,
            kind="tests",
            outcome=event.status,
            state="tests_passed" if passed else "tests_failed",
            details={"application": event.application, "workflow_url": event.workflow_url},
            reply=reply,
        )
        if result == "applied" and passed:
            self.deployer.tests_passed(event.app, event.tag, event.env, event.application)
        return result

    def flag_stuck_deploys(self) -> int:
        """One thread reply for each deploy with no sync outcome after STUCK_AFTER_MINUTES (SPEC §8)."""
        minutes = self.settings.stuck_after_minutes
        flagged = 0
        for app, tag, env in self.book.awaiting_sync_since(self.clock() - minutes * 60):
            if not self.store.claim(self.store.key("stuck", app, tag, env), STUCK_FLAG_SECONDS):
                self.book.forget_awaiting_sync(app, tag, env)
                continue
            doc = self.book.get(app, tag) or {"envs": {}}
            entry = doc["envs"].get(env) or {}
            environment = self.settings.environment(env)
            link = (
                f" <{environment.argocd_app_url(entry.get('application') or app)}|Check Argo CD>" if environment else ""
            )
            self.book.add_thread_reply(
                app,
                tag,
                f":hourglass: {_person(entry)}*{app}* `{tag}` was deployed to *{env}* more than {minutes} minutes "
                f"ago and Argo CD has not reported a sync outcome yet.{link}",
            )
            self.book.forget_awaiting_sync(app, tag, env)
            flagged += 1
        return flagged
