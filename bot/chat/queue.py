"""Which card (or notice) to bring up to date next.

Many changes to one card between two visits become one visit. A release with something a
person must read (a failure, a reply to someone waiting) goes before new cards and edits, so
a burst of deploys never holds up the message that matters. Cards of releases the bot only
heard of by webhook (`background`) wait behind every card of a real deploy, so that whoever
holds a webhook token cannot delay a real deploy's card or failure reply.

Cards that wait for the channel's next post turn (Slack's one post a second) wait together and
are all ready the moment it comes, so the order above picks who takes it. Each given its own
due time, they raced by milliseconds, and under load a flood's card took turn after turn from
a real deploy's failure reply (tests/test_flood.py).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

Key = tuple[str, ...]  # ("release", app, tag) or ("notice", id)


class CardQueue:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._due: dict[Key, float] = {}
        self._urgent: set[Key] = set()
        self._background: set[Key] = set()
        self._awaiting_turn: set[Key] = set()
        self._turn_at = 0.0  # when the next post turn comes, as last found out
        self.changed = threading.Condition()

    def touch(self, key: Key, urgent: bool = False, delay: float = 0.0, background: bool | None = None) -> None:
        """Visit this release's card soon (coalesces with any visit already queued).

        An urgent card stays urgent through retries and waits until it is `settled`. `background`
        True: a card only heard of by webhook, visited after every other; False: no longer so;
        None: as it was."""
        due = self.clock() + delay
        with self.changed:
            if key not in self._due or self._due[key] > due:
                self._due[key] = due
            self._awaiting_turn.discard(key)
            if urgent:
                self._urgent.add(key)
            if background:
                self._background.add(key)
            elif background is not None:
                self._background.discard(key)
            self.changed.notify_all()

    def wait_for_turn(self, key: Key, delay: float) -> None:
        """This card has a post to make, and the next post turn comes in `delay` seconds: visit it
        then, in its order among every card waiting for that turn."""
        now = self.clock()
        with self.changed:
            self._due[key] = min(self._due.get(key, now), now)
            self._awaiting_turn.add(key)
            self._turn_at = now + delay
            self.changed.notify_all()

    def take_due(self) -> tuple[Key | None, float | None]:
        """The next card due now (real deploys' before those only heard of, urgent first, then the
        longest waiting) and, if none is, how long until one is. Call with `changed` held."""
        if not self._due:
            return None, None
        now = self.clock()
        due_at = {key: max(due, self._turn_at) if key in self._awaiting_turn else due for key, due in self._due.items()}
        ready = [key for key, due in due_at.items() if due <= now]
        if not ready:
            return None, min(due_at.values()) - now
        key = min(ready, key=lambda k: (k in self._background, k not in self._urgent, self._due[k]))
        del self._due[key]
        self._awaiting_turn.discard(key)
        return key, None

    def settled(self, key: Key) -> None:
        """The card is up to date: it is urgent no longer (until it is touched as urgent again)."""
        with self.changed:
            if key not in self._due:
                self._awaiting_turn.discard(key)
                self._urgent.discard(key)
                self._background.discard(key)

    def waiting(self) -> int:
        """How many cards are queued; call with `changed` held."""
        return len(self._due)

    def __len__(self) -> int:
        with self.changed:
            return len(self._due)
