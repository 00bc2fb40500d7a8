"""Telling GOV.UK's Release app of every committed deploy (section 10.6).

GOV.UK's `deploy-image` workflow records each deploy in the Release app; the bot, taking its
place, does the same: `POST {RELEASE_URL}/deployments` with the bearer token and
`{"repo": "alphagov/<tag file>", "deployment": {"environment": …, "version": …}}`.

A deploy never waits for it: a committed deploy only adds one notification to a queue in the
store (idempotent per commit and environment, so a deploy reported twice is told once). The
queue survives restarts and is sent by one replica at a time (a lock), at once after the commit
and then by a scheduled pass. A failed call is tried again after `release_app_retry` seconds,
twice as long each time up to `release_app_backoff`, and dropped (logged, counted) once the
deploy is `release_app_give_up` seconds old. A notice the Release app refuses as invalid (400,
422: the same body can never be accepted) is dropped at once.

The lock only keeps replicas from working through the queue together; it can expire while a slow
call is in flight, so each notice is also claimed on its own (`sending`, for longer than a call
can take) and checked to be still due once claimed: no two replicas send the same notice.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx

from bot.intervals import Intervals
from bot.metrics import Metrics
from bot.store import LockNotAcquired, Store, StoreError

log = logging.getLogger(__name__)

TIMEOUT = httpx.Timeout(10.0, connect=5.0)
REPO_OWNER = "alphagov"
LOCK_SECONDS = 120
SENDING_SECONDS = 120  # one notice's claim while its call is in flight: far longer than TIMEOUT allows
BATCH = 200
DONE_ITEM = {"done": True}
DONE = json.dumps(DONE_ITEM)
# the item and its place in the queue together, or nothing: a crash in between must not leave an item
# that is never sent yet keeps every later report of the same deploy from queueing it
_QUEUE_ONCE = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[2]) then
  redis.call('ZADD', KEYS[2], ARGV[4], ARGV[3])
  return 1
end
return 0
"""
# 4xx answers that resending the same body could turn into a success: a token or URL put right
# (by a restart within the hour), a timeout, too many requests; any other 4xx is final
RETRIED_4XX = frozenset({401, 403, 404, 408, 425, 429})


def release_version(tag: str) -> str:
    """The version the Release app knows a tag by: GOV.UK's workflow trims a leading `release-`."""
    return tag.removeprefix("release-")


def notification(app: str, tag: str, env: str) -> dict:
    return {"repo": f"{REPO_OWNER}/{app}", "deployment": {"environment": env, "version": release_version(tag)}}


