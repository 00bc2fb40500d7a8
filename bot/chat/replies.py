"""Private replies to the person who asked, in the background: through Slack's `response_url`,
or by direct message once that URL is too old.

Slack accepts a `response_url` for 30 minutes only. Every command and click is remembered when
it arrives (`remember`: its response_url, who sent it and when, in the store, so a replica that
takes over after a crash knows too); anything said through that URL later than
`LATE_AFTER_SECONDS` goes to the person as a direct message instead (`chat.postMessage` with
their user ID as the channel: the app's Messages tab). A response_url Slack refuses as expired
is answered the same way. This is the one place every reply to a requester passes through.
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

from bot.chat.pacing import Pacer
from bot.chat.service import Chat, ChatRejected, ChatUnavailable, RateLimited
from bot.store import Store, StoreError

log = logging.getLogger(__name__)

MAX_BACKOFF = 30.0
ATTEMPTS = 5
LATE_AFTER_SECONDS = 25 * 60  # Slack's 30 minutes, with room for a slow reply
ORIGIN_TTL_SECONDS = 8 * 24 * 3600  # longer than anything waits: a hold over a long weekend, a journal's retry
DIRECT = "slack-dm:"  # a reply address that is a direct message from the bot, not a response_url


def direct_message(user_id: str) -> str:
    """Where to answer a person who has no response_url (a click in the Home tab): a direct message."""
    return DIRECT + user_id


class Replies:
    def __init__(
        self,
        chat: Chat,
        pacer: Pacer,
        workers: int = 4,
        *,
        store: Store | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.chat = chat
        self.pacer = pacer
        self.store = store
        self.clock = clock
        self._pending = 0
        self._idle = threading.Condition()
        self._workers = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="slack-respond")

    def send(
        self,
        response_url: str | None,
        text: str,
        blocks: list[dict[str, Any]] | None = None,
        *,
        then: Callable[[], None] | None = None,
    ) -> None:
        """Tell the requester (with buttons in `blocks`, if any); without a response_url nobody is waiting.

        `then` runs once the reply is out (or every attempt to send it has ended)."""
        if not response_url:
            if then is not None:
                then()
            return
        with self._idle:
            self._pending += 1
        self._workers.submit(self._send, response_url, text, blocks, then)

    # -- who asked, and when -----------------------------------------------------------------------

    def _origin_key(self, response_url: str) -> str:
        assert self.store is not None
        return self.store.key("response-url", hashlib.sha256(response_url.encode()).hexdigest()[:32])

    def remember(self, response_url: str | None, user_id: str) -> None:
        """A command or click arrived now from `user_id`: whatever is said through its URL later knows when."""
        if not response_url or not user_id or self.store is None:
            return
        origin = json.dumps({"user": user_id, "at": self.clock()})
        try:
            self.store.client.set(self._origin_key(response_url), origin, nx=True, ex=ORIGIN_TTL_SECONDS)
        except StoreError as error:  # the ack must not wait on this: a late reply then uses the URL
            log.warning("could not remember when a request arrived: %s", error)

    def _origin(self, response_url: str) -> tuple[str, float] | None:
        if self.store is None:
            return None
        try:
            raw = self.store.client.get(self._origin_key(response_url))
            data = json.loads(raw) if raw else None
            return (str(data["user"]), float(data["at"])) if isinstance(data, dict) else None
        except (StoreError, ValueError, KeyError, TypeError):
            return None

    def pending(self) -> int:
        with self._idle:
            return self._pending

    def wait(self, timeout: float = 10.0) -> bool:
        with self._idle:
            return self._idle.wait_for(lambda: not self._pending, timeout=timeout)

    def stop(self) -> None:
        self._workers.shutdown(wait=True)

    def _send(self, response_url: str, text: str, blocks: list[dict[str, Any]] | None, then) -> None:
        try:
            self._deliver(response_url, text, blocks)
            if then is not None:
                then()
        except Exception:  # a worker must survive anything the chat service throws at it
            log.exception("reply to the requester failed")
        finally:
            with self._idle:
                self._pending -= 1
                self._idle.notify_all()

    def _deliver(self, response_url: str, text: str, blocks: list[dict[str, Any]] | None = None) -> None:
        if response_url.startswith(DIRECT):  # no response_url to begin with (a click in the Home tab)
            self._direct(response_url[len(DIRECT) :], text, blocks)
            return
        origin = self._origin(response_url)
        if origin is not None and self.clock() - origin[1] > LATE_AFTER_SECONDS:
            self._direct(origin[0], text, blocks)
            return
        try:
            self._respond(response_url, text, blocks)
        except ChatRejected as error:
            if origin is None:
                log.error("slack refused a reply to the requester: %s", error)
                return
            log.warning("slack refused the response_url (%s); telling the requester directly", error)
            self._direct(origin[0], text, blocks)

    def _direct(self, user_id: str, text: str, blocks: list[dict[str, Any]] | None) -> None:
        """A direct message from the bot: chat.postMessage to the user's ID (the app's Messages tab)."""
        for attempt in range(ATTEMPTS):
            try:
                self.pacer.call("chat.postMessage", lambda: self.chat.post(user_id, text, blocks))
                return
            except RateLimited as limited:
                time.sleep(min(limited.retry_after, MAX_BACKOFF))
            except ChatUnavailable:
                time.sleep(0.25 * 2**attempt)
            except ChatRejected as error:
                log.error("slack refused a direct message to the requester: %s", error)
                return
        log.error("could not send a direct message to the requester after %d attempts", ATTEMPTS)

    def _respond(self, response_url: str, text: str, blocks: list[dict[str, Any]] | None = None) -> None:
        """Through the response_url; ChatRejected when Slack refuses it (expired, used up)."""
        for attempt in range(ATTEMPTS):
            try:
                respond = (lambda: self.chat.respond(response_url, text, blocks)) if blocks else None
                self.pacer.call("response_url", respond or (lambda: self.chat.respond(response_url, text)))
                return
            except RateLimited as limited:
                time.sleep(min(limited.retry_after, MAX_BACKOFF))
            except ChatUnavailable:
                time.sleep(0.25 * 2**attempt)
        log.error("could not reply to the requester after %d attempts", ATTEMPTS)
