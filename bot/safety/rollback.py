"""`/deploy rollback <app> <env>` and the `rollback` button.

The tag to go back to is the last earlier one that passed its tests in that environment, as the
audit trail knows it, else the previous different `image_tag` of the file in the charts repo's
history. A rollback is one journaled task (`RollbackTask`), recorded before its ack; once its
target is found it becomes an ordinary deploy in the same journal entry (the same id), through
every check but freezes and windows, with a `Rollback-of:` trailer. A crash before that finds the
target again; after it, the deploy is finished like any other. Once committed, the rolled-back
release's card is told and the app is frozen there until someone unfreezes it.
"""

from __future__ import annotations

import logging
from typing import Any

from bot import commands, messages
from bot.audit import Action, AuditTrail
from bot.buttons import ButtonSigner
from bot.config import Settings
from bot.deploys.checks import check_target, team_refusal
from bot.deploys.identity import Refusal, identify
from bot.deploys.request import DeployRequest
from bot.deploys.tasks import RollbackTask
from bot.gitops.writer import Outcome
from bot.releases.book import ReleaseBook
from bot.releases.model import Button
from bot.releases.transitions import ThreadNote
from bot.safety.gate import Safety

log = logging.getLogger(__name__)

HISTORY_RECORDS = 2000  # audit records of one app in one environment looked through for passed tests


class Rollbacks:
    def __init__(
        self,
        *,
        settings: Settings,
        links: object | None = None,
        charts: object,
        teams: object,
        book: ReleaseBook,
        audit: AuditTrail,
        safety: Safety,
        signer: ButtonSigner,
        pipeline: Any,  # the deployer: accept, refuse, become
    ) -> None:
        self.settings = settings
        self.links = links  # accounts linked with `/deploy link`, after the `users` map
        self.charts = charts
        self.teams = teams
        self.book = book
        self.audit = audit
        self.safety = safety
        self.signer = signer
        self.pipeline = pipeline

    # -- where to go back to ---------------------------------------------------------------------------

    def passed_before(self, app: str, env: str, current: str | None) -> str | None:
        """The newest tag other than `current` that passed its tests in `env` before `current` went there."""
        records = self.audit.read(app=app, env=env, limit=HISTORY_RECORDS)
        current_since = max(
            (r["at"] for r in records if r["action"] == "deploy_committed" and r.get("tag") == current), default=None
        )
        for record in reversed(records):
            if record["action"] != "test_outcome" or record.get("outcome") != "tests_passed":
                continue
            if record.get("tag") in (None, current):
                continue
            if current_since is not None and record["at"] > current_since:
                continue  # passed after the current tag went out: not an earlier release
            return record["tag"]
        return None

    def from_git(self, app: str, env: str, current: str | None) -> str | None:
        history = self.charts.file_history(env, app)
        return next((tag for tag in history if tag != current), None)

    # -- the command and the button ----------------------------------------------------------------

    def command(self, command: commands.Rollback, user_id: str, response_url: str | None) -> str:
        refusal = check_target(self.settings, self.charts.apps, self.charts.is_usable(), command.app, command.env)
        requester = refusal or identify(self.settings, user_id, self.links)
        if isinstance(requester, Refusal):
            return requester.text
        task = RollbackTask(app=command.app, env=command.env, requester=requester, response_url=response_url)
        return self.pipeline.accept(task) or messages.rolling_back(command.app, command.env)

    def click(self, value: object, user_id: str, response_url: str | None) -> str | None:
        fields = self.signer.verify("rollback", value, 2)
        if fields is None or self.settings.environment(fields[1]) is None:
            return messages.BUTTON_NOT_MINE
        ack = self.command(commands.Rollback(app=fields[0], env=fields[1]), user_id, response_url)
        return None if ack == messages.rolling_back(fields[0], fields[1]) else ack

    def button(self, app: str, env: str, failing_tag: str) -> Button | None:
        """The `rollback` button for a failure reply, when the bot's history knows where to go back to."""
        try:
            target = self.passed_before(app, env, failing_tag)
        except Exception as error:  # a failure reply must never be lost for want of a button
            log.warning("could not look up a rollback target for %s in %s: %s", app, env, error)
            return None
        if target is None:
            return None
        return Button(
            "rollback",
            messages.rollback_label(target),
            self.signer.sign("rollback", app, env),
            confirm=messages.confirm_rollback(app, env, target),
            style="danger",
        )

    # -- in the background -------------------------------------------------------------------------

    def run(self, task: RollbackTask) -> None:
        """The rollback's step in the pipeline: team check, the target, then the deploy itself."""
        app, env, requester = task.app, task.env, task.requester
        membership = self.teams.check(requester.login, self.settings.environment(env).team)
        if not membership.member:  # before fetching any history: nothing to do for someone who may not
            self.pipeline.refuse(task, team_refusal(self.settings, requester.login, env, membership))
            return
        current_file = self.charts.read(env, app, fresh=True)
        current = current_file.image_tag if current_file else None
        target = self.passed_before(app, env, current) or self.from_git(app, env, current)
        if target is None or current is None:
            self.pipeline.refuse(task, messages.nothing_to_roll_back_to(app, env, current))
            return
        request = DeployRequest(
            app=app,
            env=env,
            tag=target,
            requester=requester,
            response_url=task.response_url,
            rollback_of=current,
            deploy_id=task.task_id,  # the same journal entry, now the deploy
        )
        self.pipeline.become(task, request)

    def committed(self, request: DeployRequest, outcome: Outcome) -> None:
        """After a rollback landed: tell the rolled-back release's card, freeze the app there, record it."""
        if not request.rollback_of:
            return
        app, env, tag, old = request.app, request.env, outcome.tag or request.tag, request.rollback_of
        self.audit.record(
            Action.ROLLBACK,
            actor=request.requester,
            app=app,
            env=env,
            tag=tag,
            deploy_id=request.deploy_id,
            commit=outcome.commit,
            rollback_of=old,
        )
        note = messages.rolled_back_in_thread(request.requester.mention, old, tag, env)
        line = messages.rolled_back_card_line(tag, request.requester.mention)
        self.book.apply(app, old, ThreadNote(note, broadcast=True, urgent=True, env=env, card_line=line))
        self.safety.freeze_after_rollback(app, env, request.requester, messages.rolled_back_reason(old))
