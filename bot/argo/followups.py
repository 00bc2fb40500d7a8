"""What the bot does when a release fails in an environment whose Argo it can read.

- The diagnosis: Argo CD's resource tree, warning events and pod logs, posted in the card's
  thread once per failure, in the background (reading Argo never delays a webhook or an ack).
- A word to the app's team channel (`bot.argo.team_channels`: BOT_CONFIG, the Application's
  `slackChannel` annotation, the developer docs' repos.json), once per failure, linking the card.
- Retrying the tests: the `retry_tests` button resubmits the post-sync workflow once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from bot import messages
from bot.argo.diagnosis import diagnose
from bot.argo.models import ArgoUnavailable
from bot.argo.team_channels import TeamChannels
from bot.audit import Action, AuditTrail
from bot.buttons import ButtonSigner
from bot.chat.notices import NoticeBoard
from bot.config import Settings
from bot.deploys.identity import Refusal, identify
from bot.releases.book import ReleaseBook
from bot.releases.model import Button, Requester
from bot.releases.transitions import TestsRestarted, ThreadNote
from bot.store import Store

log = logging.getLogger(__name__)

ONCE_SECONDS = 7 * 24 * 3600
RETRY_KIND = "retry_tests"
CARD_WAIT_SECONDS = 15  # a card first heard of with its failure is on Slack within moments: link it
Reply = Callable[[str | None, str], None]


class FailureFollowUps:
    def __init__(
        self,
        *,
        settings: Settings,
        links: object | None = None,
        store: Store,
        book: ReleaseBook,
        notices: NoticeBoard,
        teams: Any,
        signer: ButtonSigner,
        audit: AuditTrail,
        argocd: Callable[[str], Any],
        workflows: Callable[[str], Any],
        recorded_channel: Callable[[str, str], str | None],
        reply: Reply,
        team_channels: TeamChannels,
    ) -> None:
        self.settings = settings
        self.links = links  # accounts linked with `/deploy link`, after the `users` map
        self.store = store
        self.book = book
        self.notices = notices
        self.teams = teams
        self.signer = signer
        self.audit = audit
        self.argocd = argocd  # env -> its Argo CD client, or None without a token
        self.workflows = workflows  # env -> its Argo Workflows client, or None without a token
        self.recorded_channel = recorded_channel  # (env, application) -> its slackChannel annotation
        self.reply = reply
        self.team_channels = team_channels
        self.jobs = ThreadPoolExecutor(max_workers=2, thread_name_prefix="argo-followup")
        self._pending = 0
        self._idle = threading.Condition()

    def stop(self) -> None:
        self.jobs.shutdown(wait=True)

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Wait until every follow-up asked for so far is done (tests, the console, shutdown)."""
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout=timeout)

    def _submit(self, work: Callable[..., None], *args: object) -> None:
        with self._idle:
            self._pending += 1

        def run() -> None:
            try:
                work(*args)
            finally:
                with self._idle:
                    self._pending -= 1
                    self._idle.notify_all()

        self.jobs.submit(run)

    # -- after a failure ----------------------------------------------------------------------------

    def retry_button(self, app: str, tag: str, env: str, workflow: str) -> tuple[Button, ...]:
        """The failed-tests reply's `retry_tests` button, where the bot can resubmit the workflow."""
        if not workflow or self.workflows(env) is None:
            return ()
        value = self.signer.sign(RETRY_KIND, app, tag, env, workflow)
        return (Button("retry_tests", messages.RETRY_TESTS_LABEL, value),)

    def failed(self, app: str, tag: str, env: str, application: str, what: str) -> None:
        """A release failed (`what`: sync failed, degraded, tests failed): follow up in the background."""
        once = self.store.key("failure-followup", app, tag, env, what)
        if not self.store.claim(once, ONCE_SECONDS):
            return  # told already: the same failure again, from the other path or another replica
        self._submit(self._follow_up, app, tag, env, application, what)

    def _follow_up(self, app: str, tag: str, env: str, application: str, what: str) -> None:
        try:
            client = self.argocd(env)
            if client is not None and what != "tests failed":
                self.book.apply(app, tag, ThreadNote(diagnose(client, application)))
            channel = self.team_channels.channel_for(app, application, self.recorded_channel(env, application))
            if channel:
                card = self._card_on_slack(app, tag)
                self.notices.post(
                    channel, messages.team_failure(app, tag, env, what, self.settings.alerts_channel, card)
                )
        except Exception:  # a follow-up must never take anything else down with it
            log.exception("could not follow up the failure of %s %s in %s", app, tag, env)

    def _card_on_slack(self, app: str, tag: str):
        """Where the release's card is on Slack, waiting a little for one that is being posted now."""
        deadline = time.monotonic() + CARD_WAIT_SECONDS
        while True:
            release = self.book.get(app, tag)
            if (release is not None and release.card is not None) or time.monotonic() >= deadline:
                return release.card if release is not None else None
            time.sleep(0.2)

    # -- the retry_tests button -----------------------------------------------------------------------

    def retry_clicked(self, value: object, user_id: str, response_url: str | None) -> str | None:
        fields = self.signer.verify(RETRY_KIND, value, 4)
        if fields is None:
            return messages.BUTTON_NOT_MINE
        app, tag, env, workflow = fields
        if self.settings.environment(env) is None or self.workflows(env) is None:
            return messages.cannot_retry_here(env)
        requester = identify(self.settings, user_id, self.links)
        if isinstance(requester, Refusal):
            return requester.text
        self._submit(self._retry, app, tag, env, workflow, requester, response_url)
        return None

    def _retry(self, app: str, tag: str, env: str, workflow: str, requester: Requester, url: str | None) -> None:
        try:
            team = self.settings.environment(env).team
            membership = self.teams.check(requester.login, team)
            if not membership.member:
                self.reply(url, messages.team_refusal(env, self.settings.github_org, team, membership.reason))
                return
            claim = self.store.key("tests-retried", env, workflow)
            if not self.store.claim(claim, ONCE_SECONDS, requester.mention):
                by = self.store.client.get(claim) or "someone"
                self.reply(url, messages.tests_already_retried(app, tag, env, by))
                return
            try:
                self.workflows(env).resubmit(workflow)
            except ArgoUnavailable as error:
                self.store.client.delete(claim)
                self.reply(url, messages.retry_failed(app, tag, env, error.reason))
                return
            self.book.apply(app, tag, TestsRestarted(env, requester, workflow))
            self.audit.record(
                Action.TEST_OUTCOME, actor=requester, app=app, env=env, tag=tag, outcome="tests_restarted"
            )
            self.reply(url, messages.tests_retried(app, tag, env))
        except Exception:
            log.exception("retrying the tests of %s %s in %s failed", app, tag, env)
            self.reply(url, messages.SOMETHING_WENT_WRONG)
