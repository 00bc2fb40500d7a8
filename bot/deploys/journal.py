"""Every acknowledged task (a deploy, a rollback, a freeze or unfreeze, an approval decision:
`bot.deploys.tasks`), recorded in the store before it is acknowledged, until its requester has
heard how it ended.

How it ended is written to the entry (`settle`) before the requester is told, and the entry is
removed only once the words are out (`finish`): a replica that dies in between leaves the words
behind, and whoever takes the entry over says them again rather than doing the deploy again.

Each entry names the replica that owns it. A replica that dies (no heartbeat) leaves its
entries behind; another replica, or the same one restarted, takes them over and finishes
them. Ownership is checked in the store before a deploy is pushed and before its requester
is told, so a replica that was only paused, and wakes after its work was taken over, neither
pushes nor speaks: each deploy is committed once and reported once.

Each entry names who asked for it, so it is sealed with the bot's key (`bot.identity.seal`, bound to
the task's id) as links and approvals are: an entry written into the store by anyone else, or copied
under another id, is logged and never taken over, so nobody can have a deploy run as someone else.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass

from bot.deploys.request import DeployRequest
from bot.deploys.tasks import Task, task_from_json, task_kind
from bot.identity.seal import Seal
from bot.store import Store

log = logging.getLogger(__name__)

SEALED_ENTRY = "deploy-journal-entry"  # the kind of record sealed (bot.identity.seal)
UNKNOWN = "?unknown"  # owner of a deploy whose push had an unknown fate: anyone may settle it

_DELETE_IF_OWNER = """
if redis.call('HGET', KEYS[2], ARGV[1]) == ARGV[2] then
  redis.call('HDEL', KEYS[1], ARGV[1])
  redis.call('HDEL', KEYS[2], ARGV[1])
  redis.call('HDEL', KEYS[3], ARGV[1])
  redis.call('HDEL', KEYS[4], ARGV[1])
  return 1
end
return 0
"""
_HAND_OVER = """
if redis.call('HGET', KEYS[2], ARGV[1]) == ARGV[2] then
  redis.call('HSET', KEYS[3], ARGV[1], ARGV[3])
  redis.call('HSET', KEYS[1], ARGV[4], ARGV[5])
  redis.call('HSET', KEYS[2], ARGV[4], ARGV[2])
  return 1
end
return 0
"""
_SET_IF_OWNER = """
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then
  redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
  return 1
