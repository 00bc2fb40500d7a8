"""Where each release `(app, tag)` stands in every environment: the state behind its card.

A release is one JSON document in the store, changed only under a per-release lock shared by
every replica. Each change bumps `version`; the outbox brings Slack up to that version later,
so Slack is a view of the store and a restart loses nothing. Events never move an environment
backwards, and an event already applied (same environment, kind and outcome) changes nothing.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bot.store import Store

log = logging.getLogger(__name__)

# How far along an environment is; an event may not move it to a lower rank.
RANK = {
    "requested": 0,
    "deploy_failed": 0,
    "syncing": 1,
    "synced": 2,
    "sync_failed": 2,
    "degraded": 3,  # a Degraded app after its tests passed still matters
    "tests_passed": 3,
    "tests_failed": 3,
}
STATE_WORDS = {
    "requested": "requested",
    "deploy_failed": "deploy failed",
    "syncing": "syncing",
    "synced": "synced",
    "sync_failed": "sync failed",
    "degraded": "degraded",
    "tests_passed": "tests passed",
    "tests_failed": "tests failed",
}
RELEASE_TTL_SECONDS = 90 * 24 * 3600
LOCK_TIMEOUT = 10
QUIET = "quiet"


@dataclass(frozen=True)
class Requester:
    """Who asked for a deploy: a person (Slack user and GitHub login) or CI."""

    slack_user: str | None = None
    login: str | None = None

    @property
    def is_person(self) -> bool:
        return self.slack_user is not None

    @property
    def trailer(self) -> str:
        return f"{self.login or 'CI'} ({self.slack_user or 'none'})"

    def as_dict(self) -> dict[str, str | None]:
        return {"slack_user": self.slack_user, "login": self.login}

    @classmethod
    def from_dict(cls, data: dict | None) -> Requester | None:
        return cls(data.get("slack_user"), data.get("login")) if data else None


CI = Requester()


def mention(requester: dict | None) -> str:
    if requester and requester.get("slack_user"):
        return f"<@{requester['slack_user']}>"
    return "CI"


class ReleaseBook:
    def __init__(self, store: Store, clock: Callable[[], float]) -> None:
        self.store = store
        self.clock = clock
        self.on_change: Callable[[str, str], None] = lambda app, tag: None  # set by the wiring: the outbox

    def _key(self, app: str, tag: str) -> str:
        return self.store.key("release", app, tag)

    @property
    def dirty_key(self) -> str:
        return self.store.key("releases", "dirty")

    @property
    def awaiting_sync_key(self) -> str:
        return self.store.key("releases", "awaiting-sync")

    def get(self, app: str, tag: str) -> dict[str, Any] | None:
        return self.store.get_json(self._key(app, tag))

    def change(
        self,
        app: str,
        tag: str,
        edit: Callable[[dict[str, Any]], bool | str],
        also: Callable[[Any], None] | None = None,
    ) -> bool:
        """Apply `edit` to the release under its lock; True when the card must change.

        `edit` returns True when what the card shows changed, QUIET when only bookkeeping
        changed (saved, nothing for Slack), or False when nothing changed at all. `also` adds
        commands to the same transaction.
        """
        with self.store.locked(f"release:{app}:{tag}", timeout=LOCK_TIMEOUT, wait=LOCK_TIMEOUT):
            doc = self.get(app, tag) or new_release(app, tag, self.clock())
            changed = edit(doc)
            if not changed:
                return False
            pipe = self.store.client.pipeline()
            if changed is not QUIET:
                doc["version"] += 1
                pipe.zadd(self.dirty_key, {f"{app}\n{tag}": self.clock()})
            pipe.set(self._key(app, tag), json.dumps(doc, separators=(",", ":")), ex=RELEASE_TTL_SECONDS)
            if also is not None:
                also(pipe)  # bookkeeping that must change together with the release
            pipe.execute()
        if changed is not QUIET:
            self.on_change(app, tag)
        return changed is not QUIET

    def save_slack_view(self, app: str, tag: str, update: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
        """Record what Slack now shows (card ts, rendered version, posted replies); no version bump."""
        with self.store.locked(f"release:{app}:{tag}", timeout=LOCK_TIMEOUT, wait=LOCK_TIMEOUT):
            doc = self.get(app, tag)
            if doc is None:
                return {}
            update(doc)
            pipe = self.store.client.pipeline()
            pipe.set(self._key(app, tag), json.dumps(doc, separators=(",", ":")), ex=RELEASE_TTL_SECONDS)
            if not needs_slack(doc):
                pipe.zrem(self.dirty_key, f"{app}\n{tag}")
            pipe.execute()
            return doc

    def dirty(self, limit: int = 1000) -> list[tuple[str, str]]:
        members = self.store.client.zrange(self.dirty_key, 0, limit - 1)
        return [tuple(m.split("\n", 1)) for m in members]  # type: ignore[misc]

    # -- events ---------------------------------------------------------------------------

    def deploy_requested(
        self, app: str, tag: str, env: str, requester: Requester, *, commit: str | None, automatic: bool = False
    ) -> None:
        now = self.clock()

        synced_already = False

        def edit(doc: dict[str, Any]) -> bool:
            nonlocal synced_already
            entry = doc["envs"].get(env) or {}
            # Argo CD may report the sync of this very commit before the bot has written it down
            synced_already = commit is not None and entry.get("revision") == commit
            if synced_already:
                entry.update(requester=requester.as_dict(), commit=commit, automatic=automatic)
            else:
                doc["envs"][env] = {
                    "state": "requested",
                    "at": now,
                    "requester": requester.as_dict(),
                    "commit": commit,
                    "automatic": automatic,
                    "seen": [],
                }
            if requester.is_person:
                add_reply(doc, f"{mention(requester.as_dict())} requested {tag} in {env}{_commit_words(commit)}.")
            return True

        def watch_for_sync(pipe: Any) -> None:
            if not synced_already:
                pipe.zadd(self.awaiting_sync_key, {f"{app}\n{tag}\n{env}": now})

        self.change(app, tag, edit, also=watch_for_sync)

    def deploy_failed(self, app: str, tag: str, env: str, requester: Requester, reason: str) -> None:
        now = self.clock()

        def edit(doc: dict[str, Any]) -> bool:
            doc["envs"][env] = {"state": "deploy_failed", "at": now, "requester": requester.as_dict(), "seen": []}
            add_reply(
                doc,
                f":x: {mention(requester.as_dict())} the deploy of {tag} to {env} failed: {reason}. "
                "Nothing was committed.",
                broadcast=True,
            )
            return True

        self.change(app, tag, edit)

    def event(
        self,
        app: str,
        tag: str,
        env: str,
        *,
        kind: str,
        outcome: str,
        state: str,
        details: dict[str, Any],
        reply: Callable[[dict[str, Any]], tuple[str, bool] | None] | None = None,
        draft_of: str | None = None,
    ) -> str:
        """Apply a webhook event. Returns `duplicate`, `stale` (older than what we know) or `applied`.

        With `draft_of` (a draft application), the state is shown for that draft stack only.
        """
        fingerprint = f"{kind}:{outcome}"
        result = "duplicate"
        now = self.clock()

        def edit(doc: dict[str, Any]) -> bool:
            nonlocal result
            entry = doc["envs"].setdefault(env, {"state": None, "seen": [], "requester": None})
            if fingerprint in entry["seen"]:
                result = "duplicate"
                return False
            entry["seen"].append(fingerprint)
            current = entry.get("state")
            if draft_of is not None:  # a draft stack: shown beside the environment, never moves it
                result = "applied"
                entry.setdefault("drafts", {})[draft_of] = state
                message = reply(entry) if reply else None
                if message:
                    add_reply(doc, message[0], broadcast=message[1])
                return True
            if current is None or RANK[state] >= RANK[current]:
                entry.update({k: v for k, v in details.items() if v not in (None, "", [])})
                entry["state"] = state
                entry["at"] = now
                result = "applied"
                message = reply(entry) if reply else None
                if message:
                    add_reply(doc, message[0], broadcast=message[1])
                return True
            result = "stale"
            return QUIET

        def stop_watching(pipe: Any) -> None:
            if result == "applied" and kind == "sync" and draft_of is None and state != "syncing":
                pipe.zrem(self.awaiting_sync_key, f"{app}\n{tag}\n{env}")

        self.change(app, tag, edit, also=stop_watching)
        return result

    def mark_promoted(self, app: str, tag: str, env: str, to_env: str, by: Requester | None, at: float) -> None:
        """`by` None: nobody promoted it; the next environment was found already running the release."""

        def edit(doc: dict[str, Any]) -> bool:
            entry = doc["envs"].setdefault(env, {"state": None, "seen": [], "requester": None})
            entry["promoted"] = {"to": to_env, "by": by.as_dict() if by else None, "at": at}
            return True

        self.change(app, tag, edit)

    def touch(self, app: str, tag: str) -> None:
        """Show the card again (what the charts repo says changed, not the release's own state)."""
        self.change(app, tag, lambda doc: True)

    def add_thread_reply(self, app: str, tag: str, text: str, *, broadcast: bool = False) -> None:
        def edit(doc: dict[str, Any]) -> bool:
            add_reply(doc, text, broadcast=broadcast)
            return True

        self.change(app, tag, edit)

    def awaiting_sync_since(self, before: float) -> list[tuple[str, str, str]]:
        members = self.store.client.zrangebyscore(self.awaiting_sync_key, "-inf", before)
        return [tuple(m.split("\n", 2)) for m in members]  # type: ignore[misc]

    def forget_awaiting_sync(self, app: str, tag: str, env: str) -> None:
        self.store.client.zrem(self.awaiting_sync_key, f"{app}\n{tag}\n{env}")


def new_release(app: str, tag: str, now: float) -> dict[str, Any]:
    return {
        "app": app,
        "tag": tag,
        "created": now,
        "version": 0,
        "rendered": 0,
        "card": None,
        "envs": {},
        "replies": [],
    }


def add_reply(doc: dict[str, Any], text: str, *, broadcast: bool = False) -> None:
    doc["replies"].append({"id": uuid.uuid4().hex, "text": text, "broadcast": broadcast, "posted": False})


def needs_slack(doc: dict[str, Any]) -> bool:
    return doc.get("card") is None or doc["rendered"] < doc["version"] or any(not r["posted"] for r in doc["replies"])


def _commit_words(commit: str | None) -> str:
    return f" (commit `{commit[:7]}`)" if commit else ""
