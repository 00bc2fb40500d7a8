"""The worker that makes every card (and notice) on Slack match what the store says.

The store says what each release's card should show; a changed release is queued
(`CardQueue`); one worker thread visits each queued release and does the Slack writes it
needs: post the root message once, edit it to the newest version, post its pending thread
replies. What is not yet on Slack stays marked in the store, so another replica or the next
start picks it up. Server and connection errors are retried with backoff; a card Slack
refuses, or whose release has expired, is given up until its release changes again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from bot.chat.notices import Notice, NoticeBoard
from bot.chat.pacing import Pacer
from bot.chat.post_once import PostOnce
from bot.chat.queue import CardQueue
from bot.chat.service import Chat, ChatRejected, ChatUnavailable, RateLimited
from bot.releases.book import ReleaseBook
from bot.releases.model import Button, CardRef, Release
from bot.store import LockNotAcquired, StoreError

log = logging.getLogger(__name__)

Render = Callable[[Release], tuple[str, list[dict[str, Any]]]]
RenderReply = Callable[[str, list[Button]], "list[dict[str, Any]] | None"]
MAX_BACKOFF = 30.0
RENDER_LOCK_SECONDS = 60


class TurnNotYet(Exception):
    """A post must wait for the channel's next turn (pacing, or a 429 on chat.postMessage)."""

    def __init__(self, wait: float) -> None:
        super().__init__(f"next post turn in {wait:.2f}s")
        self.wait = wait


