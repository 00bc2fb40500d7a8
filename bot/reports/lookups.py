"""`/deploy status`, `history` and `stats`: read-only answers, acknowledged at once, sent through `response_url`.

The checks of what was asked (a known app, a known environment) are made on the ack path with no
I/O; the gathering (Argo CD, GitHub, the store, the audit trail) runs on this module's own
workers, and the answer goes to the requester through `response_url`. Nothing here changes
anything, so nothing here is audited.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from bot import commands, messages
from bot.audit import AuditTrail, iso_utc
from bot.config import Settings
from bot.names import close_names, is_valid_app_name
from bot.reports import stats
from bot.reports.history import LIMIT, read_history
from bot.reports.status import StatusBuilder
from bot.store import StoreError, StoreUnavailable

log = logging.getLogger(__name__)

Reply = Callable[[str | None, str], None]  # (response_url, text)
STATUS_WORKERS = 16
OnStats = Callable[[stats.Stats], None]  # figures just computed for every app (Prometheus gauges)


class Lookups:
    def __init__(
        self,
        *,
        settings: Settings,
        charts: object,
        audit: AuditTrail,
        status: StatusBuilder,
        reply: Reply,
        clock: Callable[[], float],
        on_stats: OnStats | None = None,
        workers: int = 2,
    ) -> None:
        self.settings = settings
        self.charts = charts
        self.audit = audit
        self.status_builder = status
        self.reply = reply
        self.clock = clock
        self.on_stats = on_stats
        # history and stats read the store (stats: the trail's last 8 weeks); status mostly waits for
        # Argo CD and GitHub, so it has a pool of its own and a flood of one never holds up the other
        self.jobs = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="lookup")
        self.waits = ThreadPoolExecutor(max_workers=STATUS_WORKERS, thread_name_prefix="status")
        self._in_flight = 0
        self._idle = threading.Condition()

    # -- on the ack path ------------------------------------------------------------------------

    def status(self, command: commands.Status, user_id: str, response_url: str | None) -> str:
        refusal = self._check_app(command.app)
        if refusal:
            return refusal
        asked_at = time.monotonic()  # the answer is due a budget after the ack, however long it queues
        self._spawn(
            response_url,
            lambda: messages.status_report(self.status_builder.build(command.app, asked_at)),
            pool=self.waits,
        )
        return messages.looking_up_status(command.app)

    def history(self, command: commands.History, user_id: str, response_url: str | None) -> str:
        refusal = self._check_app(command.app) or self._check_env(command.env)
        if refusal:
            return refusal
        self._spawn(response_url, lambda: self._history(command.app, command.env))
        return messages.looking_up_history(command.app, command.env)

    def stats(self, command: commands.Stats, user_id: str, response_url: str | None) -> str:
        refusal = self._check_app(command.app) if command.app is not None else None
        if refusal:
            return refusal
        self._spawn(response_url, lambda: self._stats(command.app))
        return messages.looking_up_stats(command.app, self.settings.environment_names[-1])

    def _check_app(self, app: str) -> str | None:
        if not is_valid_app_name(app):
            return messages.not_an_app_name(app)
        not_ready = self.charts.is_usable()
        if not_ready:
            return messages.lookup_charts_not_ready(not_ready)
        known = sorted({name for env in self.settings.environment_names for name in self.charts.apps(env)})
        if app not in known:
            return messages.unknown_app(app, close_names(app, known), self.settings.image_tags_path)
        return None

    def _check_env(self, env: str | None) -> str | None:
        if env is None or self.settings.environment(env) is not None:
            return None
        return messages.unknown_environment(env, self.settings.environment_names)

    # -- in the background ---------------------------------------------------------------------

    def _history(self, app: str, env: str | None) -> str:
        deploys = read_history(lambda count: self.audit.read(app=app, env=env, limit=count), LIMIT)
        return messages.history_report(app, env, deploys)

    def _stats(self, app: str | None) -> str:
        figures = self.compute_stats(app)
        return messages.stats_report(figures)

    def compute_stats(self, app: str | None = None) -> stats.Stats:
        """The figures of the last 4 weeks, read from the trail; for every app, also handed to `on_stats`."""
        now = self.clock()
        since = iso_utc(now - stats.WEEKS * stats.WEEK - stats.LOOKBACK)
        figures = stats.compute(
            self.audit.each(app=app, since=since), last_env=self.settings.environment_names[-1], now=now, app=app
        )
        if app is None and self.on_stats is not None:
            self.on_stats(figures)
        return figures

    def _spawn(
        self, response_url: str | None, answer: Callable[[], str], pool: ThreadPoolExecutor | None = None
    ) -> None:
        with self._idle:
            self._in_flight += 1
        (pool or self.jobs).submit(self._answer, response_url, answer)

    def _answer(self, response_url: str | None, answer: Callable[[], str]) -> None:
        try:
            text = answer()
        except (StoreError, StoreUnavailable) as error:
            log.warning("lookup: state store unavailable: %s", error)
            text = messages.LOOKUP_STORE_DOWN
        except Exception:  # the requester hears something whatever happens
            log.exception("lookup failed")
            text = messages.LOOKUP_FAILED
        try:
            self.reply(response_url, text)
        finally:
            with self._idle:
                self._in_flight -= 1
                self._idle.notify_all()

    def wait_idle(self, timeout: float = 30.0) -> bool:
        with self._idle:
            return self._idle.wait_for(lambda: self._in_flight == 0, timeout=timeout)

    def stop(self) -> None:
        self.wait_idle(timeout=5)
        self.jobs.shutdown(wait=False, cancel_futures=True)
        self.waits.shutdown(wait=False, cancel_futures=True)
        if self.status_builder is not None:
            self.status_builder.stop()
