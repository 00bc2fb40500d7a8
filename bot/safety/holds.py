"""Held deploys: what CI or automatic promotion would have deployed, kept, not lost.

One held deploy per app and environment, in one hash in the store: a newer one replaces the
older (whose card is told). `frozen` says a freeze held it: such a deploy waits for a person
to deploy it after the unfreeze; one held only by a closed window goes out when it opens.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from bot.store import Store


@dataclass(frozen=True)
class Hold:
    app: str
    env: str
    tag: str
    at: float
    promote_deployment: bool = False
    source_env: str | None = None  # an automatic promotion: where the release passed its tests
    automatic: bool = False
    frozen: bool = False  # a freeze held it (not only a window)


class Holds:
    def __init__(self, store: Store) -> None:
        self.store = store

    @property
    def _key(self) -> str:
        return self.store.key("holds")

    def put(self, hold: Hold) -> Hold | None:
        """Keep `hold`, replacing the one for its app and environment; returns the one replaced."""
        pipe = self.store.client.pipeline()
        pipe.hget(self._key, f"{hold.app}\n{hold.env}")
        pipe.hset(self._key, f"{hold.app}\n{hold.env}", json.dumps(asdict(hold)))
        previous, _ = pipe.execute()
        return Hold(**json.loads(previous)) if previous else None

    def all(self) -> list[Hold]:
        return sorted(
            (Hold(**json.loads(v)) for v in self.store.client.hgetall(self._key).values()), key=lambda h: h.at
        )

    def take(self, hold: Hold) -> bool:
        """Remove `hold` if it is still the one kept (a newer one may have replaced it); True if this took it."""
        return bool(self.store.client.eval(_TAKE, 1, self._key, f"{hold.app}\n{hold.env}", json.dumps(asdict(hold))))


_TAKE = """
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then
  redis.call('HDEL', KEYS[1], ARGV[1])
  return 1
end
return 0
"""
