"""The one pipeline every acknowledged task takes, from its acknowledgement to its requester's answer.

Deploys arrive from the slash command, the promote button, CI and automatic promotion; the other
kinds of task (a rollback, a freeze or unfreeze, an approval decision: `bot.deploys.tasks`) from
their own modules, which hand them to `accept`. The quick checks (`checks`, `identity`) answer at
once; then the task is recorded in the store (`journal`) before it is acknowledged, so that a crash
never loses it. The rest runs on this module's workers: for a deploy, the team check with GitHub,
the gates (freezes, windows, approvals), the promotion claim, the charts writer; for another kind,
its runner (`runners`). Every task ends the same way (`_final`): how it ended is written to its
entry, then said, then the entry goes. Nothing slow ever runs on the thread that acknowledges Slack.

A crash is no reason for a task to fail: a task whose replica died (or whose work a store outage
interrupted) is taken over by the recovery job, here or on another replica, and done again from
the start with every check made again (its steps are safe to run twice); it ends once and its
requester is told once.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

from bot import commands, messages
from bot.audit import Action, AuditTrail
from bot.buttons import ButtonSigner
from bot.config import Settings
from bot.deploys.checks import check_has_previous, check_tag, check_target, team_refusal
from bot.deploys.identity import Refusal, identify
from bot.deploys.journal import DeployJournal, Entry
from bot.deploys.promotions import Claim, Earlier, Promotions
from bot.deploys.request import DeployRequest
from bot.deploys.tasks import Task, task_kind
from bot.gitops.charts import ChartsRepo
from bot.gitops.writer import Change, Outcome
from bot.metrics import Metrics
from bot.names import is_valid_image_tag
from bot.releases.book import ReleaseBook
from bot.releases.model import CI
from bot.releases.transitions import DeployFailed, DeployRequested, Promoted, Refresh
from bot.store import Store, StoreError
from bot.teams import Membership

log = logging.getLogger(__name__)

Reply = Callable[..., None]  # (response_url, text[, blocks]): an ephemeral reply to the requester
# A check a request must pass after the team's: None to go on, or what to tell the requester when it stops
# there (a refusal, or word that it is held or waits for approval; the gate itself keeps what it must).
Gate = Callable[[DeployRequest], "str | None"]
MAX_AUTOMATIC_IN_FLIGHT = 200  # automatic promotions waiting at once; beyond this they are dropped, and logged
TOO_OLD_SECONDS = 10 * 60


class Deployer:
    def __init__(
        self,
        *,
        settings: Settings,
        store: Store,
        charts: ChartsRepo,
        teams: object,
        book: ReleaseBook,
        signer: ButtonSigner,
        journal: DeployJournal,
        audit: AuditTrail,
        metrics: Metrics,
        clock: Callable[[], float],
        reply: Reply,
        workers: int = 8,
        links: object | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.charts = charts
        self.teams = teams
        self.book = book
        self.signer = signer
        self.journal = journal
        self.audit = audit
        self.promotions = Promotions(store)
        self.metrics = metrics
        self.clock = clock
        self.reply = reply
        self.links = links  # accounts linked with `/deploy link`, consulted after the `users` map
        self.jobs = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="deploy")
        self.gates: list[Gate] = []  # checks after the team's, in order (freezes, windows, approvals)
        # buttons to offer with a team refusal (request_approval): (request, membership, text) -> Block Kit or None
        self.team_refusal_blocks: Callable[[DeployRequest, Membership, str], list | None] | None = None
        self.on_committed: list[Callable[[DeployRequest, Outcome], None]] = []  # after the card (rollbacks)
        # the step that does each other kind of task (bot.deploys.tasks): one pipeline, one more entry per kind
        self.runners: dict[str, Callable[[Task], None]] = {}
        # first of all after a commit, before the requester is told (which lets the request leave the
        # journal) and before the card: what a crash or a store error there must not lose (the Release app)
        self.on_landed: list[Callable[[DeployRequest, Outcome], None]] = []
        self._in_flight = 0  # steps running or queued, for wait_idle
        self._in_hand: set[str] = set()  # tasks this process is working on, which recovery leaves alone
        self._recorded_at: dict[str, float] = {}  # when each task in hand was recorded (who overtakes whom)
        self._automatic_in_flight = 0
        self._idle = threading.Condition()

    def stop(self) -> None:
        self.wait_idle(timeout=30)
        self.jobs.shutdown(wait=True)

    def wait_idle(self, timeout: float = 60.0) -> bool:
        """Wait until every accepted request has been answered (the console, tests, shutdown)."""
        with self._idle:
            return self._idle.wait_for(lambda: self._in_flight == 0, timeout=timeout)

    def _track(self, delta: int) -> None:
        with self._idle:
            self._in_flight += delta
            self._idle.notify_all()

    # -- on the ack path: quick checks, then the request is recorded before it is acknowledged ---------

    def deploy(self, command: commands.Deploy, user_id: str, response_url: str | None) -> str:
        """`/deploy <app> <tag> <env>`: the ack text; the deploy goes on in the background."""
        refusal = self._check_target(command.app, command.env) or check_tag(command.tag)
        requester = refusal or identify(self.settings, user_id, self.links)
        if isinstance(requester, Refusal):
            return self._refused_at_once(requester, user_id, command.app, command.env, command.tag)
        request = DeployRequest(
            app=command.app,
            env=command.env,
            tag=command.tag,
            requester=requester,
            response_url=response_url,
            force_reason=command.force_reason,
        )
        return self.accept(request) or messages.deploying(command.app, command.tag, command.env)

    def promote(self, command: commands.Promote, user_id: str, response_url: str | None) -> str:
        """`/deploy promote <app> [to] <env>`: the ack text; the promotion goes on in the background."""
        refusal = self._check_target(command.app, command.env) or check_has_previous(self.settings, command.env)
        requester = refusal or identify(self.settings, user_id, self.links)
        if isinstance(requester, Refusal):
            return self._refused_at_once(requester, user_id, command.app, command.env, None)
        source = self.settings.previous_environment(command.env).name
        request = DeployRequest(
            app=command.app,
            env=command.env,
            tag=None,
            requester=requester,
            response_url=response_url,
            source_env=source,
            require_tests=command.force_reason is None,  # what the button checks; --force overrides it
            force_reason=command.force_reason,
        )
        return self.accept(request) or messages.promoting(command.app, command.env, source)

    def click(self, value: object, user_id: str, response_url: str | None) -> str | None:
        """A click on a promote button; an immediate refusal, or None when it goes on in the background."""
        step = self.signer.decode(value)
        if step is None or self.settings.environment(step.from_env) is None:
            return self._refused_at_once(Refusal(messages.BUTTON_NOT_MINE), user_id, None, None, None)
        following = self.settings.next_environment(step.from_env)
        if following is None or following.name != step.to_env:
            return self._refused_at_once(Refusal(messages.BUTTON_STALE_ENVIRONMENTS), user_id, step.app, None, step.tag)
        requester = self._check_target(step.app, step.to_env) or identify(self.settings, user_id, self.links)
        if isinstance(requester, Refusal):
            return self._refused_at_once(requester, user_id, step.app, step.to_env, step.tag)
        request = DeployRequest(
            app=step.app,
            env=step.to_env,
            tag=step.tag,
            requester=requester,
            response_url=response_url,
            source_env=step.from_env,
            require_tests=True,
            from_button=True,
        )
        return self.accept(request)

    def ci_deploy(self, app: str, env: str, tag: str, promote_deployment: bool, source_env: str | None = None) -> bool:
        """A deploy from CI; with `source_env`, a promotion of the tag that environment runs (checked again
        on commit, and its tests too where the bot reads them). False when it could not be recorded."""
        request = DeployRequest(
            app=app,
            env=env,
            tag=tag,
            requester=CI,
            promote_deployment=promote_deployment,
            source_env=source_env,
            require_tests=source_env is not None and source_env in self.settings.workflows_tokens,
        )
        return self.accept(request) is None

    def accept(self, task: Task, *, before_start: Callable[[], bool] | None = None) -> str | None:
        """Record the task (a deploy or any other kind), then start it; None once it is safely recorded,
        else the words to say. With `before_start`, a step that must follow the record and precede the
        work (taking a held deploy off its hold): when it says False, the task is dropped unstarted."""
        at = self.clock()
        with self._idle:
            self._in_hand.add(task.task_id)  # before it is recorded, so recovery never takes it from us
            self._recorded_at[task.task_id] = at
        try:
            self.journal.record(task, at)
        except StoreError as error:
            self._let_go(task)
            log.warning("could not record a %s, so it was refused: %s", task_kind(task), error)
            return messages.STORE_DOWN
        if before_start is not None:
            try:
                go_on = before_start()
            except StoreError:
                self._let_go(task)  # recorded: the recovery job redoes it, every check made again
                raise
            if not go_on:
                self._let_go(task)
                self._forget(task)
                return None
        if isinstance(task, DeployRequest):
            self._audit_requested(task)
        self._start(task)
        return None

    def _audit_requested(self, request: DeployRequest) -> None:
        self.audit.defer(
            Action.DEPLOY_REQUESTED,
            actor=request.requester,
            app=request.app,
            env=request.env,
            tag=request.tag,
            deploy_id=request.deploy_id,
            source_env=request.source_env,
            **({"rollback_of": request.rollback_of} if request.rollback_of else {}),
        )

    def _start(self, task: Task) -> None:
        with self._idle:
            self._in_hand.add(task.task_id)
        self._track(+1)
        if isinstance(task, DeployRequest):
            step = self._auto_promote if task.automatic else self._run
        else:
            step = self.runners[task_kind(task)]
        self.jobs.submit(self._guarded, task, step)

    def _refused_at_once(
        self, refusal: Refusal, user_id: str, app: str | None, env: str | None, tag: str | None
    ) -> str:
        actor = {"slack": user_id, "github": self.settings.users.get(user_id)}
        self.audit.defer(Action.DEPLOY_REFUSED, actor=actor, app=app, env=env, tag=tag, reason=refusal.text)
        return refusal.text

    def _check_target(self, app: str, env: str) -> Refusal | None:
        return check_target(self.settings, self.charts.apps, self.charts.is_usable(), app, env)

    # -- automatic promotion -------------------------------------------------------------------------------

    def tests_passed(self, app: str, tag: str, env: str) -> None:
        """Promote automatically when the environment's image-tag file asks for it, as GOV.UK's post-sync does."""
        following = self.settings.next_environment(env)
        if following is None:
            return
        with self._idle:
            if self._automatic_in_flight >= MAX_AUTOMATIC_IN_FLIGHT:
                log.error("too many automatic promotions waiting; not promoting %s %s from %s", app, tag, env)
                return
            self._automatic_in_flight += 1
        request = DeployRequest(
            app=app,
            env=following.name,
            tag=tag,
            requester=CI,
            promote_deployment=True,
            source_env=env,
            automatic=True,
            require_tests=True,
        )
        if self.accept(request) is not None:
            with self._idle:
                self._automatic_in_flight -= 1
            log.error("automatic promotion of %s %s to %s could not be recorded", app, tag, following.name)
            # the webhook answers 503, and its retry promotes (Outcomes.tests: a promotion still owed)
            raise StoreError(f"automatic promotion of {app} {tag} to {following.name} could not be recorded")

    def _auto_promote(self, request: DeployRequest) -> None:
        try:
            if self._promotion_is_due(request):
                self._run(request)
            else:
                self._let_go(request)  # nothing to do: nobody waits for an answer
                self._forget(request)
        finally:
            with self._idle:
                self._automatic_in_flight = max(0, self._automatic_in_flight - 1)

    def _promotion_is_due(self, request: DeployRequest) -> bool:
        app, tag, env, to_env = request.app, request.tag, request.source_env, request.env
        # Decide from the writer's snapshot, fetched only if the branch moved: in a burst of passing
        # tests one fetch serves them all, instead of one each holding up the deploys behind it.
        self.charts.catch_up()
        known = self.charts.current(env, app)
        if self.charts.current_tag(to_env, app) == tag or (known is not None and known.image_tag != tag):
            self.book.apply(app, tag, Refresh())  # the charts repo says the card's button must go
            return False
        if known is None or not known.promotes_automatically:
            return False
        flags = self.charts.read(env, app, fresh=True)  # about to promote: confirm on the fresh head
        return flags is not None and flags.promotes_automatically and flags.image_tag == tag

    # -- in the background -------------------------------------------------------------------------------------

    def _guarded(self, task: Task, step: Callable[[Task], None]) -> None:
        """Run one step of a task; whatever happens, the task is answered or left for recovery."""
        try:
            step(task)
        except StoreError as error:
            # recorded, so not lost: the recovery job finishes it once the store answers again
            log.warning(
                "state store unavailable during %s %s (%s); it will be finished later",
                task_kind(task), task.task_id, error,
            )  # fmt: skip
            self._let_go(task)
        except Exception:  # a task must never die silently; the requester hears something
            log.exception("%s %s failed", task_kind(task), task.task_id)
            self._final(task, messages.SOMETHING_WENT_WRONG)
        finally:
            self._track(-1)

    def _run(self, request: DeployRequest) -> None:
        env = self.settings.environment(request.env)
        if request.requester.is_person:
            # an approved request stands on its approver's membership, checked live again
            membership = self.teams.check((request.approved_by or request.requester).login, env.team)
            if not membership.member:
                self.metrics.deploys.labels("refused").inc()
                text = team_refusal(self.settings, request.requester.login, request.env, membership)
                blocks = self.team_refusal_blocks and self.team_refusal_blocks(request, membership, text)
                self._refused(request, text, blocks)
                return
        if request.is_promotion and request.tag is None:
            source = self.charts.read(request.source_env, request.app, fresh=True)
            if source is None or not source.image_tag or not is_valid_image_tag(source.image_tag):
                self._refused(request, messages.nothing_to_promote(request.app, request.source_env))
                return
            request = replace(request, tag=source.image_tag)
            if not self.journal.update(request):  # recovery and the audit must know the tag it resolved to
                self._let_go(request)
                return
        for gate in self.gates:
            stopped = gate(request)
            if stopped is not None:
                self._final(request, stopped)  # the gate keeps its own record of why
                return
        if request.is_promotion:
            self._promote(request)
        else:
            self._submit(request, claim=None)

    def _promote(self, request: DeployRequest) -> None:
        app, tag, env, source_env = request.app, request.tag, request.env, request.source_env
        release = self.book.get(app, tag)
        entry = release.envs.get(source_env) if release else None
        if request.require_tests and (entry is None or not entry.ready_to_promote):
            state = entry.state.code if entry and entry.state else None
            forceable = env if request.requester.is_person else None
            self._refused(request, messages.tests_not_passed(app, tag, source_env, state, forceable))
            return
        taken = self.promotions.claim(app, tag, env, request.requester, self.clock(), request.deploy_id)
        if isinstance(taken, Earlier) and taken.deploy_id == request.deploy_id:
            taken = Claim(self.promotions.key(app, tag, env), taken.raw)  # ours, from before a restart
        elif isinstance(taken, Earlier) and taken.done and self._may_promote_again(request):
            # the earlier promotion no longer stands (the environment was moved off the tag since)
            taken = self.promotions.take_over(app, tag, env, taken, request.requester, self.clock(), request.deploy_id)
        if isinstance(taken, Earlier):
            by = taken.by.mention if taken.by.is_person else messages.PROMOTED_BY_CI
            self._refused(request, messages.already_promoted(app, tag, env, by, taken.done, taken.at))
            return
        if taken is None:
            self._refused(request, messages.PROMOTION_IN_PROGRESS)
            return
        try:
            kept = self.journal.keep_claim(request.deploy_id, (taken.key, taken.record))
        except StoreError:
            self._release_claim(taken)  # nothing will be committed now: nobody may be kept from promoting it
            raise
        if not kept:
            self._release_claim(taken)  # another replica owns this request now; it claims for itself
            self._let_go(request)
            return
        self._submit(request, taken)

    def _may_promote_again(self, request: DeployRequest) -> bool:
        """Only a typed `/deploy promote` or CI may promote a release again once the next environment moved
        off it; a button, or the bot by itself, promotes once, ever: going back is a rollback or a typed deploy."""
        return not (request.from_button or request.automatic) and self._moved_off(request)

    def _moved_off(self, request: DeployRequest) -> bool:
        current = self.charts.read(request.env, request.app, fresh=True)
        return current is not None and current.image_tag != request.tag

    def _submit(self, request: DeployRequest, claim: Claim | None) -> None:
        with self._idle:
            recorded_at = self._recorded_at.get(request.deploy_id, self.clock())
        self.journal.going_ahead(request, recorded_at)
        change = Change(
            env=request.env,
            app=request.app,
            tag=request.tag,
            promote_deployment=request.promote_deployment,
            requested_by=request.requester.trailer,
            deploy_id=request.deploy_id,
            source_env=request.source_env,
            expected_source_tag=request.tag if request.is_promotion else None,
            approved_by=request.approved_by.trailer if request.approved_by else None,
            rollback_of=request.rollback_of,
        )
        self._track(+1)
        future = self.charts.submit(change)
        future.add_done_callback(lambda done: self._guarded(request, lambda r: self._finish(r, claim, done.result())))

    def _finish(self, request: DeployRequest, claim: Claim | None, outcome: Outcome) -> None:
        if outcome.status == "taken_over":
            self._let_go(request)  # another replica took this deploy over while we were paused; it answers
            return
        if outcome.status == "unknown":
            mine = self.journal.set_aside(request.deploy_id)  # the recovery job finds out and answers
            self._let_go(request)
            if mine:  # taken over while the push hung: the owner answers, and this replica says nothing
                self._tell(request, messages.push_unknown(request.app, request.tag, request.env, outcome.reason))
            return
        if request.deploy_id not in self.journal.owned([request.deploy_id]):
            self._let_go(request)
            log.warning("deploy %s was taken over by another replica; it tells the requester", request.deploy_id)
            return
        self._report(request, claim, outcome)

    def _report(self, request: DeployRequest, claim: Claim | None, outcome: Outcome) -> None:
        self.metrics.deploys.labels(outcome.status).inc()
        app, env = request.app, request.env
        tag = outcome.tag or request.tag
        self._audit_outcome(request, tag, outcome)
        if outcome.committed:
            for hook in self.on_landed:
                try:
                    hook(request, outcome)
                except Exception:  # one hook's fault must not keep the requester from hearing
                    log.exception("after the deploy of %s %s to %s landed", app, tag, env)
            self._final(request, messages.committed(app, tag, env, outcome.commit, self.settings.alerts_channel))
            try:
                if claim is not None:
                    self.promotions.done(claim)
                requested = DeployRequested(env, request.requester, outcome.commit, request.automatic, outcome.made_at)
                self.book.apply(app, tag, requested)  # made_at: outcomes since then are newer (fault 13)
                if request.is_promotion:
                    self.book.apply(app, tag, Promoted(request.source_env, env, request.requester, self.clock()))
                for hook in self.on_committed:
                    hook(request, outcome)
            except StoreError as error:
                log.error("deploy of %s %s to %s landed but its card could not be updated: %s", app, tag, env, error)
            return
        if claim is not None:
            self._release_claim(claim)
        if request.is_promotion and tag is not None:
            self._settle_card_after_promotion(request, tag, outcome)
        if outcome.status == "unchanged":
            self._final(request, messages.already_runs(app, tag, env))
        elif outcome.status == "refused":
            self._final(request, messages.deploy_refused(app, tag, env, outcome.reason))
        else:
            self._final(request, messages.deploy_failed(app, tag, env, outcome.reason))
            if tag is not None:
                self.book.apply(app, tag, DeployFailed(env, request.requester, outcome.reason))

    def _audit_outcome(self, request: DeployRequest, tag: str | None, outcome: Outcome) -> None:
        common = {"actor": request.requester, "app": request.app, "env": request.env, "tag": tag}
        common["deploy_id"] = request.deploy_id
        if outcome.committed:
            self.audit.record(Action.DEPLOY_COMMITTED, commit=outcome.commit, **common)
            if request.is_promotion:
                self.audit.record(Action.PROMOTED, source_env=request.source_env, automatic=request.automatic, **common)
        elif outcome.status == "unchanged":
            reason = f"{request.env} already runs {tag}"
            self.audit.record(Action.DEPLOY_REFUSED, outcome="unchanged", reason=reason, **common)
        elif outcome.status == "refused":
            self.audit.record(Action.DEPLOY_REFUSED, reason=outcome.reason, **common)
        else:
            self.audit.record(Action.DEPLOY_FAILED, reason=outcome.reason, **common)

    def _settle_card_after_promotion(self, request: DeployRequest, tag: str, outcome: Outcome) -> None:
        """A promotion that found nothing to do: the card must stop offering it."""
        if outcome.status == "unchanged":
            self.book.apply(request.app, tag, Promoted(request.source_env, request.env, None, self.clock()))
        elif outcome.status == "refused":
            self.book.apply(request.app, tag, Refresh())

    # -- ending a task: its words kept in the journal until they are out, so it is told once ------------------

    def _let_go(self, task: Task) -> None:
        with self._idle:
            self._in_hand.discard(task.task_id)
            self._recorded_at.pop(task.task_id, None)

    def _final(self, task: Task, text: str, blocks: list | None = None, *, also: Words = ()) -> None:
        """Tell the requester how it ended (and, with `also`, others: an approver and the person they
        approved), once: only the replica that owns the task speaks, only once the words are written
        down, and the task leaves the journal (and this replica's hands) only once they are out."""
        words = [(task.response_url, text, blocks), *also]
        try:
            mine = self.journal.settle(task.task_id, _told(words))
        except StoreError as error:
            # unsaid and unwritten: the recovery job redoes the task, every check again, and says how
            # that ended; saying these words now could contradict it
            log.warning("could not write down how %s %s ended (%s); it is redone", task_kind(task), task.task_id, error)
            self._let_go(task)
            return
        if not mine:
            self._let_go(task)
            return
        self._say(words, then=lambda: self._forget(task))

    def finish(self, task: Task, text: str, *, also: Words = ()) -> None:
        """The last step of a task of another kind: how it ended, written down, then said."""
        self._final(task, text, also=also)

    def refuse(self, task: Task, text: str) -> None:
        """A task of another kind that stopped at a check: kept in the audit trail, then said."""
        self.audit.record(
            Action.DEPLOY_REFUSED, actor=task.requester, app=getattr(task, "app", None),
            env=getattr(task, "env", None), reason=text,
        )  # fmt: skip
        self._final(task, text)

    def note(self, task: Task) -> bool:
        """Write down what a step learnt before acting on it (an unfreeze: the freeze it lifts); False
        when another replica owns the task now (this one stops)."""
        if self.journal.update(task):
            return True
        self._let_go(task)
        return False

    def become(self, task: Task, request: DeployRequest) -> None:
        """A task that turns into a deploy (a rollback whose target is found): the same journal entry, now
        the deploy, recorded before anything is committed; then the deploy's own steps, here."""
        if not self.journal.update(request):
            self._let_go(task)  # another replica owns it now
            return
        self._audit_requested(request)
        self._run(request)

    def hand_over(self, task: Task, words: Words, following: DeployRequest) -> None:
        """End `task` with `words` and start `following` (an approved deploy), recorded in one step."""
        at = self.clock()
        with self._idle:
            self._in_hand.add(following.task_id)
            self._recorded_at[following.task_id] = at
        try:
            mine = self.journal.hand_over(task, _told(list(words)), following, at)
        except StoreError:
            self._let_go(following)
            raise
        if not mine:
            self._let_go(following)
            self._let_go(task)
            return
        self._say(list(words), then=lambda: self._forget(task))
        self._audit_requested(following)
        self._start(following)

    def _forget(self, task: Task) -> None:
        try:
            self.journal.finish(task.task_id)
        except StoreError as error:  # the recovery job says the words again rather than lose them
            log.warning("%s %s could not leave the journal: %s", task_kind(task), task.task_id, error)
        finally:
            self._let_go(task)

    def _refused(self, request: DeployRequest, text: str, blocks: list | None = None) -> None:
        """Tell the requester why nothing was done, and keep it in the audit trail."""
        self.audit.record_request(Action.DEPLOY_REFUSED, request, reason=text)
        self._final(request, text, blocks)

    def _say(self, words: list, *, then: Callable[[], None]) -> None:
        """Each (response_url, text, blocks); `then` once every one is out."""
        left = [len(words)]
        lock = threading.Lock()

        def one_done() -> None:
            with lock:
                left[0] -= 1
                last = left[0] == 0
            if last:
                then()

        for url, text, blocks in words:
            self.reply(url, text, blocks, then=one_done)

    def _release_claim(self, claim: Claim) -> None:
        try:
            self.promotions.release(claim)
        except StoreError:
            log.warning("could not release promotion claim %s; it expires by itself", claim.key)

    def _tell(self, request: Task, text: str, blocks: list | None = None) -> None:
        """Words that do not end the task (it goes on, or its fate is not known yet)."""
        if request.response_url:
            self.reply(request.response_url, text, blocks)

    # -- after a crash: finish what was acknowledged and not answered ------------------------------------------

    def recover(self) -> int:
        """Take over the tasks nobody is working on (their replica is gone, or a store outage or an
        unknown push interrupted them) and finish each; returns how many."""
        for owner in self.journal.dead_owners(self.store.is_alive):
            if self.store.break_lock("charts-writer", owner):
                log.warning("freed the charts lock held by replica %s, which is gone", owner)
        with self._idle:
            in_hand = set(self._in_hand)
        entries = self.journal.take_over(self.store.is_alive, in_hand)
        if not entries:
            return 0
        deploys = [entry for entry in entries if isinstance(entry.request, DeployRequest)]
        landed = self.charts.landed({entry.request.deploy_id for entry in deploys}) if deploys else {}
        newest: dict[tuple[str, str], float] = {}  # of the deploys taken over now, the newest per app and env
        for entry in deploys:
            place = (entry.request.app, entry.request.env)
            newest[place] = max(newest.get(place, entry.recorded_at), entry.recorded_at)
        for entry in entries:
            with self._idle:
                self._in_hand.add(entry.request.task_id)
                self._recorded_at[entry.request.task_id] = entry.recorded_at
            self._track(+1)
            self._guarded(entry.request, lambda request, e=entry: self._resume(e, landed, newest))
        return len(entries)

    def _resume(self, entry: Entry, landed: dict[str, str], newest: dict[tuple[str, str], float]) -> None:
        request = entry.request
        if entry.told is not None:  # it had ended; its replica died before the requester heard
            words = _words(entry.told, request.response_url)
            self._say(words, then=lambda: self._forget(request))
            return
        if not isinstance(request, DeployRequest):
            log.warning("finishing %s %s", task_kind(request), request.task_id)
            self._start(request)  # its steps again from the start: each is safe to run twice
            return
        claim = Claim(*entry.claim) if entry.claim else None
        if request.deploy_id in landed:
            log.warning("deploy %s of %s %s to %s had landed", request.deploy_id, request.app, request.tag, request.env)
            made_at = entry.recorded_at  # before its commit: outcomes recorded since are newer
            self._report(
                request, claim, Outcome("committed", request.tag, commit=landed[request.deploy_id], made_at=made_at)
            )
            return
        why = None
        if self.clock() - entry.recorded_at > TOO_OLD_SECONDS:
            why = messages.TOO_OLD_AFTER_RESTART
        elif (
            not self.journal.is_latest(request, entry.recorded_at)
            or newest.get((request.app, request.env), entry.recorded_at) > entry.recorded_at
        ):
            why = messages.OVERTAKEN_AFTER_RESTART
        if why is not None:
            if claim is not None:
                self._release_claim(claim)
            self.audit.record(
                Action.DEPLOY_FAILED, actor=request.requester, app=request.app, env=request.env, tag=request.tag,
                deploy_id=request.deploy_id, reason=why,
            )  # fmt: skip
            self._final(request, messages.not_done_after_restart(request.app, request.tag, request.env, why))
            return
        log.warning("finishing deploy %s of %s %s to %s", request.deploy_id, request.app, request.tag, request.env)
        self._start(request)  # from the start, every check made again


Words = "list[tuple[str | None, str, list | None]] | tuple"  # (response_url, text, blocks) for each person told


def _told(words: list) -> str:
    """How a task ended, as the journal keeps it: every person to tell and what."""
    return json.dumps({"say": [[url, text, blocks] for url, text, blocks in words]})


def _words(told: str, response_url: str | None) -> list:
    try:
        data = json.loads(told)
    except ValueError:
        data = None
    if isinstance(data, dict) and isinstance(data.get("say"), list):
        return [tuple(item) for item in data["say"]]
    return [(response_url, told, None)]  # written before the journal kept several
