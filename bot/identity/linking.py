"""`/deploy link`, `unlink` and `whoami`: a person links their own GitHub account.

The device flow's code is asked for on the ack path (one short call), so the reply carries the
URL and the code; the wait for the person runs on a small pool of its own, one flow per Slack
user (a claim in the store, so across replicas too) and at most `max_flows` at once, and its
end is told through `response_url`. Every new link is announced in the alerts channel, so a
link made by phishing someone into entering a code is seen by the team, not only by the bot.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from bot import commands, messages
from bot.audit import Action, AuditTrail
from bot.config import Settings
from bot.deploys.identity import CONFIG, Refusal, identify
from bot.identity.device_flow import DeviceCode, FlowFailed
from bot.identity.links import Links, Taken
from bot.store import Store, StoreError

log = logging.getLogger(__name__)

MAX_FLOWS = 20
CODE_REQUEST_TIMEOUT = 2.0  # on the ack path: Slack wants an answer within 3 s
CLAIM_SLACK_SECONDS = 60  # a flow's claim outlives its code a little, then frees the user by itself

Reply = Callable[[str | None, str], None]


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
        key = self._flow_key(user_id)
        try:
            if not self.store.claim(key, CLAIM_SLACK_SECONDS, value="{}"):
                waiting = json.loads(self.store.client.get(key) or "{}")
                if waiting.get("user_code"):
                    return messages.link_in_progress(waiting["verification_uri"], waiting["user_code"])
                return messages.link_in_progress("https://github.com/login/device", "(being fetched)")
        except StoreError:
            return messages.LINK_STORE_DOWN
        if not self._slots.acquire(blocking=False):
            self._forget_flow(user_id)
            return messages.LINK_BUSY
        try:
            code = self.flow.request_code(timeout=CODE_REQUEST_TIMEOUT)
            waiting = {"user_code": code.user_code, "verification_uri": code.verification_uri}
            self.store.set_json(key, waiting, ttl_seconds=int(code.expires_in) + CLAIM_SLACK_SECONDS)
        except FlowFailed as failed:
            self._end(user_id)
            return failed.text
        except StoreError:
            self._end(user_id)
            return messages.LINK_STORE_DOWN
        except Exception:
            self._end(user_id)
            raise
        with self._idle:
            self._in_flight += 1
        self._pool.submit(self._wait, user_id, code, response_url)
        return messages.link_instructions(code.verification_uri, code.user_code, code.expires_in)

    def _wait(self, user_id: str, code: DeviceCode, response_url: str | None) -> None:
        try:
            self.reply(response_url, self._finish(user_id, code))
        except Exception:  # the person always hears something
            log.exception("linking %s failed", user_id)
            self.reply(response_url, messages.SOMETHING_WENT_WRONG_LINKING)
        finally:
            self._end(user_id)
            with self._idle:
                self._in_flight -= 1
                self._idle.notify_all()

    def _finish(self, user_id: str, code: DeviceCode) -> str:
        try:
            login = self.flow.wait_for_login(code)
        except FlowFailed as failed:
            log.info("link flow for %s ended without a link: %s", user_id, failed.reason)
            return failed.text
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

    def _end(self, user_id: str) -> None:
        self._slots.release()
        self._forget_flow(user_id)

    def _forget_flow(self, user_id: str) -> None:
        try:
            self.store.client.delete(self._flow_key(user_id))
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
