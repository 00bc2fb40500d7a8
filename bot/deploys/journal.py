"""Accepted deploys recorded in the store until their requester has heard how they ended.

Each entry names the replica that owns it. A replica that dies (no heartbeat) leaves its
entries behind; another replica, or the same one restarted, takes them over and finishes
them. Ownership is checked in the store before a deploy is pushed and before its requester
is told, so a replica that was only paused, and wakes after its work was taken over, neither
pushes nor speaks: each deploy is committed once and reported once.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

from bot.deploys.request import DeployRequest
from bot.store import Store

log = logging.getLogger(__name__)

UNKNOWN = "?unknown"  # owner of a deploy whose push had an unknown fate: anyone may settle it

_DELETE_IF_OWNER = """
if redis.call('HGET', KEYS[2], ARGV[1]) == ARGV[2] then
  redis.call('HDEL', KEYS[1], ARGV[1])
  redis.call('HDEL', KEYS[2], ARGV[1])
  return 1
end
return 0
"""
_SET_OWNER_IF = """
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
  return 1
end
return 0
"""


@dataclass(frozen=True)
class Entry:
    request: DeployRequest
    claim: tuple[str, str] | None  # the promotion claim (key, record) held for it
    recorded_at: float


class DeployJournal:
    def __init__(self, store: Store, instance: str) -> None:
        self.store = store
        self.instance = instance

    @property
    def _entries_key(self) -> str:
        return self.store.key("deploy-journal")

    @property
    def _owners_key(self) -> str:
        return self.store.key("deploy-journal-owners")

    def record(self, request: DeployRequest, claim: tuple[str, str] | None, at: float) -> None:
        entry = {"request": request.to_json(), "claim": list(claim) if claim else None, "at": at}
        pipe = self.store.client.pipeline()
        pipe.hset(self._entries_key, request.deploy_id, json.dumps(entry))
        pipe.hset(self._owners_key, request.deploy_id, self.instance)
        pipe.execute()

    def owned(self, deploy_ids: list[str]) -> set[str]:
        """Those of these deploys this replica still owns."""
        if not deploy_ids:
            return set()
        owners = self.store.client.hmget(self._owners_key, deploy_ids)
        return {deploy_id for deploy_id, owner in zip(deploy_ids, owners, strict=True) if owner == self.instance}

    def finish(self, deploy_id: str) -> bool:
        """Remove the entry if this replica owns it; False when another replica took it over."""
        keys = (self._entries_key, self._owners_key)
        return bool(self.store.client.eval(_DELETE_IF_OWNER, 2, *keys, deploy_id, self.instance))

    def set_aside(self, deploy_id: str) -> None:
        """Leave the deploy for whoever settles it next (this replica included): its push's fate is unknown."""
        self.store.client.eval(_SET_OWNER_IF, 1, self._owners_key, deploy_id, self.instance, UNKNOWN)

    def take_over(self, is_alive) -> list[Entry]:
        """Make this replica the owner of every entry whose owner is gone (or set aside), and return them."""
        owners = self.store.client.hgetall(self._owners_key)
        taken = []
        for deploy_id, owner in owners.items():
            if owner == self.instance or (owner != UNKNOWN and is_alive(owner)):
                continue
            if self.store.client.eval(_SET_OWNER_IF, 1, self._owners_key, deploy_id, owner, self.instance):
                raw = self.store.client.hget(self._entries_key, deploy_id)
                if raw is None:
                    self.store.client.hdel(self._owners_key, deploy_id)
                    continue
                data = json.loads(raw)
                claim = tuple(data["claim"]) if data.get("claim") else None
                taken.append(Entry(DeployRequest.from_json(data["request"]), claim, data.get("at") or 0.0))
                log.warning("took over deploy %s from replica %s", deploy_id, owner)
        return taken

    def dead_owners(self, is_alive) -> set[str]:
        owners = set(self.store.client.hvals(self._owners_key))
        return {owner for owner in owners if owner not in (self.instance, UNKNOWN) and not is_alive(owner)}
