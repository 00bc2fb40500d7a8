"""Freezes and deploy windows applied to deploys.

`gate` is one of the deployer's gates: a person's deploy into a frozen environment, or one
outside its window, is refused (or goes on with `--force <reason…>`, announced once it is
committed); CI's and automatic deploys are held, not lost. `freeze`/`unfreeze` are the slash
commands, each one journaled task (`ScopeTask`) run by the deployer's pipeline (`run_scope`);
`click` is the `deploy_held` button, and `release_window_holds` the scheduler job that sends out
deploys held only by a window once it opens (each recorded before its hold is let go).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from bot import commands, messages
from bot.audit import Action, AuditTrail
from bot.buttons import ButtonSigner
from bot.chat.notices import NoticeBoard
from bot.config import Settings
from bot.deploys.checks import check_target, team_refusal
from bot.deploys.identity import Refusal, identify
from bot.deploys.request import DeployRequest
from bot.deploys.tasks import ScopeTask
from bot.gitops.writer import Outcome
from bot.names import is_valid_app_name
from bot.releases.book import ReleaseBook
from bot.releases.model import CI, Button, Requester
from bot.releases.transitions import ThreadNote
from bot.safety.freezes import ALL, Freeze, Freezes
from bot.safety.holds import Hold, Holds
from bot.safety.windows import describe_opening

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Blocked:
    """Why nothing may go into an environment now: the freezes covering it, or a closed window."""

    freezes: list[Freeze]
    window_closed: bool
    opens: str | None  # when the next window opens, as people read it


class Safety:
    def __init__(
        self,
        *,
        settings: Settings,
        links: object | None = None,
        charts: object,
        teams: object,
        freezes: Freezes,
        holds: Holds,
        book: ReleaseBook,
        audit: AuditTrail,
        notices: NoticeBoard,
        signer: ButtonSigner,
        pipeline: object,  # the deployer: accept, refuse, finish, note
        clock: Callable[[], float],
    ) -> None:
        self.settings = settings
        self.links = links  # accounts linked with `/deploy link`, after the `users` map
        self.charts = charts
        self.teams = teams
        self.freezes = freezes
        self.holds = holds
        self.book = book
        self.audit = audit
        self.notices = notices
        self.signer = signer
        self.pipeline = pipeline  # every task recorded, then run in the deployer's background
        self.clock = clock
        # what each forced deploy that passed the gate overrode, announced once it is committed (a deploy
        # then denied its approval, or that fails, is never announced); a restart works it out again
        self._overridden: dict[str, str] = {}

    # -- what blocks an environment ---------------------------------------------------------------

    def blocked(self, app: str, env: str) -> Blocked | None:
        covering = self.freezes.covering(app, env)
        now = datetime.fromtimestamp(self.clock(), UTC)
        windows = self.settings.deploy_windows(env)
        closed = not windows.is_open(now)
        if not covering and not closed:
            return None
        opening = windows.next_opening(now) if closed else None
        return Blocked(covering, closed, describe_opening(opening, now) if opening else None)

    def status_lines(self, app: str, env: str) -> list[str]:
        """For `/deploy status`: the freezes covering the app there, and the deploy window."""
        lines = [
            messages.status_frozen(
                messages.scope_words(f.app, f.env), messages.freeze_words(f.by.mention, f.by.login, f.at, f.reason)
            )
            for f in self.freezes.covering(app, env)
        ]
        windows = self.settings.deploy_windows(env)
        if not windows.always_open:
            now = datetime.fromtimestamp(self.clock(), UTC)
            if windows.is_open(now):
                lines.append(messages.STATUS_WINDOW_OPEN)
            else:
                opening = windows.next_opening(now)
                lines.append(messages.status_window_closed(describe_opening(opening, now) if opening else None))
        return lines

    # -- the gate ------------------------------------------------------------------------------------

    def gate(self, request: DeployRequest) -> str | None:
        if request.rollback_of:
            return None  # a rollback is never blocked by a freeze or a window
        blocked = self.blocked(request.app, request.env)
        not_ready = self._forced_past_readiness(request)
        if not_ready is not None:  # a forced promotion of a release not ready where it comes from: announced
            self._overridden[request.deploy_id] = self._overridden_words(request, blocked, not_ready)
            return None
        if blocked is None:
            return None
        if not request.requester.is_person:
            self.hold(request.app, request.env, request.tag, request.promote_deployment, request, blocked)
            return messages.held_answer(request.app, request.tag, request.env)
        if request.force_reason:
            self._overridden[request.deploy_id] = self._overridden_words(request, blocked)
            return None
        text = self._refusal(request, blocked)
        self.audit.record_request(
            Action.DEPLOY_REFUSED, request, reason=text, outcome="frozen" if blocked.freezes else "outside_window"
        )
        return text

    def _refusal(self, request: DeployRequest, blocked: Blocked) -> str:
        if request.is_promotion:
            command = f"/deploy promote {request.app} {request.env}"
        else:
            command = f"/deploy {request.app} {request.tag} {request.env}"
        if blocked.freezes:
            described = [messages.freeze_words(f.by.mention, f.by.login, f.at, f.reason) for f in blocked.freezes]
            return messages.frozen_refusal(request.app, request.env, described, command)
        return messages.window_refusal(request.env, blocked.opens, command)

    def _forced_past_readiness(self, request: DeployRequest) -> str | None:
        """What `--force` lets a person's promotion past (the checks the button makes), or None."""
        if not (request.is_promotion and request.force_reason and request.requester.is_person and request.tag):
            return None
        release = self.book.get(request.app, request.tag)
        entry = release.envs.get(request.source_env) if release else None
        if entry is not None and entry.ready_to_promote:
            return None
        return messages.not_ready_words(request.source_env, entry.state.code if entry and entry.state else None)

    def _overridden_words(self, request: DeployRequest, blocked: Blocked | None, not_ready: str | None = None) -> str:
        what = [not_ready] if not_ready else []
        if blocked is not None and blocked.freezes:
            what.append(messages.frozen_by_words([messages.scope_words(f.app, f.env) for f in blocked.freezes]))
        if blocked is not None and blocked.window_closed:
            what.append(messages.window_words(request.env))
        return " and ".join(what)

    def committed(self, request: DeployRequest, outcome: Outcome) -> None:
        """After a commit (the deployer's hook): a forced deploy's override, announced and audited, once."""
        overridden = self._overridden.pop(request.deploy_id, None)
        if not request.force_reason or request.rollback_of:
            return
        if overridden is None:  # gated before a restart, committed after it: what it overrode, as it stands now
            blocked = self.blocked(request.app, request.env)
            if blocked is None:
                return
            overridden = self._overridden_words(request, blocked)
        if overridden:
            self._override(replace(request, tag=outcome.tag or request.tag), overridden)

    def _override(self, request: DeployRequest, overridden: str) -> None:
        self.audit.record_request(Action.OVERRIDE, request, reason=request.force_reason, overridden=overridden)
        note = messages.override_in_thread(
            request.requester.mention, request.tag, request.env, overridden, request.force_reason or ""
        )
        self.book.apply(request.app, request.tag, ThreadNote(note, broadcast=True, urgent=True))

    # -- holding CI's and automatic deploys ----------------------------------------------------------

    def hold_if_blocked(
        self, app: str, env: str, tag: str, promote_deployment: bool, source_env: str | None = None
    ) -> bool:
        """For `/update-image-tag`, before it answers: hold the deploy if the environment is frozen or shut."""
        blocked = self.blocked(app, env)
        if blocked is None:
            return False
        carrier = DeployRequest(app=app, env=env, tag=tag, requester=CI, source_env=source_env)
        self.hold(app, env, tag, promote_deployment, carrier, blocked)
        return True

    def hold(
        self, app: str, env: str, tag: str, promote: bool, request: DeployRequest | None, blocked: Blocked
    ) -> None:
        hold = Hold(
            app=app,
            env=env,
            tag=tag,
            at=self.clock(),
            promote_deployment=promote,
            source_env=request.source_env if request else None,
            automatic=request.automatic if request else False,
            frozen=bool(blocked.freezes),
        )
        previous = self.holds.put(hold)
        frozen_words = messages.held_because_frozen(env)
        why = frozen_words if blocked.freezes else messages.held_because_window(env, blocked.opens)
        who = messages.AUTOMATIC_PROMOTION_BY if hold.automatic else "CI"
        line = messages.held_card_line(hold.frozen)
        self.book.apply(app, tag, ThreadNote(messages.held_in_thread(who, tag, env, why), env=env, card_line=line))
        if previous is not None and previous.tag != tag:
            superseded = messages.held_superseded(previous.tag, env, tag)
            line = messages.HELD_SUPERSEDED_CARD_LINE
            self.book.apply(app, previous.tag, ThreadNote(superseded, env=env, card_line=line))
        self.audit.record(
            Action.DEPLOY_HELD,
            actor=CI,
            app=app,
            env=env,
            tag=tag,
            reason=why,
            automatic=hold.automatic,
            superseded=previous.tag if previous is not None and previous.tag != tag else None,
        )
        if hold.frozen and not self.freezes.covering(app, env):
            # the freeze was lifted between the check and the hold: that unfreeze did not see this hold,
            # and nothing else ever offers a frozen one, so offer it as that unfreeze would have
            # (`holds.take` lets only one of the two offer it)
            self._offer_held(Freeze(app, env, CI, self.clock()))

    def release_window_holds(self) -> int:
        """Send out, by themselves, deploys held only by a window that is now open (unless frozen now).
        Each is recorded in the journal before its hold is let go, so a crash or a store error in
        between loses neither (at worst the hold is released again later, and finds it already runs)."""
        released = 0
        for hold in self.holds.all():
            if hold.frozen or self.blocked(hold.app, hold.env) is not None:
                continue
            request = DeployRequest(
                app=hold.app,
                env=hold.env,
                tag=hold.tag,
                requester=CI,
                promote_deployment=hold.promote_deployment,
                source_env=hold.source_env,
                automatic=hold.automatic,
                require_tests=hold.automatic,
            )
            taken = _Taking(self.holds, hold)
            if self.pipeline.accept(request, before_start=taken) is not None:
                log.warning("could not record the held deploy of %s %s to %s; it stays held", *request_place(hold))
                continue
            if not taken.done:
                continue  # released meanwhile, or replaced by a newer hold
            self.audit.record(Action.HOLD_RELEASED, actor=CI, app=hold.app, env=hold.env, tag=hold.tag)
            released_note = ThreadNote(
                messages.hold_released_in_thread(hold.tag, hold.env),
                env=hold.env,
                card_line=messages.HELD_RELEASED_CARD_LINE,
            )
            self.book.apply(hold.app, hold.tag, released_note)
            released += 1
        return released

    def _offer_held(self, lifted: Freeze) -> None:
        """Offer on its card each held deploy the lifted freeze covered and nothing covers now."""
        for hold in self.holds.all():
            if not lifted.covers(hold.app, hold.env) or self.freezes.covering(hold.app, hold.env):
                continue
            blocked = self.blocked(hold.app, hold.env)
            if not hold.frozen and blocked is not None:
                continue  # held by its window too: it goes out when the window opens
            # offered first, then let go: a crash or store error in between leaves the hold, never loses it
            value = self.signer.sign("deploy_held", hold.app, hold.tag, hold.env)
            button = Button("deploy_held", messages.deploy_held_label(hold.tag, hold.env), value, style="primary")
            offer = ThreadNote(
                messages.held_offer(hold.tag, hold.env),
                buttons=(button,),
                env=hold.env,
                card_line=messages.HELD_OFFERED_CARD_LINE,
            )
            self.book.apply(hold.app, hold.tag, offer)
            self.holds.take(hold)

    def click(self, value: object, user_id: str, response_url: str | None) -> str | None:
        """`deploy_held`: a person's deploy of the held tag, with every check made now."""
        fields = self.signer.verify("deploy_held", value, 3)
        if fields is None or self.settings.environment(fields[2]) is None:
            return messages.BUTTON_NOT_MINE
        app, tag, env = fields
        refusal = check_target(self.settings, self.charts.apps, self.charts.is_usable(), app, env)
        requester = refusal or identify(self.settings, user_id, self.links)
        if isinstance(requester, Refusal):
            return requester.text
        return self.pipeline.accept(
            DeployRequest(app=app, env=env, tag=tag, requester=requester, response_url=response_url)
        )

    # -- /deploy freeze and unfreeze ------------------------------------------------------------------

    def freeze_command(self, command: commands.Freeze, user_id: str, response_url: str | None) -> str:
        return self._scope_command(command, user_id, response_url, freezing=True)

    def unfreeze_command(self, command: commands.Unfreeze, user_id: str, response_url: str | None) -> str:
        return self._scope_command(command, user_id, response_url, freezing=False)

    def _scope_command(self, command, user_id: str, response_url: str | None, *, freezing: bool) -> str:
        app, env = command.app, command.env
        refusal = self._check_scope(app, env)
        requester = refusal or identify(self.settings, user_id, self.links)
        if isinstance(requester, Refusal):
            return requester.text
        task = ScopeTask(
            app=app,
            env=env,
            requester=requester,
            lifting=not freezing,
            response_url=response_url,
            reason=command.reason if freezing else "",
            at=self.clock(),
        )
        refused = self.pipeline.accept(task)
        if refused is not None:
            return refused
        return messages.freezing(app, env) if freezing else messages.unfreezing(app, env)

    def _check_scope(self, app: str, env: str) -> Refusal | None:
        if env != ALL and self.settings.environment(env) is None:
            return Refusal(messages.unknown_environment(env, self.settings.environment_names))
        if app == ALL:
            return None
        if env != ALL:
            return check_target(self.settings, self.charts.apps, self.charts.is_usable(), app, env)
        if not is_valid_app_name(app):
            return Refusal(messages.not_an_app_name(app))
        if not any(app in self.charts.apps(name) for name in self.settings.environment_names):
            return Refusal(messages.not_an_app_anywhere(app))
        return None

    def run_scope(self, task: ScopeTask) -> None:
        """A freeze's or an unfreeze's step in the pipeline; safe to run again after a crash."""
        if not self._teams_allow(task, "unfreeze" if task.lifting else "freeze"):
            return
        if task.lifting:
            self._unfreeze(task)
        else:
            self._freeze(task)

    def _teams_allow(self, task: ScopeTask, verb: str) -> bool:
        """The team of every environment the scope names, checked live; a refusal is told and recorded."""
        names = self.settings.environment_names if task.env == ALL else [task.env]
        for name in names:
            membership = self.teams.check(task.requester.login, self.settings.environment(name).team)
            if not membership.member:
                self.pipeline.refuse(task, team_refusal(self.settings, task.requester.login, name, membership, verb))
                return False
        return True

    def _freeze(self, task: ScopeTask) -> None:
        freeze = Freeze(task.app, task.env, task.requester, task.at, task.reason)
        replaced = self.freezes.freeze(freeze)
        if replaced == freeze:
            replaced = None  # this same freeze, kept by an earlier run of this task before a crash
        # keyed on the task: a run again after a crash announces and audits it once
        self.audit.record(
            Action.FREEZE, actor=task.requester, app=task.app, env=task.env, reason=task.reason, once=task.task_id
        )
        announcement = messages.freeze_announcement(task.requester.mention, task.app, task.env, task.reason)
        self.notices.post(self.settings.alerts_channel, announcement, once=task.task_id)
        self.pipeline.finish(task, messages.frozen_reply(task.app, task.env, replaced is not None))

    def _unfreeze(self, task: ScopeTask) -> None:
        app, env = task.app, task.env
        if task.lifted is None:
            current = self.freezes.get(app, env)
            if current is not None:
                task = replace(task, lifted=current.to_json())
                if not self.pipeline.note(task):  # what it lifts, written down before it is lifted
                    return
        lifted = Freeze.from_json(task.lifted) if task.lifted is not None else None
        if lifted is not None:
            self.freezes.lift(lifted)
        overlapping = [f for f in self.freezes.all() if _overlaps(f, app, env)]
        described = [
            messages.still_frozen_words(f.app, f.env, messages.freeze_words(f.by.mention, f.by.login, f.at, f.reason))
            for f in overlapping
        ]
        if lifted is None:
            self.pipeline.finish(task, messages.no_such_freeze(app, env, described))
            return
        reason = lifted.reason or None  # keyed on the task: a run again after a crash announces and audits it once
        self.audit.record(Action.UNFREEZE, actor=task.requester, app=app, env=env, reason=reason, once=task.task_id)
        announcement = messages.unfreeze_announcement(task.requester.mention, app, env)
        self.notices.post(self.settings.alerts_channel, announcement, once=task.task_id)
        self._offer_held(lifted)
        self.pipeline.finish(task, messages.unfrozen_reply(app, env, described))

    def freeze_after_rollback(self, app: str, env: str, by: Requester, reason: str) -> None:
        """After a rollback the app stays where it was put until someone unfreezes it."""
        self.freezes.freeze(Freeze(app, env, by, self.clock(), reason))
        self.audit.record(Action.FREEZE, actor=by, app=app, env=env, reason=reason)
        self.notices.post(self.settings.alerts_channel, messages.freeze_announcement(by.mention, app, env, reason))


class _Taking:
    """Let a hold go, once its deploy is recorded (the pipeline's `before_start`); remembers if it did."""

    def __init__(self, holds: Holds, hold: Hold) -> None:
        self.holds, self.hold, self.done = holds, hold, False

    def __call__(self) -> bool:
        self.done = self.holds.take(self.hold)
        return self.done


def request_place(hold: Hold) -> tuple[str, str, str]:
    return hold.app, hold.tag, hold.env


def _overlaps(freeze: Freeze, app: str, env: str) -> bool:
    apps = ALL in (freeze.app, app) or freeze.app == app
    envs = ALL in (freeze.env, env) or freeze.env == env
    return apps and envs
