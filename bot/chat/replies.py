"""Private replies to the person who asked, through Slack's `response_url`, in the background."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from bot.chat.pacing import Pacer
from bot.chat.service import Chat, ChatRejected, ChatUnavailable, RateLimited

log = logging.getLogger(__name__)

MAX_BACKOFF = 30.0
ATTEMPTS = 5
DIRECT = "slack-dm:"  # a reply address that is a direct message from the bot, not a response_url


def direct_message(user_id: str) -> str:
    """Where to answer a person who has no response_url (a click in the Home tab): a direct message."""
    return DIRECT + user_id


class Replies:
    def __init__(self, chat: Chat, pacer: Pacer, workers: int = 4) -> None:
        self.chat = chat
        self.pacer = pacer
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
        for attempt in range(ATTEMPTS):
            try:
                if response_url.startswith(DIRECT):
                    user = response_url[len(DIRECT) :]
                    self.pacer.call("chat.postMessage", lambda user=user: self.chat.post(user, text, blocks))
                    return
                respond = (lambda: self.chat.respond(response_url, text, blocks)) if blocks else None
                self.pacer.call("response_url", respond or (lambda: self.chat.respond(response_url, text)))
                return
            except RateLimited as limited:
                time.sleep(min(limited.retry_after, MAX_BACKOFF))
            except ChatUnavailable:
                time.sleep(0.25 * 2**attempt)
            except ChatRejected as error:
                log.error("slack refused a reply to the requester: %s", error)
                return
        log.error("could not reply to the requester after %d attempts", ATTEMPTS)
