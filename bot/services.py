"""The one place that builds the bot's objects and connects them.

`serve` and `console` both call `build`; they differ only in the chat service they pass
(Slack's Web API or the terminal) and, for the console, the sandbox's team checker.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from bot import cards, commands
from bot.argo.doorbell import Doorbell
from bot.argo.followups import FailureFollowUps
from bot.argo.reconcile import ArgoClients, Reconciler, argo_environments, recorded_application
from bot.argo.team_channels import TeamChannels
from bot.audit import AuditTrail
from bot.buttons import ButtonSigner
from bot.card_quota import CardQuota
from bot.chat.notices import NoticeBoard
from bot.chat.outbox import Outbox
from bot.chat.pacing import Pacer
from bot.chat.queue import CardQueue
from bot.chat.replies import Replies
from bot.chat.service import Chat
from bot.config import Settings
from bot.deploys.deployer import Deployer
from bot.deploys.journal import DeployJournal
from bot.deploys.tasks import AskTask, DecisionTask, RollbackTask, ScopeTask
from bot.gitops.charts import ChartsRepo
from bot.gitops.workdir import GitLimits
from bot.home.tab import HomeTab
from bot.identity.approvals import Approvals
from bot.identity.device_flow import GitHubDeviceFlow
from bot.identity.linking import Linking
from bot.identity.links import Links
from bot.identity.seal import Seal
from bot.intervals import PRODUCTION_INTERVALS, Intervals
from bot.metrics import Metrics
from bot.release_app import ReleaseApp
from bot.releases.book import ReleaseBook
from bot.releases.model import Release
from bot.releases.outcomes import ReleaseEvents
from bot.reports.digest import WeeklyDigest
from bot.reports.lookups import Lookups
from bot.reports.status import GitHubCompare, StatusBuilder, argocd_clients
from bot.router import Router
from bot.safety.freezes import Freezes
from bot.safety.gate import Safety
from bot.safety.holds import Holds
from bot.safety.rollback import Rollbacks
from bot.scheduler import build_scheduler, exclusive, local
from bot.store import Store, StoreUnavailable, connect
from bot.teams import TeamChecker

log = logging.getLogger(__name__)

CHARTS_LOCK_SECONDS = 60
DELIVERY_STATS_SECONDS = 900  # the delivery gauges: one read of the trail's last 8 weeks per replica
GITHUB_TIMEOUT = httpx.Timeout(3.0, connect=2.0)


@dataclass
class Services:
    settings: Settings
    store: Store
    charts: ChartsRepo
    book: ReleaseBook
    notices: NoticeBoard
    outbox: Outbox
    replies: Replies
    deployer: Deployer
    router: Router
    reconciler: Reconciler
    followups: FailureFollowUps
    argo: ArgoClients
    audit: AuditTrail
    events: ReleaseEvents
    signer: ButtonSigner
    metrics: Metrics
    http: httpx.Client
    instance: str
    scheduled: list[tuple[str, Callable[[], None], float]]
    scheduler: object | None = None
    intervals: Intervals = PRODUCTION_INTERVALS
    lookups: Lookups | None = None
    linking: Linking | None = None
    approvals: Approvals | None = None
    safety: Safety | None = None
    doorbell: Doorbell | None = None  # webhooks in environments the bot can read (SPEC 13)
    release_app: ReleaseApp | None = None
    team_channels: TeamChannels | None = None
    card_quota: CardQuota | None = None  # new cards a webhook token may open (section 13)
    home: HomeTab | None = None
    digest: WeeklyDigest | None = None

    def start(self, *, background: bool = True) -> None:
        """Get the working copy ready and start the writer, the outbox and (with `background`) the scheduler."""
        self.charts.prepare()
        self.charts.start()
        try:
            self.store.heartbeat(self.instance, self.intervals.heartbeat)
        except Exception as error:
            log.warning("state store unavailable at start-up: %s", error)
        if background:
            self.outbox.start()
            try:
                self.outbox.recover()
            except Exception as error:
                log.warning("could not look for unsent cards at start-up: %s", error)
            self.scheduler = build_scheduler(self.scheduled)
            self.scheduler.start()
            if self.team_channels is not None and self.team_channels.url:
                # read at start-up, but never on the way to serving requests
                threading.Thread(target=self.team_channels.refresh, name="team-channels", daemon=True).start()
            if self.home is not None:
                self.home.start()

    def stop(self) -> None:
        if self.home is not None:
            self.home.stop()
        if self.scheduler is not None:
            self.scheduler.shutdown(wait=True)  # a running pass ends before the clients it uses are closed
        if self.linking is not None:
            self.linking.stop()
        if self.approvals is not None:
            self.approvals.stop()
        self.deployer.stop()
        if self.release_app is not None:
            self.release_app.stop()
        self.followups.stop()
        if self.doorbell is not None:
            self.doorbell.stop()
        self.argo.close()
        if self.lookups is not None:
            self.lookups.stop()
        self.charts.stop()
        self.outbox.drain(timeout=5)
        self.outbox.stop()
        self.audit.flush(timeout=5)
        self.replies.wait(timeout=5)
        self.replies.stop()
        self.http.close()

    def readiness(self) -> str | None:
        """None when the store and the working copy are usable, else the reason (for /readyz)."""
        try:
            self.store.ping()
        except StoreUnavailable:
            return "state store unavailable"
        if not self.outbox.is_alive():
            return "the Slack outbox has stopped"
        return self.charts.is_usable()


def identity_seal(settings: Settings) -> Seal:
    """The key that seals links and approvals in the store: the buttons' key, derived for this use."""
    key = settings.button_signing_key.reveal() or settings.slack_signing_secret.reveal() or "console-sandbox"
    previous = settings.button_signing_key_previous.reveal()
    return Seal(key.encode(), previous.encode() if previous else None)


