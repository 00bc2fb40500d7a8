"""Freezes: who stopped deploys of what, where, when and why.

A freeze has a scope, an app or `all` and an environment or `all`; it covers every app and
environment its scope names. Freezes live in one hash in the store, one field per scope, so
every replica sees the same ones and a restart loses none; freezing a scope again replaces
that scope's freeze, and `unfreeze` lifts exactly one scope.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass

import redis

from bot.releases.model import Requester
from bot.store import Store

ALL = "all"


@dataclass(frozen=True)
class Freeze:
    app: str  # an app, or `all`
    env: str  # an environment, or `all`
    by: Requester
    at: float
    reason: str = ""

    @property
    def scope(self) -> tuple[str, str]:
        return self.app, self.env

    def covers(self, app: str, env: str) -> bool:
        return self.app in (ALL, app) and self.env in (ALL, env)

    def to_json(self) -> dict:
        return {"app": self.app, "env": self.env, "by": self.by.to_json(), "at": self.at, "reason": self.reason}

    @classmethod
    def from_json(cls, data: dict) -> Freeze:
        return cls(
            data["app"], data["env"], Requester.from_json(data.get("by")) or Requester(), data["at"], data["reason"]
        )


def covering(freezes: Iterable[Freeze], app: str, env: str) -> list[Freeze]:
    """The freezes that cover `app` in `env`, oldest first."""
    return sorted((f for f in freezes if f.covers(app, env)), key=lambda f: f.at)


class Freezes:
    def __init__(self, store: Store) -> None:
        self.store = store

    @property
    def _key(self) -> str:
        return self.store.key("freezes")

    def all(self) -> list[Freeze]:
        raw = self.store.client.hgetall(self._key)
        return sorted((Freeze.from_json(json.loads(value)) for value in raw.values()), key=lambda f: f.at)

    def covering(self, app: str, env: str) -> list[Freeze]:
        return covering(self.all(), app, env)

    def freeze(self, freeze: Freeze) -> Freeze | None:
        """Keep `freeze`, replacing any freeze of the same scope; returns the one it replaced."""
        field = f"{freeze.app}\n{freeze.env}"
        pipe = self.store.client.pipeline()
        pipe.hget(self._key, field)
        pipe.hset(self._key, field, json.dumps(freeze.to_json()))
        previous, _ = pipe.execute()
        return Freeze.from_json(json.loads(previous)) if previous else None

    def unfreeze(self, app: str, env: str) -> Freeze | None:
        """Lift exactly the freeze of this scope; returns it, or None when there was none."""
        field = f"{app}\n{env}"
        pipe = self.store.client.pipeline()
        pipe.hget(self._key, field)
        pipe.hdel(self._key, field)
        previous, _ = pipe.execute()
        return Freeze.from_json(json.loads(previous)) if previous else None

    def get(self, app: str, env: str) -> Freeze | None:
        """The freeze of exactly this scope, if any."""
        raw = self.store.client.hget(self._key, f"{app}\n{env}")
        return Freeze.from_json(json.loads(raw)) if raw else None

    def lift(self, freeze: Freeze) -> bool:
        """Lift `freeze` if it is still the one kept for its scope (an unfreeze run again after a crash
        must never lift a newer freeze of the same scope); True when this call lifted it."""
        field = f"{freeze.app}\n{freeze.env}"
        with self.store.client.pipeline() as pipe:
            try:
                pipe.watch(self._key)
                raw = pipe.hget(self._key, field)
                if not raw or Freeze.from_json(json.loads(raw)) != freeze:
                    return False
                pipe.multi()
                pipe.hdel(self._key, field)
                pipe.execute()
                return True
            except redis.WatchError:
                return False
