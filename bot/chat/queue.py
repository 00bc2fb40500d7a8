"""Which card (or notice) to bring up to date next.

Many changes to one card between two visits become one visit. A release with something a
person must read (a failure, a reply to someone waiting) goes before new cards and edits, so
a burst of deploys never holds up the message that matters. Cards of releases the bot only
heard of by webhook (`background`) wait behind every card of a real deploy, so that whoever
holds a webhook token cannot delay a real deploy's card or failure reply.
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
            if urgent:
                self._urgent.add(key)
            if background:
                self._background.add(key)
            elif background is not None:
                self._background.discard(key)
            self.changed.notify_all()

    def take_due(self) -> tuple[Key | None, float | None]:
        """The next card due now (real deploys' before those only heard of, urgent first, then the
        longest waiting) and, if none is, how long until one is. Call with `changed` held."""
        if not self._due:
            return None, None
        now = self.clock()
        ready = [key for key, due in self._due.items() if due <= now]
        if not ready:
            return None, min(self._due.values()) - now
        key = min(ready, key=lambda k: (k in self._background, k not in self._urgent, self._due[k]))
        del self._due[key]
        return key, None

    def settled(self, key: Key) -> None:
        """The card is up to date: it is urgent no longer (until it is touched as urgent again)."""
        with self.changed:
            if key not in self._due:
                self._urgent.discard(key)
                self._background.discard(key)

    def waiting(self) -> int:
        """How many cards are queued; call with `changed` held."""
        return len(self._due)

    def __len__(self) -> int:
        with self.changed:
            return len(self._due)
