"""Releases kept in the store: one JSON document each, changed one event at a time.

A release changes only under a per-release lock shared by every replica, and only through
`transitions.apply`. Each change the card must show bumps `version` and marks the release as
"not yet on Slack"; the outbox brings Slack up to that version later, so Slack is a view of
the store and a restart loses nothing.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

from bot import messages
from bot.releases import transitions
from bot.releases.model import Release, State
from bot.releases.transitions import Change, Event, Transition
from bot.store import Store

log = logging.getLogger(__name__)

RELEASE_TTL_SECONDS = 90 * 24 * 3600
# a release the bot only heard of (webhooks, the APIs) is kept a week, so that whoever holds a
# webhook token cannot fill the store for 90 days; one the bot deploys anywhere is kept 90 days
HEARD_ONLY_TTL_SECONDS = 7 * 24 * 3600
LOCK_TIMEOUT = 10
OnChange = Callable[[str, str, bool], None]  # (app, tag, urgent): a card to bring up to date


class ReleaseBook:
    def __init__(
        self, store: Store, clock: Callable[[], float], on_change: OnChange, on_heard_change: OnChange | None = None
    ) -> None:
        self.store = store
        self.clock = clock
        self.on_change = on_change
        # a change to a release only heard of: its card may wait behind real deploys' cards and replies
        self.on_heard_change = on_heard_change or on_change

    def knows(self, app: str, tag: str) -> bool:
        """Whether the bot has this release already (its card exists or is on its way)."""
        return bool(self.store.client.exists(self._key(app, tag)))

    def _key(self, app: str, tag: str) -> str:
        return self.store.key("release", app, tag)

    @property
    def _dirty_key(self) -> str:
        return self.store.key("releases", "dirty")

    @property
    def _awaiting_key(self) -> str:
        return self.store.key("releases", "awaiting-sync")

    @property
    def _awaiting_tags_key(self) -> str:
        return self.store.key("releases", "awaiting-sync-tags")

    def _lock(self, app: str, tag: str):
        return self.store.locked(f"release:{app}:{tag}", timeout=LOCK_TIMEOUT, wait=LOCK_TIMEOUT)

    def get(self, app: str, tag: str) -> Release | None:
        raw = self.store.get_json(self._key(app, tag))
        return Release.from_json(raw) if raw else None

    def get_many(self, pairs: list[tuple[str, str]]) -> list[Release]:
        """The stored releases among `(app, tag)` pairs, in one round trip; missing ones left out."""
        if not pairs:
            return []
        raws = self.store.client.mget([self._key(app, tag) for app, tag in pairs])
        return [Release.from_json(json.loads(raw)) for raw in raws if raw]

    def promotion_blocked_by_tests(self, app: str, tag: str, env: str, to_env: str, *, must_pass: bool) -> str | None:
        """Why CI may not promote `tag` from `env` to `to_env` for its tests, or None.

        Failed tests there always stop it; with `must_pass` (the bot reads `env`'s tests itself)
        so does anything but passed tests (or synced where no tests run)."""
        release = self.get(app, tag)
        entry = release.envs.get(env) if release else None
        if entry is not None and entry.state is State.TESTS_FAILED:
            return messages.ci_promotion_tests_failed(tag, env, to_env)
        if must_pass and not (entry is not None and entry.ready_to_promote):
            return messages.ci_promotion_untested(tag, env, to_env)
        return None

    def apply(self, app: str, tag: str, event: Event) -> Transition:
        """Apply `event` to the release under its lock and save what changed."""
        with self._lock(app, tag):
            release = self.get(app, tag) or Release(app=app, tag=tag, created=self.clock())
            transition = transitions.apply(release, event, self.clock())
            if transition.change is Change.NONE:
                return transition
            changed = transition.release
            pipe = self.store.client.pipeline()
            if transition.change is Change.CARD:
                changed.version += 1
                pipe.zadd(self._dirty_key, {f"{app}\n{tag}": self.clock()})
            pipe.set(self._key(app, tag), _dump(changed), ex=_kept_for(changed))
            if transition.watch_sync:
                env = event.env  # type: ignore[union-attr]  # only deploys start a watch
                # one watch per app and environment: a newer deploy there replaces an older one's
                pipe.zadd(self._awaiting_key, {f"{app}\n{env}": self.clock()})
                pipe.hset(self._awaiting_tags_key, f"{app}\n{env}", tag)
            pipe.execute()
        if transition.change is Change.CARD:
            notify = self.on_heard_change if changed.heard_only else self.on_change
            notify(app, tag, changed.urgent)
        return transition

    def save_slack_view(self, app: str, tag: str, update: Callable[[Release], None]) -> Release | None:
        """Record what Slack now shows (card, rendered version, posted replies); no version bump."""
        with self._lock(app, tag):
            release = self.get(app, tag)
            if release is None:
                return None
            update(release)
            pipe = self.store.client.pipeline()
            pipe.set(self._key(app, tag), _dump(release), ex=_kept_for(release))
            if not release.needs_slack:
                pipe.zrem(self._dirty_key, f"{app}\n{tag}")
            pipe.execute()
            return release

    def not_on_slack(self, limit: int = 1000) -> list[tuple[str, str]]:
        """Releases whose card Slack does not show as stored yet (start-up, other replicas)."""
        members = self.store.client.zrange(self._dirty_key, 0, limit - 1)
        return [tuple(m.split("\n", 1)) for m in members]  # type: ignore[misc]

    def heard_only(self, releases: list[tuple[str, str]]) -> set[tuple[str, str]]:
        """Which of these releases the bot only heard of (one round trip): their cards wait behind real ones."""
        if not releases:
            return set()
        raws = self.store.client.mget([self._key(app, tag) for app, tag in releases])
        return {
            pair
            for pair, raw in zip(releases, raws, strict=True)
            if raw and Release.from_json(json.loads(raw)).heard_only
        }

    def give_up_on_slack(self, app: str, tag: str) -> None:
        """Stop retrying this card (Slack refused it, or the release expired); a new change marks it again."""
        self.store.client.zrem(self._dirty_key, f"{app}\n{tag}")

    # -- deploys waiting for Argo CD -------------------------------------------------------------

    def awaiting_sync_since(self, before: float) -> list[tuple[str, str, str]]:
        """(app, tag, env) of deploys waiting for a sync outcome since before `before`."""
        members = self.store.client.zrangebyscore(self._awaiting_key, "-inf", before)
        if not members:
            return []
        tags = self.store.client.hmget(self._awaiting_tags_key, members)
        waiting = []
        for member, tag in zip(members, tags, strict=True):
            app, _, env = member.partition("\n")
            if tag is not None:
                waiting.append((app, tag, env))
        return waiting

    def forget_awaiting_sync(self, app: str, tag: str, env: str) -> None:
        """Stop watching this deploy, unless a newer deploy of the app there has replaced its watch."""
        self.store.client.eval(_FORGET_WATCH, 2, self._awaiting_key, self._awaiting_tags_key, f"{app}\n{env}", tag)


_FORGET_WATCH = """
local tag = redis.call('HGET', KEYS[2], ARGV[1])
if tag == false or tag == ARGV[2] then
  redis.call('ZREM', KEYS[1], ARGV[1])
  redis.call('HDEL', KEYS[2], ARGV[1])
  return 1
end
return 0
"""


def _kept_for(release: Release) -> int:
    return HEARD_ONLY_TTL_SECONDS if release.heard_only else RELEASE_TTL_SECONDS


def _dump(release: Release) -> str:
    return json.dumps(release.to_json(), separators=(",", ":"))
