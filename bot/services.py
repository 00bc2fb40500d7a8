"""The one place that builds the bot's objects and connects them.

`serve` and `console` both call `build`; they differ only in the chat service they pass
(Slack's Web API or the terminal) and, for the console, the sandbox's team checker.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from bot import cards
from bot.buttons import ButtonSigner
from bot.charts import ChartsRepo
from bot.chat import Chat
from bot.config import Settings
from bot.deploys import Deployer
from bot.events import ReleaseEvents
from bot.intervals import PRODUCTION_INTERVALS, Intervals
from bot.metrics import Metrics
from bot.outbox import Outbox
from bot.releases import ReleaseBook
from bot.scheduler import build_scheduler, exclusive, local
from bot.store import Store, StoreUnavailable, connect
from bot.teams import TeamChecker

log = logging.getLogger(__name__)

CHARTS_LOCK_SECONDS = 60
GITHUB_TIMEOUT = httpx.Timeout(3.0, connect=2.0)


@dataclass
class Services:
    settings: Settings
    store: Store
    charts: ChartsRepo
    book: ReleaseBook
    outbox: Outbox
    deployer: Deployer
    events: ReleaseEvents
    signer: ButtonSigner
    metrics: Metrics
    http: httpx.Client
    scheduled: list[tuple[str, Callable[[], None], float]]
    scheduler: object | None = None
    intervals: Intervals = PRODUCTION_INTERVALS

    def start(self, *, background: bool = True) -> None:
        """Get the working copy ready and start the writer, the outbox and (with `background`) the scheduler."""
        self.charts.prepare()
        self.charts.start()
        try:
            self.store.heartbeat(self.deployer.instance, self.intervals.heartbeat)
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

    def stop(self) -> None:
        if self.scheduler is not None:
            self.scheduler.shutdown(wait=False)
        self.deployer.stop()
        self.charts.stop()
        self.outbox.drain(timeout=5)
        self.outbox.stop()
        self.http.close()

    def readiness(self) -> str | None:
        """None when the store and the working copy are usable, else the reason (for /readyz)."""
        try:
            self.store.ping()
        except StoreUnavailable:
            return "state store unavailable"
        return self.charts.is_usable()


def build(
    settings: Settings,
    *,
    chat: Chat,
    teams: object | None = None,
    clock: Callable[[], float] = time.time,
    post_interval: float = 1.0,
    intervals: Intervals = PRODUCTION_INTERVALS,
) -> Services:
    store = Store(connect(settings.redis_url.reveal()), settings.redis_prefix)
    instance = uuid.uuid4().hex[:12]  # this replica, in locks, heartbeats and the deploy journal
    metrics = Metrics()
    http = httpx.Client(timeout=GITHUB_TIMEOUT, follow_redirects=False)
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
    )
    if teams is None:
        teams = TeamChecker(
            api_url=settings.github_api_url,
            token=settings.github_token.reveal(),
            org=settings.github_org,
            store=store,
            http=http,
        )
    signer = ButtonSigner((settings.slack_signing_secret.reveal() or "console-sandbox").encode())

    book = ReleaseBook(store, clock)

    def render(doc: dict) -> tuple[str, list[dict]]:
        view = cards.card_view(settings, signer, doc, runs=charts.current_tag)
        return cards.to_text(view), cards.to_blocks(view)

    outbox = Outbox(
        chat=chat,
        book=book,
        render=render,
        channel=settings.alerts_channel,
        post_interval=post_interval,
        on_call=lambda method, outcome: metrics.slack_calls.labels(method, outcome).inc(),
    )
    book.on_change = outbox.touch  # a changed release is a card to bring up to date
    metrics.outbox_pending.set_function(outbox.pending)
    deployer = Deployer(
        settings=settings,
        store=store,
        charts=charts,
        teams=teams,
        book=book,
        signer=signer,
        metrics=metrics,
        clock=clock,
        reply=outbox.respond,
        instance=instance,
    )
    events = ReleaseEvents(settings=settings, store=store, book=book, deployer=deployer, clock=clock)
    stuck_every = intervals.stuck_every(settings.stuck_after_minutes)
    orphans = exclusive(store, "orphaned-deploys", deployer.recover_orphans, timeout=55)
    scheduled = [
        (
            "heartbeat",
            local("heartbeat", lambda: store.heartbeat(instance, intervals.heartbeat)),
            intervals.heartbeat_every,
        ),
        ("orphaned-deploys", orphans, intervals.orphaned_deploys_every),
        ("stuck-deploys", exclusive(store, "stuck-deploys", events.flag_stuck_deploys, timeout=55), stuck_every),
        ("unsent-cards", local("unsent-cards", outbox.recover), intervals.unsent_cards_every),
        ("charts-refresh", local("charts-refresh", charts.refresh), intervals.charts_refresh_every),
    ]
    return Services(
        settings=settings,
        store=store,
        charts=charts,
        book=book,
        outbox=outbox,
        deployer=deployer,
        events=events,
        signer=signer,
        metrics=metrics,
        http=http,
        scheduled=scheduled,
        intervals=intervals,
    )
