"""Every write to Slack goes through here.

The store says what each release's card should show; the outbox makes Slack match it. A
release that changed is marked; one worker thread brings each marked release up to date
(post the root once, edit it to the newest version, post its pending thread replies), so many
changes to one card between two visits become a single `chat.update`. Posts are paced to about
one per second per channel, a 429 waits for its Retry-After, server and connection errors are
retried with backoff, and nothing is dropped: what is not yet on Slack stays marked in the
store, so another replica or the next start picks it up.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from bot.chat import Chat, ChatRejected, ChatUnavailable, Posted, RateLimited
from bot.releases import ReleaseBook
from bot.store import LockNotAcquired, StoreError

log = logging.getLogger(__name__)

Render = Callable[[dict[str, Any]], tuple[str, list[dict[str, Any]]]]
MAX_BACKOFF = 30.0
RENDER_LOCK_SECONDS = 60


class Outbox:
    def __init__(
        self,
        *,
        chat: Chat,
        book: ReleaseBook,
        render: Render,
        channel: str,
        post_interval: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        on_call: Callable[[str, str], None] = lambda method, outcome: None,
    ) -> None:
        self.chat = chat
        self.book = book
        self.render = render
        self.channel = channel
        self.post_interval = post_interval
        self.clock = clock
        self.on_call = on_call
        self._due: dict[tuple[str, str], float] = {}
        self._failures: dict[tuple[str, str], int] = {}
        self._busy = False
        self._replies_pending = 0
        self._last_post: dict[str, float] = {}
        self._channel_ids: dict[str, str] = {}
        self._unconfirmed: set[tuple[str, ...]] = set()  # posts whose fate is unknown
        self._paused: dict[str, float] = {}  # Slack method -> when its Retry-After ends
        self._cond = threading.Condition()
        self._worker: threading.Thread | None = None
        self._running = False
        self._responders = ThreadPoolExecutor(max_workers=4, thread_name_prefix="slack-respond")

    # -- the queue ------------------------------------------------------------------------

    def touch(self, app: str, tag: str, delay: float = 0.0) -> None:
        """Bring this release's card up to date soon (coalesces with any pending visit)."""
        due = self.clock() + delay
        with self._cond:
            key = (app, tag)
            if key not in self._due or self._due[key] > due:
                self._due[key] = due
            self._cond.notify_all()

    def recover(self) -> int:
        """Queue every release the store still marks as not yet shown on Slack (start-up, other replicas)."""
        pending = self.book.dirty()
        for app, tag in pending:
            self.touch(app, tag)
        return len(pending)

    def start(self) -> None:
        if self._worker is None:
            self._running = True
            self._worker = threading.Thread(target=self._work_forever, name="slack-outbox", daemon=True)
            self._worker.start()

    def stop(self) -> None:
        with self._cond:
            self._running = False
            self._cond.notify_all()
        if self._worker is not None:
            self._worker.join(timeout=10)
            self._worker = None
        self._responders.shutdown(wait=True)

    def pending(self) -> int:
        with self._cond:
            return len(self._due)

    def idle(self) -> bool:
        with self._cond:
            return not self._due and not self._busy and not self._replies_pending

    def drain(self, timeout: float = 30.0) -> bool:
        """Wait until nothing is queued or being sent (tests, the console, shutdown)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._due or self._busy or self._replies_pending:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(min(remaining, 0.05))
        return True

    def wait_replies(self, timeout: float = 10.0) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: not self._replies_pending, timeout=timeout)

    def run_due(self) -> None:
        """Send everything that is due now, in this thread (the console's synchronous mode)."""
        while True:
            with self._cond:
                now = self.clock()
                ready = [key for key, due in self._due.items() if due <= now]
                if not ready:
                    return
                key = min(ready, key=self._due.__getitem__)
                del self._due[key]
            self._visit(key)

    def _work_forever(self) -> None:
        while True:
            with self._cond:
                while self._running:
                    now = self.clock()
                    if self._due:
                        key = min(self._due, key=self._due.__getitem__)
                        wait = self._due[key] - now
                        if wait <= 0:
                            del self._due[key]
                            self._busy = True
                            break
                        self._cond.wait(min(wait, 1.0))
                    else:
                        self._cond.wait(1.0)
                if not self._running:
                    return
            try:
                self._visit(key)
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()

    def _visit(self, key: tuple[str, str]) -> None:
        app, tag = key
        try:
            retry_in = self._reconcile(app, tag)
            self._failures.pop(key, None)
        except RateLimited as limited:
            retry_in = limited.retry_after
        except (ChatUnavailable, StoreError) as error:
            failures = self._failures[key] = self._failures.get(key, 0) + 1
            retry_in = min(MAX_BACKOFF, 0.25 * 2**failures)
            log.warning("slack card %s %s not updated yet (%s); retrying in %.1fs", app, tag, error, retry_in)
        except ChatRejected as error:
            self._failures.pop(key, None)
            log.error("slack refused the card for %s %s: %s", app, tag, error)
            retry_in = None
        if retry_in is not None:
            self.touch(app, tag, delay=retry_in)

    # -- making Slack match the store -----------------------------------------------------

    def _post_wait(self, channel: str) -> float:
        key = self._channel_ids.get(channel, channel)
        return max(0.0, self._last_post.get(key, -1e9) + self.post_interval - self.clock())

    def _posted(self, channel: str, channel_id: str) -> None:
        self._channel_ids[channel] = channel_id
        self._last_post[channel_id] = self.clock()

    def _reconcile(self, app: str, tag: str) -> float | None:
        """Do the next Slack writes this release needs; return seconds until it may go on, or None when done."""
        doc = self.book.get(app, tag)
        if doc is None:
            return None
        try:
            with self.book.store.locked(f"render:{app}:{tag}", timeout=RENDER_LOCK_SECONDS, wait=0):
                return self._reconcile_locked(app, tag)
        except LockNotAcquired:
            return 0.5  # another replica is showing this card right now; look again shortly

    def _reconcile_locked(self, app: str, tag: str) -> float | None:
        doc = self.book.get(app, tag)
        if doc is None:
            return None
        if doc["card"] is None:
            wait = max(self._post_wait(self.channel), self._paused_for("chat.postMessage"))
            if wait > 0:
                return wait
            text, blocks = self.render(doc)
            marker = f"{app} {tag}"
            posted = self._post_once((app, tag), self.channel, None, marker, text, blocks, broadcast=False)
            version = doc["version"]
            shown = _digest(text, blocks)

            def keep_card(d: dict[str, Any]) -> None:
                d["card"] = {"channel": posted.channel, "ts": posted.ts}
                d["rendered"] = max(d["rendered"], version)
                d["shown"] = shown

            doc = self.book.save_slack_view(app, tag, keep_card)
        elif doc["rendered"] < doc["version"]:
            wait = self._paused_for("chat.update")
            if wait > 0:
                return wait
            text, blocks = self.render(doc)
            card, version, shown = doc["card"], doc["version"], _digest(text, blocks)
            if shown != doc.get("shown"):  # an edit that would change nothing is not sent
                self._call("chat.update", lambda: self.chat.update(card["channel"], card["ts"], text, blocks))
            doc = self.book.save_slack_view(
                app, tag, lambda d: d.update(rendered=max(d["rendered"], version), shown=shown)
            )
        for reply in doc.get("replies", []):
            if reply["posted"]:
                continue
            card = doc["card"]
            wait = max(self._post_wait(card["channel"]), self._paused_for("chat.postMessage"))
            if wait > 0:
                return wait
            self._post_once(
                (app, tag, reply["id"]),
                card["channel"],
                card["ts"],
                reply["id"],
                reply["text"],
                None,
                broadcast=reply["broadcast"],
            )
            doc = self.book.save_slack_view(app, tag, lambda d, rid=reply["id"]: _mark_posted(d, rid))
        if doc and doc["rendered"] < doc["version"]:
            return 0.0
        return None

    def _post_once(
        self,
        key: tuple[str, ...],
        channel: str,
        thread_ts: str | None,
        marker: str,
        text: str,
        blocks: list[dict[str, Any]] | None,
        *,
        broadcast: bool,
    ) -> Posted:
        """chat.postMessage that never doubles a message: after a post whose fate is unknown
        (a server or connection error), look for its marker before posting again."""
        if key in self._unconfirmed:
            # a thread reply goes to the card's channel, which is already an ID
            channel_id = channel if thread_ts else self._channel_ids.get(channel) or self._resolve(channel)
            if channel_id is not None:
                found = self._call("conversations.history", lambda: self.chat.find(channel_id, marker, thread_ts))
                if found is not None:
                    self._unconfirmed.discard(key)
                    return found
        try:
            posted = self._call(
                "chat.postMessage",
                lambda: self.chat.post(channel, text, blocks, thread_ts=thread_ts, broadcast=broadcast, marker=marker),
            )
        except ChatUnavailable:
            self._unconfirmed.add(key)
            raise
        self._unconfirmed.discard(key)
        self._posted(channel, posted.channel)
        return posted

    def _resolve(self, channel: str) -> str | None:
        try:
            channel_id = self._call("conversations.list", lambda: self.chat.channel_id(channel))
        except ChatRejected as error:
            log.warning("cannot look up channel %s (%s); a retried post may show twice", channel, error)
            return None
        if channel_id:
            self._channel_ids[channel] = channel_id
        return channel_id

    def _paused_for(self, method: str) -> float:
        return max(0.0, self._paused.get(method, 0.0) - self.clock())

    def _call(self, method: str, send: Callable[[], Any]) -> Any:
        try:
            result = send()
        except RateLimited as limited:
            self.on_call(method, "rate_limited")
            self._paused[method] = max(self._paused.get(method, 0.0), self.clock() + limited.retry_after)
            raise
        except ChatUnavailable:
            self.on_call(method, "unavailable")
            raise
        except ChatRejected:
            self.on_call(method, "rejected")
            raise
        self.on_call(method, "ok")
        return result

    # -- ephemeral replies ----------------------------------------------------------------

    def respond(self, response_url: str | None, text: str) -> None:
        """Tell the requester, privately, in the background, retrying what is worth retrying."""
        if response_url:
            with self._cond:
                self._replies_pending += 1
            self._responders.submit(self._respond, response_url, text)

    def _respond(self, response_url: str, text: str) -> None:
        try:
            self._send_reply(response_url, text)
        finally:
            with self._cond:
                self._replies_pending -= 1
                self._cond.notify_all()

    def _send_reply(self, response_url: str, text: str) -> None:
        for attempt in range(5):
            try:
                self._call("response_url", lambda: self.chat.respond(response_url, text))
                return
            except RateLimited as limited:
                time.sleep(min(limited.retry_after, MAX_BACKOFF))
            except ChatUnavailable:
                time.sleep(0.25 * 2**attempt)
            except ChatRejected as error:
                log.error("slack refused a reply to the requester: %s", error)
                return
        log.error("could not reply to the requester after 5 attempts")


def _digest(text: str, blocks: list[dict[str, Any]]) -> str:
    """What a card shows, in a few bytes, to tell whether an edit would change anything."""
    return hashlib.sha256(json.dumps([text, blocks], sort_keys=True).encode()).hexdigest()[:16]


def _mark_posted(doc: dict[str, Any], reply_id: str) -> None:
    for reply in doc["replies"]:
        if reply["id"] == reply_id:
            reply["posted"] = True
