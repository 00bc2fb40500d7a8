"""The deploy rules (SPEC §5 and §7): who may deploy what where, and what happens when they do.

Requests arrive from the slash command, the promote button, CI and automatic promotion, and
all take the same path: the quick checks answer at once (they need no I/O), then a background
job asks GitHub about the team, hands the change to the charts writer and tells the requester
and the card how it ended. Nothing slow ever runs on the thread that acknowledges Slack.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace

from bot import commands
from bot.buttons import ButtonSigner, PromoteStep
from bot.cards import clock_time
from bot.charts import Change, ChartsRepo, Outcome
from bot.config import Settings
from bot.metrics import Metrics
from bot.names import close_names, is_valid_app_name, is_valid_image_tag, shown
from bot.releases import CI, ReleaseBook, Requester, mention
from bot.store import Store, StoreError
from bot.teams import Membership

log = logging.getLogger(__name__)

Reply = Callable[[str | None, str], None]  # (response_url, text): an ephemeral reply to the requester
PROMOTION_RECORD_SECONDS = 30 * 24 * 3600


@dataclass(frozen=True)
class DeployJob:
    app: str
    env: str
    tag: str | None  # None: promote whatever the previous environment runs
    requester: Requester
    response_url: str | None = None  # None when nobody is waiting for an answer (CI, automatic promotion)
    promote_deployment: bool = False
    source_env: str | None = None
    automatic: bool = False
    deploy_id: str = field(default_factory=lambda: uuid.uuid4().hex[:16])


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
        metrics: Metrics,
        clock: Callable[[], float],
        reply: Reply,
        instance: str = "local",
        workers: int = 8,
    ) -> None:
        self.reply = reply
        self.instance = instance
        self.settings = settings
        self.store = store
        self.charts = charts
        self.teams = teams
        self.book = book
        self.signer = signer
        self.metrics = metrics
        self.clock = clock
        self.jobs = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="deploy")
        self._in_flight = 0
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

    def _spawn(self, work: Callable, *args: object) -> None:
        self._track(+1)
        self.jobs.submit(self._guarded, work, *args)

    # -- the slash command (runs on the ack path: no I/O) ----------------------------------

    def command(self, text: str, user_id: str, response_url: str | None) -> str:
        """Answer `/deploy <text>` at once; slow work continues in the background."""
        command = commands.parse(text)
        self.metrics.commands.labels(type(command).__name__.lower()).inc()
        if isinstance(command, commands.Help):
            return commands.USAGE
        if isinstance(command, commands.Unparsed):
            return f"{command.reason}\n\n{commands.USAGE}"
        if isinstance(command, commands.Deploy):
            problem = self._check_target(command.app, command.env) or _check_tag(command.tag)
            app, tag, env, source = command.app, command.tag, command.env, None
        else:
            problem = self._check_target(command.app, command.env) or self._check_has_previous(command.env)
            app, tag, env = command.app, None, command.env
            source = None if problem else self.settings.previous_environment(env).name
        if problem:
            return problem
        requester, problem = self._requester(user_id)
        if problem:
            return problem
        job = DeployJob(app=app, env=env, tag=tag, requester=requester, response_url=response_url, source_env=source)
        self._spawn(self._run, job)
        if tag is None:
            return f":hourglass_flowing_sand: Promoting *{app}* to *{env}* (the tag {source} runs)…"
        return f":hourglass_flowing_sand: Deploying *{app}* `{tag}` to *{env}*…"

    def _check_target(self, app: str, env: str) -> str | None:
        if self.settings.environment(env) is None:
            return (
                f"I don't know the environment `{shown(env)}`. "
                f"Environments: {', '.join(self.settings.environment_names)}."
            )
        if not is_valid_app_name(app):
            return (
                f"`{shown(app)}` is not an app name: app names are lower-case letters, digits and dashes, "
                "like `whitehall` or `publishing-api`."
            )
        not_ready = self.charts.is_usable()
        if not_ready:
            return f"I can't deploy right now: {not_ready}. Try again in a minute."
        apps = self.charts.apps(env)
        if app not in apps:
            suggestions = close_names(app, apps)
            hint = f" Did you mean {' or '.join(f'`{s}`' for s in suggestions)}?" if suggestions else ""
            return (
                f"There is no app called `{app}` in {env}.{hint} "
                f"Apps are the files in `{self.settings.image_tags_path}/{env}/` of the charts repository."
            )
        return None

    def _check_has_previous(self, env: str) -> str | None:
        if self.settings.previous_environment(env) is None:
            return (
                f"{env} is the first environment, so there is nothing to promote from. "
                f"Deploy a tag there with `/deploy <app> <tag> {env}`."
            )
        return None

    def _requester(self, user_id: str) -> tuple[Requester, str | None]:
        login = self.settings.users.get(user_id)
        if login is None:
            return CI, (
                f"Your Slack account (`{shown(user_id, 20)}`) is not linked to a GitHub login, so I can't check "
                f"your GitHub team membership. {self.settings.user_admins_hint}"
            )
        return Requester(slack_user=user_id, login=login), None

    # -- the promote button ----------------------------------------------------------------

    def click(self, value: object, user_id: str, response_url: str | None) -> str | None:
        """A click on a promote button; an immediate refusal, or None when it goes on in the background."""
        step = self.signer.decode(value)
        if step is None or self.settings.environment(step.from_env) is None:
            return "That button is not one of mine, or it has been tampered with. Nothing was done."
        following = self.settings.next_environment(step.from_env)
        if following is None or following.name != step.to_env:
            return "That button no longer matches the configured environments. Nothing was done."
        problem = self._check_target(step.app, step.to_env)
        if problem:
            return problem
        requester, problem = self._requester(user_id)
        if problem:
            return problem
        job = DeployJob(
            app=step.app,
            env=step.to_env,
            tag=step.tag,
            requester=requester,
            response_url=response_url,
            source_env=step.from_env,
        )
        self._spawn(self._run, job, True)
        return None

    # -- CI and automatic promotion -------------------------------------------------------

    def ci_deploy(self, app: str, env: str, tag: str, promote_deployment: bool, source_env: str | None = None) -> None:
        """A deploy by CI; with `source_env`, a promotion of the tag that environment runs (checked again on commit)."""
        job = DeployJob(
            app=app, env=env, tag=tag, requester=CI, promote_deployment=promote_deployment, source_env=source_env
        )
        self._spawn(self._run, job)

    def tests_passed(self, app: str, tag: str, env: str, application: str) -> None:
        """Promote automatically when the environment's image-tag file asks for it, as GOV.UK's post-sync does."""
        following = self.settings.next_environment(env)
        if following is None or application.startswith("draft-"):
            return
        self._spawn(self._auto_promote, app, tag, env, following.name)

    def _auto_promote(self, app: str, tag: str, env: str, to_env: str) -> None:
        # Decide from the writer's snapshot, fetched only if the branch moved: in a burst of passing
        # tests one fetch serves them all, instead of one each holding up the deploys behind it.
        self.charts.catch_up()
        known = self.charts.current(env, app)
        if self.charts.current_tag(to_env, app) == tag or (known is not None and known.image_tag != tag):
            self.book.touch(app, tag)  # the charts repo says the card's button must go
            return
        if known is None or not known.promotes_automatically:
            return
        flags = self.charts.read(env, app, fresh=True)  # about to promote: confirm on the fresh head
        if flags is None or not flags.promotes_automatically or flags.image_tag != tag:
            return
        job = DeployJob(
            app=app, env=to_env, tag=tag, requester=CI, promote_deployment=True, source_env=env, automatic=True
        )
        self._run(job, require_tests=True)

    # -- the background part --------------------------------------------------------------

    def _guarded(self, work: Callable, *args: object) -> None:
        """Run one step of a request; whatever happens, the request is answered and counted down."""
        job = next((a for a in args if isinstance(a, DeployJob)), None)
        try:
            work(*args)
        except StoreError:
            log.warning("state store unavailable during a deploy step")
            if job is not None:
                self._tell(job, "The bot's state store is unavailable, so nothing was done. Try again in a minute.")
        except Exception:  # a job must never die silently; the requester hears something
            log.exception("deploy job failed")
            if job is not None:
                self._tell(job, ":x: Something went wrong inside the bot; nothing was committed. Please try again.")
        finally:
            self._track(-1)

    def _run(self, job: DeployJob, require_tests: bool = False) -> None:
        env = self.settings.environment(job.env)
        assert env is not None
        if job.requester.is_person:
            membership = self.teams.check(job.requester.login, env.team)
            if not membership.member:
                self.metrics.deploys.labels("refused").inc()
                self._tell(job, self._team_refusal(job, env.team, membership))
                return
        if job.source_env is not None and job.tag is None:
            source = self.charts.read(job.source_env, job.app, fresh=True)
            if source is None or not source.image_tag or not is_valid_image_tag(source.image_tag):
                self._tell(job, f"{job.app} has no image tag in {job.source_env}, so there is nothing to promote.")
                return
            job = replace(job, tag=source.image_tag)
        if job.source_env is not None:
            self._promote(job, require_tests)
            return
        self._commit(job, claim=None)

    def _promote(self, job: DeployJob, require_tests: bool) -> None:
        assert job.tag is not None and job.source_env is not None
        step = PromoteStep(job.app, job.tag, job.source_env, job.env)
        try:
            doc = self.book.get(job.app, job.tag) or {"envs": {}}
        except StoreError:
            self._tell(job, "The state store is unavailable, so I can't promote safely right now. Nothing was done.")
            return
        if require_tests and (doc["envs"].get(step.from_env) or {}).get("state") != "tests_passed":
            self._tell(
                job, f"{job.app} {job.tag} has not passed its tests in {step.from_env}, so it can't be promoted."
            )
            return
        claim = self.store.key("promotion", job.app, job.tag, job.env)
        record = {"by": job.requester.as_dict(), "at": self.clock(), "done": False}
        try:
            taken = self.store.claim(claim, PROMOTION_RECORD_SECONDS, json.dumps(record))
            earlier = None if taken else self.store.get_json(claim)
            if earlier and earlier.get("done") and self._rolled_back(job):
                # the earlier promotion no longer stands (the environment was moved off the tag since)
                self.store.client.delete(claim)
                taken = self.store.claim(claim, PROMOTION_RECORD_SECONDS, json.dumps(record))
                earlier = None if taken else self.store.get_json(claim)
        except StoreError:
            self._tell(job, "The state store is unavailable, so I can't promote safely right now. Nothing was done.")
            return
        if not taken:
            if earlier is None:
                self._tell(job, "Someone else is promoting this release at this moment. Nothing more was done.")
                return
            by = "CI automatically" if not earlier["by"].get("slack_user") else mention(earlier["by"])
            verb = "promoted" if earlier.get("done") else "started promoting"
            self._tell(
                job,
                f"{job.app} {job.tag} was already {verb} to {job.env} by {by} at {clock_time(earlier['at'])}. "
                "Nothing more was done.",
            )
            return
        self._commit(job, claim=(claim, record))

    def _rolled_back(self, job: DeployJob) -> bool:
        current = self.charts.read(job.env, job.app, fresh=True)
        return current is not None and current.image_tag != job.tag

    def _commit(self, job: DeployJob, claim: tuple[str, dict] | None) -> None:
        change = Change(
            env=job.env,
            app=job.app,
            tag=job.tag,
            promote_deployment=job.promote_deployment,
            requested_by=job.requester.trailer,
            deploy_id=job.deploy_id,
            source_env=job.source_env,
            expected_source_tag=job.tag if job.source_env else None,
        )
        self._journal(job, claim)
        self._track(+1)
        future = self.charts.submit(change)
        future.add_done_callback(lambda done: self._guarded(self._finish, job, claim, done.result()))

    def _finish(self, job: DeployJob, claim: tuple[str, dict] | None, outcome: Outcome) -> None:
        self.metrics.deploys.labels(outcome.status).inc()
        try:
            self.store.client.hdel(self.journal_key, job.deploy_id)
        except StoreError:
            log.warning("could not clear deploy %s from the journal; recovery will settle it", job.deploy_id)
        tag = outcome.tag or job.tag
        if outcome.committed:
            assert tag is not None and outcome.commit is not None
            self._tell(
                job,
                f":white_check_mark: Committed *{job.app}* `{tag}` to *{job.env}* (commit `{outcome.commit[:7]}`). "
                f"Argo CD will sync it; the card in #{self.settings.alerts_channel} shows how it goes.",
            )
            try:
                if claim is not None:
                    self.store.set_json(claim[0], {**claim[1], "done": True}, PROMOTION_RECORD_SECONDS)
                self.book.deploy_requested(
                    job.app, tag, job.env, job.requester, commit=outcome.commit, automatic=job.automatic
                )
                if job.source_env is not None:
                    self.book.mark_promoted(job.app, tag, job.source_env, job.env, job.requester, self.clock())
            except StoreError as error:
                log.error(
                    "deploy of %s %s to %s landed but its card could not be updated: %s", job.app, tag, job.env, error
                )
            return
        if claim is not None:
            self._release_claim(claim[0])
        if job.source_env is not None and tag is not None:
            self._settle_card_after_promotion(job, tag, outcome)
        if outcome.status == "unchanged":
            self._tell(job, f"{job.env} already runs *{job.app}* `{tag}`. Nothing was committed.")
        elif outcome.status == "refused":
            self._tell(
                job, f"I didn't deploy *{job.app}* `{tag}` to *{job.env}*: {outcome.reason}. Nothing was committed."
            )
        else:
            self._tell(
                job,
                f":x: The deploy of *{job.app}* `{tag}` to *{job.env}* failed: {outcome.reason}. "
                "Nothing was committed; try again in a minute.",
            )
            if tag is not None:
                self.book.deploy_failed(job.app, tag, job.env, job.requester, outcome.reason)

    # -- the journal: no accepted deploy is forgotten, even when a replica dies mid-push ------

    @property
    def journal_key(self) -> str:
        return self.store.key("deploy-journal")

    def _journal(self, job: DeployJob, claim: tuple[str, dict] | None) -> None:
        """Record the deploy before git sees it, so a replica that dies mid-push leaves a trace."""
        entry = {"owner": self.instance, "job": {**job.__dict__, "requester": job.requester.as_dict()}}
        entry["claim"] = list(claim) if claim else None
        self.store.client.hset(self.journal_key, job.deploy_id, json.dumps(entry))

    def recover_orphans(self) -> int:
        """Settle deploys whose replica died before answering: report each as landed or failed."""
        entries = self.store.client.hgetall(self.journal_key)
        orphans = {}
        for deploy_id, raw in entries.items():
            entry = json.loads(raw)
            if entry["owner"] != self.instance and not self.store.is_alive(entry["owner"]):
                orphans[deploy_id] = entry
        if not orphans:
            return 0
        for owner in {entry["owner"] for entry in orphans.values()}:
            if self.store.break_lock("charts-writer", owner):
                log.warning("freed the charts lock held by replica %s, which is gone", owner)
        landed = self.charts.landed(set(orphans))
        for deploy_id, entry in orphans.items():
            fields = entry["job"]
            job = DeployJob(**{**fields, "requester": Requester.from_dict(fields["requester"]) or CI})
            claim = tuple(entry["claim"]) if entry.get("claim") else None
            if deploy_id in landed:
                outcome = Outcome("committed", job.tag, commit=landed[deploy_id])
            else:
                outcome = Outcome("failed", job.tag, reason="the bot restarted before the commit was pushed")
            log.warning("settling deploy %s of %s %s to %s: %s", deploy_id, job.app, job.tag, job.env, outcome.status)
            self._track(+1)
            self._guarded(self._finish, job, claim, outcome)
        return len(orphans)

    def _tell(self, job: DeployJob, text: str) -> None:
        if job.response_url:
            self.reply(job.response_url, text)

    def _settle_card_after_promotion(self, job: DeployJob, tag: str, outcome: Outcome) -> None:
        """A promotion that found nothing to do: the card must stop offering it."""
        if outcome.status == "unchanged":
            self.book.mark_promoted(job.app, tag, job.source_env, job.env, None, self.clock())
        elif outcome.status == "refused":
            self.book.touch(job.app, tag)

    def _release_claim(self, key: str) -> None:
        try:
            self.store.client.delete(key)
        except StoreError:
            log.warning("could not release promotion claim %s; it expires by itself", key)

    def _team_refusal(self, job: DeployJob, team: str, membership: Membership) -> str:
        login, org = job.requester.login, self.settings.github_org
        if membership.github_unreachable:
            return (
                f"I couldn't check whether @{login} is in the GitHub team {org}/{team}: {membership.reason}. "
                f"Deploying to {job.env} needs that team, so nothing was done (the bot fails closed). "
                "Try again in a minute."
            )
        return (
            f"You can't deploy to {job.env}: {membership.reason}. Deploying to {job.env} needs active membership "
            f"of the GitHub team {org}/{team}. Nothing was done."
        )


def _check_tag(tag: str) -> str | None:
    if is_valid_image_tag(tag):
        return None
    return (
        f"`{shown(tag)}` is not an image tag: tags are letters, digits, `_`, `.` and `-` (up to 128), "
        "and start with a letter, digit or `_`, like `v3232` or a commit SHA."
    )
