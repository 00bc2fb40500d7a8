"""One promotion per release and environment, however many people click at once.

Before a promotion is committed its claim is taken in the store (SET NX); the claim says who
and when, and is marked done once the commit lands. A promote button, and the bot's automatic
promotion, use a release's promotion once, ever. A typed `/deploy promote` (or CI) may take a claim
whose promotion was undone (the environment has since moved off that tag) again, but only by
replacing exactly the record that was read, so two people together can never both win, nor can
one delete the other's claim.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from bot.releases.model import Requester
from bot.store import Store

RECORD_SECONDS = 90 * 24 * 3600  # as long as a release is kept: its buttons promote once, ever

_REPLACE_IF_SAME = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
  return 1
end
return 0
"""
_DELETE_IF_SAME = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


@dataclass(frozen=True)
class Claim:
    key: str
    record: str  # exactly what was stored, so only this claim can be marked done or released

    @property
    def data(self) -> dict[str, Any]:
        return json.loads(self.record)


@dataclass(frozen=True)
class Earlier:
    """Someone else's claim: who, when, and whether their promotion landed."""

    by: Requester
    at: float
    done: bool
    raw: str
    deploy_id: str | None  # the request that took it


class Promotions:
    def __init__(self, store: Store) -> None:
        self.store = store

    def key(self, app: str, tag: str, env: str) -> str:
        return self.store.key("promotion", app, tag, env)

    def claim(self, app: str, tag: str, env: str, by: Requester, at: float, deploy_id: str) -> Claim | Earlier | None:
        """Our claim, the earlier one that stands in the way, or None when it vanished meanwhile."""
        key = self.key(app, tag, env)
        record = json.dumps({"by": by.to_json(), "at": at, "done": False, "deploy_id": deploy_id})
        if self.store.claim(key, RECORD_SECONDS, record):
            return Claim(key, record)
        raw = self.store.client.get(key)
        if raw is None:
            return None
        data = json.loads(raw)
        by_whom = Requester.from_json(data.get("by")) or Requester()
        return Earlier(by_whom, data.get("at") or 0.0, bool(data["done"]), raw, data.get("deploy_id"))

    def take_over(
        self, app: str, tag: str, env: str, earlier: Earlier, by: Requester, at: float, deploy_id: str
    ) -> Claim | None:
        """Replace an undone promotion's claim with ours, if nobody changed it since it was read."""
        key = self.key(app, tag, env)
        record = json.dumps({"by": by.to_json(), "at": at, "done": False, "deploy_id": deploy_id})
        replaced = self.store.client.eval(_REPLACE_IF_SAME, 1, key, earlier.raw, record, RECORD_SECONDS)
        return Claim(key, record) if replaced else None

    def done(self, claim: Claim) -> None:
        self.store.client.eval(
            _REPLACE_IF_SAME, 1, claim.key, claim.record, json.dumps({**claim.data, "done": True}), RECORD_SECONDS
        )

    def release(self, claim: Claim) -> None:
        """Give the claim up (the promotion did not happen); never anyone else's."""
        self.store.client.eval(_DELETE_IF_SAME, 1, claim.key, claim.record)