end
return 0
"""


@dataclass(frozen=True)
class Entry:
    request: Task
    claim: tuple[str, str] | None  # the promotion claim (key, record) held for it, if any
    recorded_at: float
    told: str | None = None  # how it ended, when that was decided but maybe not yet said


class DeployJournal:
    def __init__(self, store: Store, instance: str, seal: Seal) -> None:
        self.store = store
        self.instance = instance
        self.seal = seal

    def _key(self, part: str) -> str:
        return self.store.key("deploy-journal", part)

    @property
    def _keys(self) -> tuple[str, str, str, str]:
        return self._key("requests"), self._key("owners"), self._key("claims"), self._key("told")

    def _entry(self, task: Task, at: float) -> str:
        return self.seal.close(
            SEALED_ENTRY, task.task_id, {"kind": task_kind(task), "request": task.to_json(), "at": at}
        )

    def _open(self, task_id: str, raw: str | None) -> dict | None:
        """The entry stored under `task_id`, or None: nothing there, or not sealed by the bot (logged)."""
        return self.seal.open(SEALED_ENTRY, task_id, raw)

    def record(self, task: Task, at: float) -> None:
        """Keep the task, owned by this replica (one pipelined round trip)."""
        requests, owners, _, _ = self._keys
        pipe = self.store.client.pipeline()
        pipe.hset(requests, task.task_id, self._entry(task, at))
        pipe.hset(owners, task.task_id, self.instance)
        pipe.execute()

    def update(self, task: Task) -> bool:
        """Replace the task's stored form (what a step learnt, or a rollback become its deploy), keeping
        when it was recorded; False when another replica owns it now."""
        requests, owners, _, _ = self._keys
        known = self._open(task.task_id, self.store.client.hget(requests, task.task_id))
        at = known["at"] if known else 0.0
        entry = self._entry(task, at)
        return bool(self.store.client.eval(_SET_IF_OWNER, 2, owners, requests, task.task_id, self.instance, entry))

    def hand_over(self, task: Task, told: str, following: Task, at: float) -> bool:
        """End `task` with the words `told` and record `following` (owned by this replica) in one step:
        a crash leaves either neither or both. False when another replica owns `task` now."""
        requests, owners, _, said = self._keys
        entry = self._entry(following, at)
        return bool(
            self.store.client.eval(
                _HAND_OVER, 3, requests, owners, said, task.task_id, self.instance, told, following.task_id, entry
            )
        )

    def going_ahead(self, request: DeployRequest, at: float) -> None:
        """The request passed every check and goes to the charts writer: the newest deploy of its app and
        environment that went ahead. Only these overtake an older request."""
        self.store.client.hset(
            self._key("latest"), f"{request.app}\n{request.env}", json.dumps([request.deploy_id, at])
        )

    def is_latest(self, request: DeployRequest, recorded_at: float) -> bool:
        """False when a deploy of the same app and environment recorded after this one has gone ahead."""
        raw = self.store.client.hget(self._key("latest"), f"{request.app}\n{request.env}")
        if raw is None or not raw.startswith("["):
            return True
        deploy_id, at = json.loads(raw)
        return deploy_id == request.deploy_id or at <= recorded_at

    def keep_claim(self, deploy_id: str, claim: tuple[str, str]) -> bool:
        """Note the promotion claim taken for this request; False when another replica owns it now."""
        _, owners, claims, _ = self._keys
        keys = (owners, claims)
        return bool(self.store.client.eval(_SET_IF_OWNER, 2, *keys, deploy_id, self.instance, json.dumps(claim)))

    def settle(self, deploy_id: str, told: str) -> bool:
        """Write down how the request ended, before the requester is told; False when another replica
        owns it now (it answers)."""
        _, owners, _, said = self._keys
        return bool(self.store.client.eval(_SET_IF_OWNER, 2, owners, said, deploy_id, self.instance, told))

    def owned(self, deploy_ids: list[str]) -> set[str]:
        """Those of these deploys this replica still owns."""
        if not deploy_ids:
            return set()
        owners = self.store.client.hmget(self._keys[1], deploy_ids)
        return {deploy_id for deploy_id, owner in zip(deploy_ids, owners, strict=True) if owner == self.instance}

    def finish(self, deploy_id: str) -> bool:
        """Remove the entry if this replica owns it; False when another replica took it over."""
        return bool(self.store.client.eval(_DELETE_IF_OWNER, 4, *self._keys, deploy_id, self.instance))

    def set_aside(self, deploy_id: str) -> bool:
        """Leave the deploy for whoever settles it next (this replica included): its push's fate is unknown.
        False when another replica owns it now (it answers)."""
        _, owners, _, _ = self._keys
        return bool(self.store.client.eval(_SET_IF_OWNER, 2, owners, owners, deploy_id, self.instance, UNKNOWN))

    def take_over(self, is_alive: Callable[[str], bool], in_hand: set[str]) -> list[Entry]:
        """Own every entry nobody is working on: its replica is gone, its fate was set aside, or it is
        this replica's own and no longer in hand (a store outage interrupted it). Returns them."""
        requests, owners, claims, said = self._keys
        taken = []
        for deploy_id, owner in self.store.client.hgetall(owners).items():
            if owner == self.instance and deploy_id in in_hand:
                continue
            if owner not in (self.instance, UNKNOWN) and is_alive(owner):
                continue
            if not self.store.client.eval(_SET_IF_OWNER, 2, owners, owners, deploy_id, owner, self.instance):
                continue  # another replica took it first
            raw, claim = self.store.client.hget(requests, deploy_id), self.store.client.hget(claims, deploy_id)
            if raw is None:
                self.store.client.hdel(owners, deploy_id)
                continue
            data = self._open(deploy_id, raw)
            if data is None:  # not the bot's (logged): never run, and removed so no replica takes it again
                for key in self._keys:
                    self.store.client.hdel(key, deploy_id)
                continue
            request = task_from_json(data.get("kind"), data["request"])
            told = self.store.client.hget(said, deploy_id)
            taken.append(Entry(request, tuple(json.loads(claim)) if claim else None, data["at"], told))
            if owner != self.instance:
                log.warning("took over %s %s from replica %s", data.get("kind") or "deploy", deploy_id, owner)
        return taken

    def dead_owners(self, is_alive: Callable[[str], bool]) -> set[str]:
        owners = set(self.store.client.hvals(self._keys[1]))
        return {owner for owner in owners if owner not in (self.instance, UNKNOWN) and not is_alive(owner)}