class ReleaseApp:
    def __init__(
        self,
        *,
        url: str,
        token: str,
        store: Store,
        http: httpx.Client,
        clock: Callable[[], float],
        intervals: Intervals,
        metrics: Metrics,
    ) -> None:
        self.url = url.rstrip("/")
        self._token = token
        self.store = store
        self.http = http
        self.clock = clock
        self.intervals = intervals
        self.metrics = metrics
        self._sender = ThreadPoolExecutor(max_workers=1, thread_name_prefix="release-app")
        self._pending = 0
        self._idle = threading.Condition()
        self.stopping = False  # set by stop(): the call in flight ends, nothing more is sent by this replica

    @property
    def _queue(self) -> str:
        return self.store.key("release-app", "due")

    def _item_key(self, item_id: str) -> str:
        return self.store.key("release-app", "item", item_id)

    def _sending_key(self, item_id: str) -> str:
        return self.store.key("release-app", "sending", item_id)

    # -- after a commit ------------------------------------------------------------------------------

    def committed(self, app: str, tag: str, env: str, commit: str | None) -> None:
        """Queue the Release app's notification of this deploy and try to send it now, in the background."""
        now = self.clock()
        item_id = f"{env}:{app}:{commit or tag}"
        item = {"body": notification(app, tag, env), "first_at": now, "attempts": 0}
        ttl = int(self.intervals.release_app_give_up) + 3600
        try:
            keys = (self._item_key(item_id), self._queue)
            if not self.store.client.eval(_QUEUE_ONCE, 2, *keys, json.dumps(item), ttl, item_id, now):
                return  # queued, or delivered, already: the same deploy reported twice (recovery does)
        except StoreError as error:
            log.error("could not queue the Release app's notice of %s %s in %s: %s", app, tag, env, error)
            return
        with self._idle:
            self._pending += 1
        self._sender.submit(self._send_now)

    def _send_now(self) -> None:
        try:
            if not self.stopping:
                self.send_due(wait=0)
        except Exception:  # the scheduled pass tries again; nothing may escape a worker
            log.exception("telling the Release app failed")
        finally:
            with self._idle:
                self._pending -= 1
                self._idle.notify_all()

    def wait_idle(self, timeout: float = 30.0) -> bool:
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout=timeout)

    def stop(self) -> None:
        """Wait for the call in flight only: a slow Release app must not hold up a shutdown for a whole
        batch; what is left stays queued in the store for the next pass of any replica."""
        self.stopping = True
        self._sender.shutdown(wait=True)

    # -- the queue -------------------------------------------------------------------------------------

    def send_due(self, *, wait: float = 0) -> int:
        """Send every notification that is due, in one replica at a time; how many were delivered."""
        try:
            with self.store.locked("release-app", timeout=LOCK_SECONDS, wait=wait):
                return self._send_due()
        except LockNotAcquired:
            return 0  # another replica is sending; what it misses, the next pass sends

    def _send_due(self) -> int:
        now = self.clock()
        delivered = 0
        for item_id in self.store.client.zrangebyscore(self._queue, "-inf", now, start=0, num=BATCH):
            if self.stopping:
                break
            if not self.store.claim(self._sending_key(item_id), SENDING_SECONDS):
                continue  # another replica is sending it now (its lock may have expired meanwhile)
            try:
                delivered += self._send_one(item_id)
            finally:
                self.store.client.delete(self._sending_key(item_id))
        return delivered

    def _send_one(self, item_id: str) -> int:
        """Send one claimed notice if it is still due; 1 when the Release app recorded it."""
        due_at = self.store.client.zscore(self._queue, item_id)
        if due_at is None or due_at > self.clock():
            return 0  # sent, or tried and put off, by another replica between our reading and our claim
        raw = self.store.client.get(self._item_key(item_id))
        if raw is None:
            self.store.client.zrem(self._queue, item_id)
            return 0
        item = json.loads(raw)
        if item == DONE_ITEM:
            self.store.client.zrem(self._queue, item_id)
            return 0
        problem, final = self._post(item["body"])
        if problem is None:
            self._forget(item_id)
            return 1
        item["attempts"] += 1
        if final:
            self.metrics.release_app_failures.labels("dropped").inc()
            log.error("the Release app refused %s as invalid (%s); not trying again", item_id, problem)
            self._forget(item_id)
            return 0
        age = self.clock() - item["first_at"]
        if age >= self.intervals.release_app_give_up:
            self.metrics.release_app_failures.labels("gave_up").inc()
            log.error("gave up telling the Release app of %s after %d tries: %s", item_id, item["attempts"], problem)
            self._forget(item_id)
            return 0
        self.metrics.release_app_failures.labels("retry").inc()
        delay = min(self.intervals.release_app_retry * 2 ** (item["attempts"] - 1), self.intervals.release_app_backoff)
        log.warning("the Release app refused %s (%s); trying again in %.0f s", item_id, problem, delay)
        pipe = self.store.client.pipeline()
        pipe.set(self._item_key(item_id), json.dumps(item), keepttl=True)
        pipe.zadd(self._queue, {item_id: self.clock() + delay})
        pipe.execute()
        return 0

    def _forget(self, item_id: str) -> None:
        """Out of the queue; the item stays, as `done`, until it expires, so a deploy reported again is not sent again."""
        pipe = self.store.client.pipeline()
        pipe.zrem(self._queue, item_id)
        pipe.set(self._item_key(item_id), DONE, keepttl=True)
        pipe.execute()

    def waiting(self) -> int:
        """How many notifications are still to be delivered (tests, metrics)."""
        return int(self.store.client.zcard(self._queue))

    def _post(self, body: dict) -> tuple[str | None, bool]:
        """(None, _) when the Release app recorded it, else what went wrong in a few words (never the
        token) and whether that is final: resending the same body can never succeed."""
        try:
            response = self.http.post(
                f"{self.url}/deployments",
                json=body,
                headers={"Authorization": f"Bearer {self._token}", "Accept": "application/json"},
                timeout=TIMEOUT,
            )
        except httpx.HTTPError as error:
            return type(error).__name__, False
        status = response.status_code
        if 200 <= status < 300:
            return None, False
        return f"HTTP {status}", 400 <= status < 500 and status not in RETRIED_4XX