class Outbox:
    def __init__(
        self,
        *,
        chat: Chat,
        book: ReleaseBook,
        notices: NoticeBoard,
        queue: CardQueue,
        pacer: Pacer,
        render: Render,
        render_reply: RenderReply,
        channel: str,
    ) -> None:
        self.chat = chat
        self.book = book
        self.notices = notices
        self.queue = queue
        self.pacer = pacer
        self.posts = PostOnce(chat, pacer)
        self.render = render
        self.render_reply = render_reply
        self.channel = channel
        self._failures: dict[tuple[str, ...], int] = {}
        self._busy = False
        self._worker: threading.Thread | None = None
        self._running = False

    # -- the worker -----------------------------------------------------------------------------

    def start(self) -> None:
        if self._worker is None:
            self._running = True
            self._worker = threading.Thread(target=self._work_forever, name="slack-outbox", daemon=True)
            self._worker.start()

    def stop(self) -> None:
        with self.queue.changed:
            self._running = False
            self.queue.changed.notify_all()
        if self._worker is not None:
            self._worker.join(timeout=10)
            self._worker = None

    def is_alive(self) -> bool:
        """False once started and its worker has stopped: no card would ever be updated again."""
        return self._worker is None or self._worker.is_alive()

    def recover(self) -> int:
        """Queue every card and notice the store still marks as not yet on Slack (start-up, other replicas)."""
        releases = self.book.not_on_slack()
        heard = self.book.heard_only(releases)  # after a restart mid-flood, real cards still go first
        for app, tag in releases:
            self.queue.touch(("release", app, tag), background=(app, tag) in heard)
        notices = self.notices.not_on_slack()
        for notice_id in notices:
            self.queue.touch(("notice", notice_id))
        return len(releases) + len(notices)

    def idle(self) -> bool:
        with self.queue.changed:
            return not self.queue.waiting() and not self._busy

    def drain(self, timeout: float = 30.0) -> bool:
        """Wait until nothing is queued or being sent (tests, the console, shutdown)."""
        deadline = time.monotonic() + timeout
        with self.queue.changed:
            while self.queue.waiting() or self._busy:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self.queue.changed.wait(min(remaining, 0.05))
        return True

    def run_due(self) -> None:
        """Send everything that is due now, in this thread (the console's synchronous mode)."""
        while True:
            with self.queue.changed:
                key, _ = self.queue.take_due()
            if key is None:
                return
            self._visit(key)

    def _work_forever(self) -> None:
        while True:
            with self.queue.changed:
                while self._running:
                    key, wait = self.queue.take_due()
                    if key is not None:
                        self._busy = True
                        break
                    self.queue.changed.wait(min(wait, 1.0) if wait is not None else 1.0)
                if not self._running:
                    return
            try:
                self._visit(key)
            finally:
                with self.queue.changed:
                    self._busy = False
                    self.queue.changed.notify_all()

    def _visit(self, key: tuple[str, ...]) -> None:
        try:
            retry_in = self._reconcile(key)
            self._failures.pop(key, None)
        except TurnNotYet as waiting:
            self.queue.wait_for_turn(key, waiting.wait)
            return
        except RateLimited as limited:
            posts_paused = self.pacer.paused_for("chat.postMessage")
            if posts_paused > 0:  # every post waits this out: in order, with the rest
                self.queue.wait_for_turn(key, posts_paused)
                return
            retry_in = limited.retry_after
        except (ChatUnavailable, StoreError) as error:
            retry_in = self._backoff(key)
            log.warning("slack %s not updated yet (%s); retrying in %.1fs", " ".join(key), error, retry_in)
        except ChatRejected as error:
            log.error("slack refused %s: %s; giving up until it changes again", " ".join(key), error)
            retry_in = self._give_up(key)
        except Exception:  # the worker must outlive any one card, or no card is ever updated again
            log.exception("could not bring %s up to date; giving up until it changes again", " ".join(key))
            retry_in = self._give_up(key)
        if retry_in is None:
            self.queue.settled(key)
        else:
            self.queue.touch(key, delay=retry_in)

    def _backoff(self, key: tuple[str, ...]) -> float:
        failures = self._failures[key] = self._failures.get(key, 0) + 1
        return min(MAX_BACKOFF, 0.25 * 2**failures)

    def _give_up(self, key: tuple[str, ...]) -> None:
        self._failures.pop(key, None)
        try:
            if key[0] == "release":
                self.book.give_up_on_slack(key[1], key[2])
            else:
                self.notices.give_up_on_slack(key[1])
        except StoreError:
            log.warning("could not take %s off the list to retry", " ".join(key))

    # -- making Slack match the store -----------------------------------------------------------

    def _reconcile(self, key: tuple[str, ...]) -> float | None:
        """Do the next Slack writes this card or notice needs; return seconds until it may go on, or None when done."""
        try:
            with self.book.store.locked("render:" + ":".join(key[1:]), timeout=RENDER_LOCK_SECONDS, wait=0):
                if key[0] == "release":
                    return self._reconcile_release(key[1], key[2])
                return self._reconcile_notice(key[1])
        except LockNotAcquired:
            return 0.5  # another replica is showing this right now; look again shortly

    def _reconcile_notice(self, notice_id: str) -> float | None:
        notice = self.notices.get(notice_id)
        if notice is None:
            self.notices.give_up_on_slack(notice_id)  # expired: nothing left to show
            return None
        blocks = self.render_reply(notice.text, notice.buttons)
        version = notice.version
        if notice.posted is None:
            self._take_post_turn(notice.channel)
            key = ("notice", notice_id)
            posted = self.posts.post(
                key, notice.channel, None, f"notice {notice_id}", notice.text, blocks, broadcast=False
            )

            def keep_post(n: Notice) -> None:
                n.posted, n.rendered = CardRef(posted.channel, posted.ts), max(n.rendered, version)

            notice = self.notices.save_slack_view(notice_id, keep_post)
            self.posts.saved(key)
        elif notice.rendered < version:
            wait = self.pacer.paused_for("chat.update")
            if wait > 0:
                return wait
            posted = notice.posted
            self.pacer.call("chat.update", lambda: self.chat.update(posted.channel, posted.ts, notice.text, blocks))
            notice = self.notices.save_slack_view(notice_id, lambda n: setattr(n, "rendered", max(n.rendered, version)))
        return 0.0 if notice is not None and notice.needs_slack else None

    def _reconcile_release(self, app: str, tag: str) -> float | None:
        release = self.book.get(app, tag)
        if release is None:
            self.book.give_up_on_slack(app, tag)  # expired: nothing left to show
            return None
        if release.card is None:
            self._take_post_turn(self.channel)
            release = self._post_card(release)
        elif release.rendered < release.version:
            wait = self.pacer.paused_for("chat.update")
            if wait > 0:
                return wait
            release = self._edit_card(release)
        if release is None:
            return None
        for reply in release.unposted_replies:
            card = release.card
            self._take_post_turn(card.channel)
            key = (app, tag, reply.id)
            blocks = self.render_reply(reply.text, reply.buttons)
            self.posts.post(key, card.channel, card.ts, reply.id, reply.text, blocks, broadcast=reply.broadcast)
            release = self.book.save_slack_view(app, tag, lambda r, rid=reply.id: r.mark_posted(rid))
            self.posts.saved(key)
            if release is None:
                return None
        return 0.0 if release.rendered < release.version else None

    def _take_post_turn(self, channel: str) -> None:
        """Take the channel's post turn, or raise TurnNotYet to wait for it with every other card."""
        wait = self.pacer.post_wait(channel)
        if wait > 0:
            raise TurnNotYet(wait)

    def _post_card(self, release: Release) -> Release | None:
        app, tag = release.app, release.tag
        text, blocks = self.render(release)
        key = (app, tag)
        posted = self.posts.post(key, self.channel, None, f"{app} {tag}", text, blocks, broadcast=False)
        version, shown = release.version, _digest(text, blocks)

        def keep_card(r: Release) -> None:
            r.card = CardRef(posted.channel, posted.ts)
            r.rendered = max(r.rendered, version)
            r.shown = shown

        saved = self.book.save_slack_view(app, tag, keep_card)
        self.posts.saved(key)
        return saved

    def _edit_card(self, release: Release) -> Release | None:
        text, blocks = self.render(release)
        card, version, shown = release.card, release.version, _digest(text, blocks)
        if shown != release.shown:  # an edit that would change nothing is not sent
            self.pacer.call("chat.update", lambda: self.chat.update(card.channel, card.ts, text, blocks))

        def keep_version(r: Release) -> None:
            r.rendered = max(r.rendered, version)
            r.shown = shown

        return self.book.save_slack_view(release.app, release.tag, keep_version)


def _digest(text: str, blocks: list[dict[str, Any]]) -> str:
    """What a card shows, in a few bytes, to tell whether an edit would change anything."""
    return hashlib.sha256(json.dumps([text, blocks], sort_keys=True).encode()).hexdigest()[:16]