def button_signer(settings: Settings) -> ButtonSigner:
    """BUTTON_SIGNING_KEY when set, so rotating the Slack signing secret leaves live buttons working."""
    key = settings.button_signing_key.reveal() or settings.slack_signing_secret.reveal() or "console-sandbox"
    previous = settings.button_signing_key_previous.reveal()
    return ButtonSigner(key.encode(), previous.encode() if previous else None)


def build(
    settings: Settings,
    *,
    chat: Chat,
    teams: object | None = None,
    clock: Callable[[], float] = time.time,
    post_interval: float = 1.0,
    intervals: Intervals = PRODUCTION_INTERVALS,
    device_flow: object | None = None,
) -> Services:
    store = Store(connect(settings.redis_url.reveal()), settings.redis_prefix)
    instance = uuid.uuid4().hex[:12]  # this replica, in locks, heartbeats and the deploy journal
    metrics = Metrics()
    http = httpx.Client(timeout=GITHUB_TIMEOUT, follow_redirects=False)
    journal = DeployJournal(store, instance, identity_seal(settings))
    audit = AuditTrail(store, settings.audit_max_entries, clock=clock)
    charts = ChartsRepo(
        url=settings.charts_repo_url.reveal(),
        branch=settings.charts_repo_branch,
        workdir=settings.charts_workdir,
        image_tags_path=settings.image_tags_path,
        environments=settings.environment_names,
        author_name=settings.git_author_name,
        author_email=settings.git_author_email,
        shared_lock=lambda: store.locked(
            "charts-writer", timeout=CHARTS_LOCK_SECONDS, wait=2 * CHARTS_LOCK_SECONDS, owner=instance
        ),
        owned=journal.owned,
        clock=clock,
        limits=GitLimits(intervals.git_timeout, intervals.git_history_timeout, intervals.git_low_speed_time),
    )
    if teams is None:
        teams = TeamChecker(
            api_url=settings.github_api_url,
            token=settings.github_token.reveal(),
            org=settings.github_org,
            http=http,
        )
    signer = button_signer(settings)

    queue = CardQueue()
    metrics.outbox_pending.set_function(queue.__len__)
    release_watchers: list[Callable[[str, str], None]] = []  # the Home tab, built below

    def release_changed(app: str, tag: str, urgent: bool, *, background: bool) -> None:
        queue.touch(("release", app, tag), urgent, background=background)
        for watcher in release_watchers:
            watcher(app, tag)

    # a changed release or notice is something to bring up to date on Slack
    book = ReleaseBook(
        store,
        clock,
        on_change=lambda app, tag, urgent: release_changed(app, tag, urgent, background=False),
        on_heard_change=lambda app, tag, urgent: release_changed(app, tag, urgent, background=True),
    )
    notices = NoticeBoard(store, clock, on_change=lambda notice_id, urgent: queue.touch(("notice", notice_id), urgent))
    pacer = Pacer(
        post_interval=post_interval,
        on_call=lambda method, outcome: metrics.slack_calls.labels(method, outcome).inc(),
        store=store,  # one turn per channel for all replicas together
    )

    def render(release: Release) -> tuple[str, list[dict]]:
        view = cards.card_view(settings, signer, release, runs=charts.current_tag)
        return cards.to_text(view), cards.to_blocks(view)

    outbox = Outbox(
        chat=chat,
        book=book,
        notices=notices,
        queue=queue,
        pacer=pacer,
        render=render,
        render_reply=cards.reply_blocks,
        channel=settings.alerts_channel,
    )
    replies = Replies(chat, pacer, store=store, clock=clock)
    deployer = Deployer(
        settings=settings,
        store=store,
        charts=charts,
        teams=teams,
        book=book,
        signer=signer,
        journal=journal,
        audit=audit,
        metrics=metrics,
        clock=clock,
        reply=replies.send,
        links=Links(store, identity_seal(settings)),
    )
    if device_flow is None and settings.github_oauth_client_id:
        device_flow = GitHubDeviceFlow(
            github_url=settings.github_url,
            api_url=settings.github_api_url,
            client_id=settings.github_oauth_client_id,
            http=http,
        )
    linking = Linking(
        settings=settings,
        store=store,
        links=deployer.links,
        flow=device_flow,
        notices=notices,
        audit=audit,
        reply=replies.send,
        clock=clock,
    )
    router = Router(metrics, remember=replies.remember)
    router.on_command(commands.Deploy, deployer.deploy)
    router.on_command(commands.Promote, deployer.promote)
    router.on_action("promote", deployer.click)
    safety = Safety(
        settings=settings,
        links=deployer.links,
        charts=charts,
        teams=teams,
        freezes=Freezes(store),
        holds=Holds(store),
        book=book,
        audit=audit,
        notices=notices,
        signer=signer,
        pipeline=deployer,
        clock=clock,
    )
    deployer.gates.append(safety.gate)
    deployer.on_committed.append(safety.committed)
    deployer.runners[ScopeTask.kind] = safety.run_scope
    router.on_command(commands.Freeze, safety.freeze_command)
    router.on_command(commands.Unfreeze, safety.unfreeze_command)
    router.on_action("deploy_held", safety.click)
    rollbacks = Rollbacks(
        settings=settings,
        links=deployer.links,
        charts=charts,
        teams=teams,
        book=book,
        audit=audit,
        safety=safety,
        signer=signer,
        pipeline=deployer,
    )
    deployer.on_committed.append(rollbacks.committed)
    deployer.runners[RollbackTask.kind] = rollbacks.run
    release_app = None
    if settings.release_url and settings.release_api_token:
        release_app = ReleaseApp(
            url=settings.release_url,
            token=settings.release_api_token.reveal(),
            store=store,
            http=http,
            clock=clock,
            intervals=intervals,
            metrics=metrics,
        )
        # every committed deploy, whoever asked (a person, CI, a promotion, an automatic one, a rollback);
        # queued before the requester is told, so a crash after the journal lets the request go loses nothing
        deployer.on_landed.append(
            lambda request, outcome: release_app.committed(
                request.app, outcome.tag or request.tag, request.env, outcome.commit
            )
        )
    router.on_command(commands.Rollback, rollbacks.command)
    router.on_action("rollback", rollbacks.click)
    router.on_command(commands.Link, linking.link)
    router.on_command(commands.Unlink, linking.unlink)
    router.on_command(commands.Whoami, linking.whoami)
    approvals = Approvals(
        settings=settings,
        store=store,
        deployer=deployer,
        teams=teams,
        notices=notices,
        audit=audit,
        signer=signer,
        reply=replies.send,
        clock=clock,
        seal=identity_seal(settings),
    )
    deployer.team_refusal_blocks = approvals.team_refusal_blocks
    deployer.runners[DecisionTask.kind] = approvals.decide
    deployer.runners[AskTask.kind] = approvals.ask
    router.on_action("request_approval", approvals.request_clicked)
    router.on_action("approve", approvals.approve_clicked)
    router.on_action("deny", approvals.deny_clicked)
    github_token = settings.github_token.reveal()
    status = StatusBuilder(
        settings=settings,
        charts=charts,
        book=book,
        audit=audit,
        argocd=argocd_clients(settings),
        # without a token there is no compare call (and the console, which has none, stays off the network)
        github=GitHubCompare(http, settings.github_api_url, settings.github_org, github_token)
        if github_token
        else None,
        extra_lines=[safety.status_lines],  # freezes and the deploy window
    )
    lookups = Lookups(
        settings=settings,
        charts=charts,
        audit=audit,
        status=status,
        reply=replies.send,
        clock=clock,
        on_stats=metrics.show_delivery,
    )
    router.on_command(commands.Status, lookups.status)
    router.on_command(commands.History, lookups.history)
    router.on_command(commands.Stats, lookups.stats)
    environments = argo_environments(settings)
    argo = ArgoClients(environments)
    team_channels = TeamChannels(
        configured=settings.team_channels, url=settings.team_channels_url, http=http, store=store
    )
    followups = FailureFollowUps(
        settings=settings,
        links=deployer.links,
        store=store,
        book=book,
        notices=notices,
        teams=teams,
        signer=signer,
        audit=audit,
        argocd=argo.argocd,
        workflows=argo.workflows,
        recorded_channel=lambda env, app: (recorded_application(store, env, app) or {}).get("channel"),
        reply=replies.send,
        team_channels=team_channels,
    )
    router.on_action("retry_tests", followups.retry_clicked)
    events = ReleaseEvents(
        settings=settings,
        store=store,
        book=book,
        audit=audit,
        clock=clock,
        on_tests_passed=deployer.tests_passed,
        on_failure=followups.failed,
        test_failure_buttons=followups.retry_button,
        rollback_button=rollbacks.button,
        on_outcome=lambda env, outcome: metrics.release_outcomes.labels(env, outcome).inc(),
    )
    reconciler = Reconciler(
        environments,
        store,
        on_sync=events.sync,
        on_tests=events.tests,
        on_error=lambda env, source, reason: metrics.reconcile_errors.labels(env, source).inc(),
        argocd_factory=lambda environment: argo.argocd(environment.name),
        workflows_factory=lambda environment: argo.workflows(environment.name),
        releases=lambda env: {
            app: (tag, charts.since(env, app)) for app in charts.apps(env) if (tag := charts.current_tag(env, app))
        },
        follows=events.follows,
        on_unfollowed=events.nobody_follows,
        before_pass=charts.catch_up,
    )
    doorbell = Doorbell(
        witness=events,
        reader=reconciler,
        reads_argocd=lambda env: argo.argocd(env) is not None,
        reads_workflows=lambda env: argo.workflows(env) is not None,
    )
    home = HomeTab(
        settings=settings,
        store=store,
        book=book,
        approvals=approvals,
        freezes=safety.freezes,
        links=deployer.links,
        signer=signer,
        chat=chat,
        pacer=pacer,
        runs=charts.current_tag,
        clock=clock,
        every=intervals.home_every,
    )
    release_watchers.append(home.release_changed)
    digest = WeeklyDigest(settings=settings, store=store, audit=audit, notices=notices, clock=clock)
    stuck_every = intervals.stuck_every(settings.stuck_after_minutes)
    scheduled = [
        (
            "heartbeat",
            local("heartbeat", lambda: store.heartbeat(instance, intervals.heartbeat)),
            intervals.heartbeat_every,
        ),
        (
            "orphaned-deploys",
            exclusive(store, "orphaned-deploys", deployer.recover, timeout=55),
            intervals.orphaned_deploys_every,
        ),
        # a quarter of STUCK_AFTER_MINUTES, at most a minute: a stuck deploy is told within 25% of the limit
        ("stuck-deploys", exclusive(store, "stuck-deploys", events.flag_stuck_deploys, timeout=55), stuck_every),
        ("unsent-cards", local("unsent-cards", outbox.recover), intervals.unsent_cards_every),
        ("charts-refresh", local("charts-refresh", charts.refresh), intervals.charts_refresh_every),
        ("delivery-stats", local("delivery-stats", lookups.compute_stats), DELIVERY_STATS_SECONDS),
        ("expired-approvals", exclusive(store, "expired-approvals", approvals.expire_old, timeout=55), 60),
        # a person's refusals over 10 a minute become one record once the minute is over (any replica may)
        ("counted-refusals", local("counted-refusals", audit.summarise), 20),
        # once per trail: records from before the per-app index get one (later runs: one SET NX, nothing more)
        ("audit-earlier-index", local("audit-earlier-index", audit.index_earlier_records), 60),
        # deploys held only by a window go out within a minute of it opening
        ("window-holds", exclusive(store, "window-holds", safety.release_window_holds, timeout=55), 20),
    ]
    if settings.team_channels_url:
        scheduled.append(
            ("team-channels", local("team-channels", team_channels.refresh), intervals.team_channels_every)
        )
    if release_app is not None:
        scheduled.append(
            (
                "release-app",
                exclusive(store, "release-app", release_app.send_due, timeout=55),
                intervals.release_app_every,
            )
        )
    if settings.digest:
        # every replica looks; a claim on the ISO week in the store lets one of them post it
        scheduled.append(("weekly-digest", local("weekly-digest", digest.run), intervals.digest_check_every))
    deployer.gates.append(approvals.gate)  # the last gate: only a request every other gate let through waits
    if settings.reconcile_seconds:
        # a pass reads each environment once; it must end before the next is due
        timeout = max(30, 2 * settings.reconcile_seconds)
        scheduled.append(
            (
                "reconcile",
                exclusive(store, "reconcile", reconciler.run_once, timeout=timeout),
                settings.reconcile_seconds,
            )
        )
    services = Services(
        settings=settings,
        store=store,
        charts=charts,
        book=book,
        notices=notices,
        outbox=outbox,
        replies=replies,
        deployer=deployer,
        router=router,
        reconciler=reconciler,
        followups=followups,
        argo=argo,
        audit=audit,
        events=events,
        signer=signer,
        metrics=metrics,
        http=http,
        instance=instance,
        scheduled=scheduled,
        intervals=intervals,
        lookups=lookups,
        linking=linking,
        approvals=approvals,
        safety=safety,
        doorbell=doorbell,
        release_app=release_app,
        team_channels=team_channels,
        card_quota=CardQuota(store, book, clock),
        home=home,
        digest=digest,
    )
    # evaluated on every scrape of /metrics, like a probe of /readyz
    metrics.ready.set_function(lambda: 1.0 if services.readiness() is None else 0.0)
    return services
