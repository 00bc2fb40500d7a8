"""The state store: Redis for production, an in-process Redis (fakeredis) for `memory://`.

Both sides speak the same redis-py API, so there is one code path; every key is under the
configured prefix. Anything that must survive a restart or be shared between replicas lives
here: locks, caches, release cards, idempotency keys.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

log = logging.getLogger(__name__)

StoreError = redis.RedisError


class StoreUnavailable(Exception):
    """The store could not be reached; callers tell the user plainly and change nothing."""


class LockNotAcquired(Exception):
    pass


def connect(url: str) -> redis.Redis:
    if url.startswith("memory://"):
        import fakeredis  # only the single-replica sandbox and local runs need it

        return fakeredis.FakeRedis(server=fakeredis.FakeServer(), decode_responses=True)
    return redis.Redis.from_url(
        url,
        decode_responses=True,
        socket_timeout=2,
        socket_connect_timeout=2,
        retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), 2),
        health_check_interval=15,
    )


class Store:
    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self.client = client
        self.prefix = prefix

    def key(self, *parts: str) -> str:
        return self.prefix + ":".join(parts)

    def ping(self) -> None:
        try:
            self.client.ping()
        except StoreError as error:
            raise StoreUnavailable(str(error)) from error

    def get_json(self, key: str) -> Any:
        raw = self.client.get(key)
        return None if raw is None else json.loads(raw)

    def set_json(self, key: str, value: Any, ttl_seconds: int | None = None) -> None:
        self.client.set(key, json.dumps(value, separators=(",", ":")), ex=ttl_seconds)

    def claim(self, key: str, ttl_seconds: int, value: str = "1") -> bool:
        """Take `key` if nobody holds it: the idempotency primitive (SET NX EX)."""
        return bool(self.client.set(key, value, nx=True, ex=ttl_seconds))

    @contextmanager
    def locked(self, name: str, *, timeout: float, wait: float, owner: str | None = None) -> Iterator[None]:
        """A lock shared by every replica; `timeout` bounds how long a crashed holder blocks others.

        With `owner`, the lock's value starts with it, so `break_lock` can free a lock whose holder
        is known to be dead instead of waiting for the timeout.
        """
        lock = self.client.lock(self.key("lock", name), timeout=timeout, blocking_timeout=wait, thread_local=False)
        token = f"{owner}:{uuid.uuid4().hex}" if owner else None
        if not lock.acquire(token=token):
            raise LockNotAcquired(name)
        try:
            yield
        finally:
            try:
                lock.release()
            except redis.exceptions.LockError:
                log.warning("lock %s expired before it was released", name)
            except StoreError as error:  # the work inside is done; the lock expires by itself
                log.warning("lock %s not released (%s); it expires in %ss", name, error, timeout)

    def heartbeat(self, instance: str, ttl_seconds: int) -> None:
        """Say this replica is alive for the next `ttl_seconds` (refreshed by a scheduled job)."""
        self.client.set(self.key("alive", instance), "1", ex=ttl_seconds)

    def is_alive(self, instance: str) -> bool:
        return bool(self.client.exists(self.key("alive", instance)))

    def break_lock(self, name: str, owner: str) -> bool:
        """Free `name` if `owner` still holds it (checked and deleted in one transaction)."""
        key = self.key("lock", name)
        with self.client.pipeline() as pipe:
            try:
                pipe.watch(key)
                value = pipe.get(key)
                if not value or not value.startswith(owner + ":"):
                    return False
                pipe.multi()
                pipe.delete(key)
                pipe.execute()
                return True
            except redis.WatchError:
                return False
