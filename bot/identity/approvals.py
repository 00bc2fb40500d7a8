"""A second pair of eyes: approval requests in the alerts channel, decided once.

Two ways in: a person refused because they are not in the environment's team may ask for an
approval (`request_approval` on the refusal), and in an environment with `approvals_required: 1`
every person's deploy becomes a request (a gate after every other gate). A request is a notice
with `approve` and `deny`; an active member of the environment's team who is not the requester
decides it, once: the decision is a SET NX in the store, so two approvers clicking at the same
moment on two replicas give one decision, and so do an approval and the expiry racing. A click
on approve or deny is one journaled task (`DecisionTask`), recorded before its ack and run by the
deployer's pipeline (`decide`), so a crash or a store error after the claim is finished later by
whichever replica takes it over (the claim carries the task's id, so the second run knows it as
its own). An approval hands the request, with `approved_by` set, to the journal as a deploy in the
same step that ends the decision, so every other check is made again and the commit carries an
`Approved-by:` trailer.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from bot import cards, messages
from bot.audit import Action, AuditTrail
from bot.buttons import ButtonSigner
from bot.config import Settings
from bot.deploys.identity import Refusal, identify
from bot.deploys.request import DeployRequest
from bot.deploys.tasks import AskTask, DecisionTask
from bot.identity.seal import Seal
from bot.releases.model import Button, Requester
from bot.store import Store, StoreError
from bot.teams import Membership

log = logging.getLogger(__name__)

EXPIRES_AFTER_SECONDS = 30 * 60
RECORD_TTL_SECONDS = 7 * 24 * 3600
ASK = "approval:ask"  # the request_approval button's kind
DECIDE = "approval:decide"  # approve and deny carry only the approval's id
PENDING, APPROVED, DENIED, EXPIRED = "pending", "approved", "denied", "expired"
SEALED_APPROVAL, SEALED_DECISION = "approval", "approval-decision"  # kinds of record sealed in the store

Reply = Callable[..., None]  # (response_url, text[, blocks])


@dataclass
class Approval:
    id: str
    request: DeployRequest  # its response_url is the requester's, to tell them of the decision
    team: str
    requested_at: float
    because: str  # "team": the requester is not in the team; "required": the environment asks for it
    notice_id: str | None = None
    state: str = PENDING
    decided_by: Requester | None = None
    decided_at: float | None = None
    decided_by_task: str | None = None  # the decision task that claimed it (not stored with the approval)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "request": self.request.to_json(),
            "team": self.team,
            "requested_at": self.requested_at,
            "because": self.because,
            "notice_id": self.notice_id,
            "state": self.state,
            "decided_by": self.decided_by.to_json() if self.decided_by else None,
            "decided_at": self.decided_at,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Approval:
        return cls(
            id=data["id"],
            request=DeployRequest.from_json(data["request"]),
            team=data["team"],
            requested_at=data["requested_at"],
            because=data.get("because") or "required",
            notice_id=data.get("notice_id"),
            state=data.get("state") or PENDING,
            decided_by=Requester.from_json(data.get("decided_by")),
            decided_at=data.get("decided_at"),
        )


class Approvals:
    def __init__(
        self,
        *,
        settings: Settings,
        store: Store,
        deployer: Any,
        teams: Any,
        notices: Any,
        audit: AuditTrail,
        signer: ButtonSigner,
        reply: Reply,
        seal: Seal,
        clock: Callable[[], float],
    ) -> None:
        self.settings = settings
        self.store = store
        self.deployer = deployer
        self.teams = teams
        self.notices = notices
        self.audit = audit
        self.signer = signer
        self.reply = reply
        self.seal = seal  # a request or decision the bot did not write is ignored (SPEC 13)
        self.clock = clock

    def stop(self) -> None:
        """Decisions run on the deployer's pipeline, which stops them."""

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Wait until every decision being made has been made (the console, tests)."""
        return self.deployer.wait_idle(timeout=timeout)

    # -- the store ------------------------------------------------------------------------------------

    def _key(self, approval_id: str, *more: str) -> str:
        return self.store.key("approval", approval_id, *more)

    @property
    def _pending_key(self) -> str:
        return self.store.key("approvals", "pending")

    def get(self, approval_id: str) -> Approval | None:
        data = self.seal.open(SEALED_APPROVAL, approval_id, self.store.client.get(self._key(approval_id)))
        return Approval.from_json(data) if data else None

    def _save(self, approval: Approval) -> None:
        sealed = self.seal.close(SEALED_APPROVAL, approval.id, approval.to_json())
        self.store.client.set(self._key(approval.id), sealed, ex=RECORD_TTL_SECONDS)

    # -- (a) a team refusal offers to ask for an approval ----------------------------------------------

    def team_refusal_blocks(self, request: DeployRequest, membership: Membership, text: str) -> list | None:
        """Deployer hook: the `request_approval` button on a refusal for not being in the team."""
        if membership.github_unreachable or request.approved_by is not None or not request.requester.is_person:
            return None
        value = self.signer.sign(
            ASK,
            *[
                request.app,
                request.env,
                request.tag or "",
                request.source_env or "",
                "1" if request.require_tests else "",
                request.requester.slack_user or "",
            ],
        )
        button = Button("request_approval", messages.REQUEST_APPROVAL_LABEL, value)
        return cards.reply_blocks(text + messages.OR_ASK_FOR_APPROVAL, [button])

    def request_clicked(self, value: object, user_id: str, response_url: str | None) -> str | None:
        """`request_approval`: post the request in the alerts channel; a refusal, or None (told through response_url)."""
        fields = self.signer.verify(ASK, value, 6)
        if fields is None:
            return messages.BUTTON_NOT_MINE
        app, env, tag, source_env, require_tests, slack_user = fields
        if slack_user != user_id:
            return messages.APPROVAL_BUTTON_NOT_YOURS
        environment = self.settings.environment(env)
        if environment is None or (source_env and self.settings.environment(source_env) is None):
            return messages.BUTTON_STALE_ENVIRONMENTS
        requester = identify(self.settings, user_id, getattr(self.deployer, "links", None))
        if isinstance(requester, Refusal):
            return requester.text
        if source_env and not tag:  # a promotion refused before its tag was known: what runs there now
            tag = self.deployer.charts.current_tag(source_env, app) or ""
            if not tag:
                return messages.nothing_to_promote(app, source_env)
        once = hashlib.sha256(str(value).encode()).hexdigest()[:32]
        asked = self.store.key("approval-asked", once)
        try:
            if not self.store.claim(asked, EXPIRES_AFTER_SECONDS):
                return messages.APPROVAL_ALREADY_ASKED
        except StoreError:
            return messages.STORE_DOWN
        task = AskTask(
            app=app,
            env=env,
            tag=tag,
            requester=requester,
            approval_id=f"a{once[:19]}",  # fixed now: a run again after a crash finds the request it opened
            source_env=source_env,
            require_tests=bool(require_tests),
            response_url=response_url,
        )
        refused = self.deployer.accept(task)  # None once recorded; then `ask` runs in the pipeline
        if refused is not None:
            with contextlib.suppress(StoreError):
                self.store.client.delete(asked)  # nothing was asked: the button may be clicked again
        return refused

    def ask(self, task: AskTask) -> None:
        """An approval request's step in the pipeline: opened (once, under the id fixed at the click), then told."""
        request = DeployRequest(
            app=task.app,
            env=task.env,
            tag=task.tag,
            requester=task.requester,
            response_url=task.response_url,
            source_env=task.source_env or None,
            require_tests=task.require_tests,
        )
        approval = self._open(request, because="team", approval_id=task.approval_id)
        self.deployer.finish(task, self._requested_words(approval))

    # -- (b) environments that ask for a second pair of eyes -------------------------------------------

    def gate(self, request: DeployRequest) -> str | None:
        """Deployer gate: a person's deploy into an `approvals_required` environment waits for an approval."""
        environment = self.settings.environment(request.env)
        if environment is None or not environment.approvals_required:
            return None
        if not request.requester.is_person or request.approved_by is not None:
            return None
        approval = self._open(request, because="required")
        return self._requested_words(approval)

    def _requested_words(self, approval: Approval) -> str:
        request = approval.request
        return messages.approval_requested(
            request.app,
            request.tag,
            request.env,
            self.settings.alerts_channel,
            self.settings.github_org,
            approval.team,
            required=approval.because == "required",
        )

    def _open(self, request: DeployRequest, *, because: str, approval_id: str | None = None) -> Approval:
        environment = self.settings.environment(request.env)
        # the gate's request is a journaled deploy, run again after a crash: one approval per deploy
        if approval_id is None:
            approval_id = f"d{request.deploy_id}" if because == "required" else uuid.uuid4().hex[:20]
        earlier = self.get(approval_id)
        if earlier is not None and earlier.notice_id is not None:
            return earlier
        approval = Approval(
            id=approval_id,
            request=request,
            team=environment.team,
            requested_at=self.clock(),
            because=because,
        )
        self._save(approval)  # before the notice: a click on it always finds the request
        # keyed on the approval: a run again after a crash between the post and the save posts it once
        approval.notice_id = self.notices.post(
            self.settings.alerts_channel, self._notice_text(approval), buttons=self._buttons(approval), once=approval.id
        )
        self._save(approval)
        self.store.client.zadd(self._pending_key, {approval.id: approval.requested_at})
        self.audit.record_request(
            Action.APPROVAL_REQUESTED,
            request,
            approval_id=approval.id,
            team=approval.team,
            reason=because,
            once=approval.id,
        )
        return approval

    def _buttons(self, approval: Approval) -> list[Button]:
        value = self.signer.sign(DECIDE, *[approval.id])
        return [
            Button("approve", messages.APPROVE_LABEL, value, style="primary"),
            Button("deny", messages.DENY_LABEL, value, style="danger"),
        ]

    def _notice_text(self, approval: Approval) -> str:
        request = approval.request
        asked = messages.approval_notice(
            request.requester.mention,
            request.requester.login,
            request.app,
            request.tag,
            request.env,
            request.source_env,
            self.settings.github_org,
            approval.team,
            required=approval.because == "required",
            expires_at=approval.requested_at + EXPIRES_AFTER_SECONDS,
        )
        if approval.state == PENDING:
            return asked
        by = approval.decided_by
        return asked + "\n" + messages.approval_outcome(approval.state, by.mention if by else None, approval.decided_at)

    # -- approve / deny -----------------------------------------------------------------------------------

    def approve_clicked(self, value: object, user_id: str, response_url: str | None) -> str | None:
        return self._clicked(APPROVED, value, user_id, response_url)

    def deny_clicked(self, value: object, user_id: str, response_url: str | None) -> str | None:
        return self._clicked(DENIED, value, user_id, response_url)

    def _clicked(self, decision: str, value: object, user_id: str, response_url: str | None) -> str | None:
        fields = self.signer.verify(DECIDE, value, 1)
        if fields is None:
            return messages.BUTTON_NOT_MINE
        try:
            approval = self.get(fields[0])
        except StoreError:
            return messages.STORE_DOWN
        if approval is None:
            return messages.APPROVAL_GONE
        if approval.state != PENDING:
            return self._already(approval)
        requester = approval.request.requester
        if user_id == requester.slack_user:
            return messages.approval_own_request(decision)
        if self.clock() - approval.requested_at > EXPIRES_AFTER_SECONDS:
            try:
                self._expire(approval)
            except StoreError:
                return messages.STORE_DOWN
            return messages.approval_expired_to_decider(
                approval.request.app, approval.request.tag, approval.request.env
            )
        decider = identify(self.settings, user_id, getattr(self.deployer, "links", None))
        if isinstance(decider, Refusal):
            return decider.text
        if requester.login and decider.login and decider.login.lower() == requester.login.lower():
            return messages.approval_own_request(decision)
        request = approval.request
        task = DecisionTask(
            approval_id=approval.id,
            decision=decision,
            decider=decider,
            response_url=response_url,
            app=request.app,
            env=request.env,
        )
        return self.deployer.accept(task)  # None once recorded; then `decide` runs in the pipeline

    def decide(self, task: DecisionTask) -> None:
        """A decision's step in the pipeline: checked, claimed once, shown, audited, told, and an approved
        request handed on as a deploy. Safe to run again: the claim it made is known by the task's id."""
        approval = self.get(task.approval_id)
        if approval is None:
            self.deployer.finish(task, messages.APPROVAL_GONE)
            return
        decider, decision = task.decider, task.decision
        membership = self.teams.check(decider.login, approval.team)  # live (cached at most 60 s, like every check)
        if not membership.member:
            self.deployer.finish(
                task, messages.approval_not_allowed(self.settings.github_org, approval.team, membership.reason)
            )
            return
        now = self.clock()
        won = self._claim(approval, decision, decider, now, task.task_id)
        if won is not None and won.decided_by_task != task.task_id:  # decided already, by someone else or the clock
            self.deployer.finish(task, self._already(won))
            return
        if won is not None:
            now = won.decided_at or now  # this task's own claim, from a run before a crash
        approval.state, approval.decided_by, approval.decided_at = decision, decider, now
        self._save(approval)
        self.store.client.zrem(self._pending_key, approval.id)
        self._show(approval)
        request = approval.request
        common = {"app": request.app, "env": request.env, "tag": request.tag, "approval_id": approval.id}
        mention = decider.mention
        if decision == DENIED:
            self.audit.record(Action.DENIED, actor=decider, requester=request.requester.to_json(), **common)
            requester_words = messages.approval_denied_to_requester(request.app, request.tag, request.env, mention)
            self.deployer.finish(
                task,
                messages.approval_decided_to_decider(DENIED, request.app, request.tag, request.env),
                also=[(request.response_url, requester_words, None)],
            )
            return
        approved_id = hashlib.sha256(task.task_id.encode()).hexdigest()[:16]  # the same however often this runs
        approved = replace(request, approved_by=decider, deploy_id=approved_id)
        self.audit.record(
            Action.APPROVED,
            actor=decider,
            requester=request.requester.to_json(),
            deploy_id=approved.deploy_id,
            **common,
        )
        words = [
            (task.response_url, messages.approval_decided_to_decider(APPROVED, request.app, request.tag, request.env), None),
            (request.response_url, messages.approval_approved_to_requester(request.app, request.tag, request.env, mention), None),
        ]  # fmt: skip
        self.deployer.hand_over(task, words, approved)  # every other check again, then the commit with Approved-by:

    def _claim(
        self, approval: Approval, state: str, by: Requester | None, at: float, task_id: str | None = None
    ) -> Approval | None:
        """Decide `approval` once: None when this call decided it, else the approval as decided before
        (its `decided_by_task` says which decision task claimed it, so a task run again knows its own)."""
        decision = {"state": state, "by": by.to_json() if by else None, "at": at, "task": task_id}
        key = self._key(approval.id, "decision")
        sealed = self.seal.close(SEALED_DECISION, approval.id, decision)
        if self.store.client.set(key, sealed, nx=True, ex=RECORD_TTL_SECONDS):
            return None
        earlier = self.seal.open(SEALED_DECISION, approval.id, self.store.client.get(key)) or {}
        return replace(
            approval,
            state=earlier.get("state") or EXPIRED,
            decided_by=Requester.from_json(earlier.get("by")),
            decided_at=earlier.get("at"),
            decided_by_task=earlier.get("task"),
        )

    def _already(self, approval: Approval) -> str:
        by = approval.decided_by
        return messages.approval_already(approval.state, by.mention if by else None, approval.decided_at)

    def _show(self, approval: Approval) -> None:
        if approval.notice_id:
            self.notices.edit(approval.notice_id, self._notice_text(approval))

    # -- expiry -------------------------------------------------------------------------------------------

    def _expire(self, approval: Approval) -> bool:
        """Mark an old request expired (once, whoever gets there first); True when this call did it."""
        now = self.clock()
        if self._claim(approval, EXPIRED, None, now) is not None:
            self.store.client.zrem(self._pending_key, approval.id)  # decided: no longer waiting to expire
            return False
        approval.state, approval.decided_at = EXPIRED, now
        self._save(approval)
        self.store.client.zrem(self._pending_key, approval.id)
        self._show(approval)
        request = approval.request
        self.audit.record(
            Action.EXPIRED,
            actor=request.requester,
            app=request.app,
            env=request.env,
            tag=request.tag,
            approval_id=approval.id,
        )
        self.reply(request.response_url, messages.approval_expired_to_requester(request.app, request.tag, request.env))
        return True

    def expire_old(self) -> int:
        """Scheduled: requests older than 30 minutes say so, in the channel and to the requester."""
        cutoff = self.clock() - EXPIRES_AFTER_SECONDS
        expired = 0
        for approval_id in self.store.client.zrangebyscore(self._pending_key, "-inf", cutoff, start=0, num=100):
            approval = self.get(approval_id)
            if approval is None:
                self.store.client.zrem(self._pending_key, approval_id)
                continue
            expired += self._expire(approval)
        return expired

    # -- read by the Home tab -------------------------------------------------------------------------

    def pending(self, limit: int = 200) -> list[Approval]:
        """Requests not decided yet, oldest first (an expired one may linger until `expire_old` runs)."""
        ids = self.store.client.zrange(self._pending_key, 0, limit - 1)
        if not ids:
            return []
        found = []
        for approval_id, raw in zip(ids, self.store.client.mget([self._key(i) for i in ids]), strict=True):
            data = self.seal.open(SEALED_APPROVAL, approval_id, raw)  # one the bot did not write is not shown
            if data:
                approval = Approval.from_json(data)
                if approval.state == PENDING:
                    found.append(approval)
        return found

    def pending_since(self) -> list[tuple[str, float]]:
        """(id, when it was asked for) of every request not decided yet."""
        return self.store.client.zrange(self._pending_key, 0, -1, withscores=True)

    def decision_buttons(self, approval: Approval) -> list[Button]:
        """The request's own `approve` and `deny` buttons, for showing it elsewhere (the Home tab)."""
        return self._buttons(approval)

    def notice_text(self, approval: Approval) -> str:
        return self._notice_text(approval)
