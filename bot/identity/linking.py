"""`/deploy link`, `unlink` and `whoami`: a person links their own GitHub account.

The device flow's code is asked for on the ack path (one short call), so the reply carries the
URL and the code; the wait for the person runs on a pool of its own, and its end is told through
`response_url`. One flow per Slack user: starting again replaces the earlier flow (the store says
which flow is the person's newest, so across replicas too; an older one ends quietly at its next
poll, and on this replica hands its place to the new one at once). Up to `max_flows` (500) people
link at once per replica, and a flow's place is freed the moment it ends, however it ends. Every new link is announced in the alerts channel, so a
link made by phishing someone into entering a code is seen by the team, not only by the bot.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import redis

from bot import commands, messages
from bot.audit import Action, AuditTrail
from bot.config import Settings
from bot.deploys.identity import CONFIG, Refusal, identify
from bot.identity.device_flow import REPLACED, DeviceCode, FlowFailed
from bot.identity.links import Links, Taken
from bot.store import Store, StoreError

log = logging.getLogger(__name__)

MAX_FLOWS = 500
CODE_REQUEST_TIMEOUT = 2.0  # on the ack path: Slack wants an answer within 3 s
REPLACED_CHECK_SECONDS = 5  # how often a waiting flow reads the store for a newer flow of the same person
CLAIM_SLACK_SECONDS = 60  # a flow's claim outlives its code a little, then frees the user by itself

Reply = Callable[[str | None, str], None]


@dataclass
class _Flow:
    """One person's flow on this replica: its id in the store, and whether it holds a place."""

    id: str
    holds_place: bool = True
    replaced: threading.Event = field(default_factory=threading.Event)
    store_read_at: float = field(default_factory=time.monotonic)


