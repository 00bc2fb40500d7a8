"""Messages that belong to no release card: announcements, approval requests, a team's alerts.

A notice is kept in the store like a release (one JSON document, a version the outbox brings
Slack up to), so it is posted once, can be edited in place later (an approval request that
says who approved it), and survives a restart. The outbox sends it; this only keeps it.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bot.releases.model import Button, CardRef
from bot.store import Store

NOTICE_TTL_SECONDS = 30 * 24 * 3600
LOCK_TIMEOUT = 10
OnChange = Callable[[str, bool], None]  # (notice id, urgent)

# The notice and its place in the outbox's queue, written only if no notice has that id: one step,
# so whoever writes it has both claimed it and queued it, and a crash leaves neither half.
_POST_ONCE = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[2]) then
  redis.call('ZADD', KEYS[2], 'NX', ARGV[3], ARGV[4])
  return 1
end
return 0
"""


@dataclass
class Notice:
    id: str
    channel: str
    text: str
    buttons: list[Button] = field(default_factory=list)
    version: int = 1
    rendered: int = 0
    posted: CardRef | None = None

    @property
    def needs_slack(self) -> bool:
        return self.posted is None or self.rendered < self.version

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "channel": self.channel,
            "text": self.text,
            "buttons": [b.to_json() for b in self.buttons],
            "version": self.version,
            "rendered": self.rendered,
            "posted": {"channel": self.posted.channel, "ts": self.posted.ts} if self.posted else None,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Notice:
        posted = data.get("posted")
        return cls(
            id=data["id"],
            channel=data["channel"],
            text=data["text"],
            buttons=[Button.from_json(b) for b in data.get("buttons") or []],
            version=data.get("version") or 1,
            rendered=data.get("rendered") or 0,
            posted=CardRef(posted["channel"], posted["ts"]) if posted else None,
        )


class NoticeBoard:
    def __init__(self, store: Store, clock: Callable[[], float], on_change: OnChange) -> None:
        self.store = store
        self.clock = clock
        self.on_change = on_change

    def _key(self, notice_id: str) -> str:
        return self.store.key("notice", notice_id)

    @property
    def _dirty_key(self) -> str:
        return self.store.key("notices", "dirty")

    def post(
        self,
        channel: str,
        text: str,
        buttons: list[Button] | None = None,
        *,
        urgent: bool = False,
        once: str | None = None,
    ) -> str:
        """Queue a new message for `channel`; returns its id, to edit it later. With `once` (e.g. a task's
        id) the notice's id is derived from it, and a second post under it queues nothing: a step run
        again after a crash announces once."""
        notice_id = f"once-{once}" if once else uuid.uuid4().hex
        notice = Notice(id=notice_id, channel=channel, text=text, buttons=list(buttons or []))
        if once:
            if not self._queue_once(notice):
                return notice.id
        else:
            self._save(notice, dirty=True)
        self.on_change(notice.id, urgent)
        return notice.id

    def post_once(self, notice_id: str, channel: str, text: str) -> bool:
        """Queue a message under a chosen id unless one has that id already; True if this call queued it."""
        if not self._queue_once(Notice(id=notice_id, channel=channel, text=text)):
            return False
        self.on_change(notice_id, False)
        return True

    def _queue_once(self, notice: Notice) -> bool:
        """Save and queue `notice` unless one has its id already (one script: claimed and queued, or neither)."""
        body = json.dumps(notice.to_json(), separators=(",", ":"))
        keys = (self._key(notice.id), self._dirty_key)
        return bool(self.store.client.eval(_POST_ONCE, 2, *keys, body, NOTICE_TTL_SECONDS, self.clock(), notice.id))

    def edit(self, notice_id: str, text: str, buttons: list[Button] | None = None) -> bool:
        """Change what a notice says (buttons gone unless given); False when it no longer exists."""
        with self.store.locked(f"notice:{notice_id}", timeout=LOCK_TIMEOUT, wait=LOCK_TIMEOUT):
            notice = self.get(notice_id)
            if notice is None:
                return False
            notice.text, notice.buttons, notice.version = text, list(buttons or []), notice.version + 1
            self._save(notice, dirty=True)
        self.on_change(notice_id, False)
        return True

    def get(self, notice_id: str) -> Notice | None:
        raw = self.store.client.get(self._key(notice_id))
        return Notice.from_json(json.loads(raw)) if raw else None

    def save_slack_view(self, notice_id: str, update: Callable[[Notice], None]) -> Notice | None:
        with self.store.locked(f"notice:{notice_id}", timeout=LOCK_TIMEOUT, wait=LOCK_TIMEOUT):
            notice = self.get(notice_id)
            if notice is None:
                return None
            update(notice)
            self._save(notice, dirty=notice.needs_slack)
            return notice

    def not_on_slack(self, limit: int = 1000) -> list[str]:
        return self.store.client.zrange(self._dirty_key, 0, limit - 1)

    def give_up_on_slack(self, notice_id: str) -> None:
        self.store.client.zrem(self._dirty_key, notice_id)

    def _save(self, notice: Notice, *, dirty: bool) -> None:
        pipe = self.store.client.pipeline()
        pipe.set(self._key(notice.id), json.dumps(notice.to_json(), separators=(",", ":")), ex=NOTICE_TTL_SECONDS)
        if dirty:
            pipe.zadd(self._dirty_key, {notice.id: self.clock()}, nx=True)
        else:
            pipe.zrem(self._dirty_key, notice.id)
        pipe.execute()
