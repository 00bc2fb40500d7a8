"""What Argo CD sync outcomes, smokey test outcomes and the clock mean for a release's card."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from bot.config import Settings
from bot.deploys import Deployer
from bot.mrkdwn import clip, escape, link
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


def _is_draft(event: SyncEvent | SmokeEvent) -> bool:
    """Draft stacks share their app's image-tag file; their outcomes are told, but never move the card.

    A repository whose own name starts with `draft-` (application == repoName) is not a draft stack.
    """
    return event.application.startswith("draft-") and event.application != event.app


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
            said = f": {escape(clip(event.message, 1500))}" if event.message else ""
            open_argocd = link(argocd, f"Open {event.application} in Argo CD")
            if state == "sync_failed":
                return (
                    f":red_circle: {_person(entry)}the sync of *{event.app}* `{event.tag}` failed in "
                    f"*{event.env}*{said}. {open_argocd}",
                    True,
                )
            if state == "degraded":
                return (
                    f":warning: {_person(entry)}*{event.app}* `{event.tag}` is Degraded in *{event.env}*{said}. "
                    f"{open_argocd}",
                    True,
                )
            return None

        return self.book.event(
            event.app,
            event.tag,
            event.env,
            kind="sync",
            outcome=f"{event.application}:{event.state}:{event.health or ''}",
            state=state,
            draft_of=event.application if _is_draft(event) else None,
            details={"application": event.application, "message": event.message, "revision": event.revision},
            reply=reply,
        )

    def tests(self, event: SmokeEvent) -> str:
        passed = event.status == "Succeeded"
        environment = self.settings.environment(event.env)
        argocd = environment.argocd_app_url(event.application)
        if event.workflow_url is None and re.fullmatch(r"[a-z0-9][a-z0-9.-]{0,252}", event.workflow_name):
            # no link given: GOV.UK's post-sync workflows run in the `apps` namespace of Argo Workflows
            event = replace(event, workflow_url=f"{environment.workflows_url}/workflows/apps/{event.workflow_name}")

        def reply(entry: dict[str, Any]) -> tuple[str, bool] | None:
            if passed:
                return None
            failures = clip("".join(f"\n• {escape(clip(f, 300))}" for f in event.failures), 2500)
            run = f"{link(event.workflow_url, 'Workflow run')} · " if event.workflow_url else ""
            return (
                f":x: {_person(entry)}{escape(event.suite)} tests {event.status.lower()} for *{event.app}* "
                f"`{event.tag}` in *{event.env}*{failures}\n{run}{link(argocd, 'Argo CD')}",
                True,
            )

        result = self.book.event(
            event.app,
            event.tag,
            event.env,
            kind="tests",
            outcome=f"{event.application}:{event.status}",
            state="tests_passed" if passed else "tests_failed",
            draft_of=event.application if _is_draft(event) else None,
            details={"application": event.application, "workflow_url": event.workflow_url},
            reply=reply,
        )
        if result == "applied" and passed and not _is_draft(event):
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
            url = environment.argocd_app_url(entry.get("application") or app) if environment else None
            argocd = f" {link(url, 'Check Argo CD')}" if url else ""
            self.book.add_thread_reply(
                app,
                tag,
                f":hourglass: {_person(entry)}*{app}* `{tag}` was deployed to *{env}* more than {minutes} minutes "
                f"ago and Argo CD has not reported a sync outcome yet.{argocd}",
            )
            self.book.forget_awaiting_sync(app, tag, env)
            flagged += 1
        return flagged