class Linking:
    def __init__(
        self,
        *,
        settings: Settings,
        store: Store,
        links: Links,
        flow: object | None,
        notices: object,
        audit: AuditTrail,
        reply: Reply,
        clock: Callable[[], float] = time.time,
        max_flows: int = MAX_FLOWS,
    ) -> None:
        self.settings = settings
        self.store = store
        self.links = links
        self.flow = flow  # None: linking is off (no GITHUB_OAUTH_CLIENT_ID)
        self.notices = notices
        self.audit = audit
        self.reply = reply
        self.clock = clock
        self._slots = threading.BoundedSemaphore(max_flows)
        self._pool = ThreadPoolExecutor(max_workers=max_flows, thread_name_prefix="device-flow")
        self._flows: dict[str, _Flow] = {}  # Slack user -> their newest flow on this replica
        self._flows_lock = threading.Lock()
        self._in_flight = 0
        self._idle = threading.Condition()

    def stop(self) -> None:
        stop = getattr(self.flow, "stop", None)
        if stop is not None:
            stop()
        self._pool.shutdown(wait=True, cancel_futures=True)

    def wait_idle(self, timeout: float = 10.0) -> bool:
        with self._idle:
            return self._idle.wait_for(lambda: self._in_flight == 0, timeout=timeout)

    def _flow_key(self, user_id: str) -> str:
        return self.store.key("link-flow", user_id)

    # -- /deploy link ---------------------------------------------------------------------------------

    def link(self, command: commands.Link, user_id: str, response_url: str | None) -> str:
        if self.flow is None:
            return messages.LINKING_OFF
        flow = self._take_place(user_id)
        if flow is None:
            return messages.LINK_BUSY
        key = self._flow_key(user_id)
        try:
            # the person's newest flow, said in the store: an earlier one (here or elsewhere) sees it and ends
            self.store.set_json(key, {"id": flow.id}, ttl_seconds=CLAIM_SLACK_SECONDS)
            code = self.flow.request_code(timeout=CODE_REQUEST_TIMEOUT)
            waiting = {"id": flow.id, "user_code": code.user_code, "verification_uri": code.verification_uri}
            self.store.set_json(key, waiting, ttl_seconds=int(code.expires_in) + CLAIM_SLACK_SECONDS)
        except FlowFailed as failed:
            self._end(user_id, flow)
            return failed.text
        except StoreError:
            self._end(user_id, flow)
            return messages.LINK_STORE_DOWN
        except Exception:
            self._end(user_id, flow)
            raise
        with self._idle:
            self._in_flight += 1
        self._pool.submit(self._wait, user_id, flow, code, response_url)
        return messages.link_instructions(code.verification_uri, code.user_code, code.expires_in)

    def _take_place(self, user_id: str) -> _Flow | None:
        """A new flow for the person, taking over their earlier flow's place, else a free one; None: all taken."""
        with self._flows_lock:
            earlier = self._flows.get(user_id)
            inherited = earlier is not None and earlier.holds_place
            if earlier is not None:
                earlier.holds_place = False
                earlier.replaced.set()
            if not inherited and not self._slots.acquire(blocking=False):
                return None
            flow = _Flow(uuid.uuid4().hex)
            self._flows[user_id] = flow
            return flow

    def _still_wanted(self, user_id: str, flow: _Flow) -> bool:
        if flow.replaced.is_set():
            return False
        if time.monotonic() - flow.store_read_at < REPLACED_CHECK_SECONDS:
            return True  # replaced on another replica: seen within a few seconds is soon enough
        flow.store_read_at = time.monotonic()
        try:
            newest = self.store.get_json(self._flow_key(user_id))
        except (StoreError, ValueError):
            return True  # the store is down: keep waiting rather than drop a person's flow
        return not isinstance(newest, dict) or newest.get("id") in (None, flow.id)

    def _wait(self, user_id: str, flow: _Flow, code: DeviceCode, response_url: str | None) -> None:
        try:
            text = self._finish(user_id, flow, code)
            if text is not None:
                self.reply(response_url, text)
        except Exception:  # the person always hears something
            log.exception("linking %s failed", user_id)
            self.reply(response_url, messages.SOMETHING_WENT_WRONG_LINKING)
        finally:
            self._end(user_id, flow)
            with self._idle:
                self._in_flight -= 1
                self._idle.notify_all()

    def _finish(self, user_id: str, flow: _Flow, code: DeviceCode) -> str | None:
        try:
            login = self.flow.wait_for_login(code, lambda: self._still_wanted(user_id, flow))
        except FlowFailed as failed:
            log.info("link flow for %s ended without a link: %s", user_id, failed.reason)
            return None if failed.reason == REPLACED else failed.text  # the newer flow does the talking
        if not self._still_wanted(user_id, flow):
            log.info("link flow for %s was replaced as it ended; nothing linked by it", user_id)
            return None
        mapped_to = next((user for user, known in self.settings.users.items() if known.lower() == login.lower()), None)
        if mapped_to is not None and mapped_to != user_id:
            log.warning("%s proved GitHub %s, which the users map gives to %s", user_id, login, mapped_to)
            return messages.login_in_config(login)
        try:
            outcome = self.links.link(user_id, login, self.clock())
        except StoreError:
            return messages.LINK_STORE_DOWN
        if isinstance(outcome, Taken):
            log.warning("%s proved GitHub %s, already linked to %s", user_id, login, outcome.by)
            return messages.login_taken(login)
        actor = {"slack": user_id, "github": login}
        self.audit.record(Action.LINKED, actor=actor)
        self.notices.post(self.settings.alerts_channel, messages.link_announcement(f"<@{user_id}>", login))
        config_login = self.settings.users.get(user_id)
        note = messages.link_overridden_by_config(config_login) if config_login and config_login != login else ""
        return messages.linked(login, note)

    def _end(self, user_id: str, flow: _Flow) -> None:
        """The flow is over: its place is free at once, and the store forgets it unless a newer flow is there."""
        with self._flows_lock:
            if flow.holds_place:
                flow.holds_place = False
                self._slots.release()
            if self._flows.get(user_id) is flow:
                del self._flows[user_id]
        self._forget_flow(user_id, flow.id)

    def _forget_flow(self, user_id: str, flow_id: str) -> None:
        key = self._flow_key(user_id)
        try:
            with self.store.client.pipeline() as pipe:
                pipe.watch(key)
                raw = pipe.get(key)
                if raw is None or f'"id":"{flow_id}"' not in raw:
                    return  # a newer flow's record: not ours to forget
                pipe.multi()
                pipe.delete(key)
                pipe.execute()
        except redis.WatchError:
            return  # it changed meanwhile: a newer flow's
        except StoreError:
            log.warning("could not clear %s's link flow; it expires by itself", user_id)

    # -- /deploy unlink, /deploy whoami -----------------------------------------------------------------

    def unlink(self, command: commands.Unlink, user_id: str, response_url: str | None) -> str:
        try:
            removed = self.links.unlink(user_id)
        except StoreError:
            return messages.LINK_STORE_DOWN
        config_login = self.settings.users.get(user_id)
        still = messages.unlinked_but_config(config_login) if config_login else ""
        if removed is None:
            return messages.NOTHING_TO_UNLINK + still
        self.audit.defer(Action.UNLINKED, actor={"slack": user_id, "github": removed.login})
        return messages.unlinked(removed.login) + still

    def whoami(self, command: commands.Whoami, user_id: str, response_url: str | None) -> str:
        who = identify(self.settings, user_id, self.links)
        if isinstance(who, Refusal):
            if who.text == messages.STORE_DOWN:
                return who.text
            try:
                overruled = self.links.get(user_id) is not None  # a link the `users` map now overrules
            except StoreError:
                return messages.STORE_DOWN
            return who.text if overruled else messages.whoami_nobody(can_link=self.flow is not None)
        if who.origin == CONFIG:
            return messages.whoami_config(who.login)
        try:
            link = self.links.get(user_id)
        except StoreError:
            link = None
        return messages.whoami_link(who.login, link.linked_at if link else 0.0)
