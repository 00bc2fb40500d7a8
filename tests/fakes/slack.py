"""A fake Slack Web API on 127.0.0.1 that speaks Slack's wire format.

Point slack_sdk at it with `WebClient(base_url=fake.url)` (or SLACK_API_URL=fake.url). It serves
`auth.test`, `chat.postMessage`, `chat.update`, `chat.delete`, `chat.postEphemeral`,
`chat.getPermalink`, `conversations.history` and `conversations.replies`, accepts parameters as a
query string, a form-encoded body (with `blocks` as a JSON string, as slack_sdk sends them for
form calls) or a JSON body, and answers like Slack: HTTP 200 with `"ok": false` and an `error` for
API errors; HTTP 429 with `Retry-After` when rate limited.

It also serves response URLs (`fake.response_url(name)`) that record what the bot POSTs to them,
and refuses them as Slack does: after 5 uses (`used_url`) and 30 minutes after they were made
(`expired_url`, by `fake.clock`, which a test can share with the bot's fake clock). A
`chat.postMessage` to a user ID is a direct message: it lands in that user's DM channel (`D…`,
answered as the `channel`), as in the app's Messages tab (`fake.direct_messages(user)`).

Everything it records is guarded by one lock; `wait_until` / `wait_for_response` block on a
condition variable that is notified on every change, so tests never poll with sleeps.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import json
import math
import re
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import parse_qsl, quote

from tests.fakes._http import LocalServer, Reply, Request

CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{5,}$")
USER_ID = re.compile(r"^[UW][A-Z0-9]{5,}$")
RESPONSE_URL_SECONDS = 30 * 60  # Slack accepts a response_url for 30 minutes
JSON_FIELDS = ("blocks", "attachments", "metadata", "unfurls")
BLOCK_TYPES = {
    "actions",
    "context",
    "divider",
    "file",
    "header",
    "image",
    "input",
    "rich_text",
    "section",
    "video",
    "markdown",
}
MAX_TEXT = 40_000
MAX_BLOCKS = 50


@dataclass
class SlackMessage:
    """One message as the fake holds it: the current version plus every earlier one."""

    channel: str
    ts: str
    text: str
    blocks: list[dict] | None
    attachments: list[dict] | None
    thread_ts: str | None
    reply_broadcast: bool
    user: str
    bot_id: str
    metadata: dict | None = None
    history: list[dict] = field(default_factory=list)  # earlier versions, oldest first
    edited_ts: str | None = None
    deleted: bool = False

    @property
    def is_root(self) -> bool:
        return self.thread_ts is None or self.thread_ts == self.ts

    @property
    def edit_count(self) -> int:
        return len(self.history)

    @property
    def versions(self) -> list[dict]:
        """Every version, oldest first, the current one last."""
        return [*self.history, self._version()]

    def _version(self) -> dict:
        return {
            "text": self.text,
            "blocks": copy.deepcopy(self.blocks),
            "attachments": copy.deepcopy(self.attachments),
            "edited_ts": self.edited_ts,
        }

    def buttons(self) -> list[dict]:
        """Every button in the blocks, each with the `block_id` of the block that holds it."""
        found = []
        for block in self.blocks or []:
            candidates = list(block.get("elements") or [])
            if isinstance(block.get("accessory"), dict):
                candidates.append(block["accessory"])
            for element in candidates:
                if isinstance(element, dict) and element.get("type") == "button":
                    found.append({**element, "block_id": block.get("block_id")})
        return found

    def button(self, action_id: str) -> dict | None:
        return next((b for b in self.buttons() if b.get("action_id") == action_id), None)

    def all_text(self) -> str:
        """The text and every text inside the blocks, joined: handy for `in` assertions."""
        parts = [self.text]
        _collect_text(self.blocks, parts)
        _collect_text(self.attachments, parts)
        return "\n".join(p for p in parts if p)


def _collect_text(node: Any, out: list[str]) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "text" and isinstance(value, str):
                out.append(value)
            else:
                _collect_text(value, out)
    elif isinstance(node, list):
        for item in node:
            _collect_text(item, out)


@dataclass
class SlackCall:
    method: str
    params: dict[str, Any]
    token: str | None
    status: int = 0
    error: str | None = None  # the `error` Slack answered, or None when ok


@dataclass
class _Fault:
    method: str
    status: int
    retry_after: int
    remaining: int
    error: str | None
    disconnect: bool
    after_processing: bool


class _ResponseUrl:
    def __init__(self, channel: str | None, message_ts: str | None, limit: int | None, made_at: float) -> None:
        self.channel = channel
        self.message_ts = message_ts
        self.limit = limit
        self.made_at = made_at
        self.uses = 0


def _flag(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value != 0
    return isinstance(value, str) and value.strip().lower() in ("true", "1", "yes")


def _ts_key(ts: str) -> Decimal:
    try:
        return Decimal(str(ts))
    except InvalidOperation:
        return Decimal(0)


class FakeSlack:
    """A Slack workspace with one bot user, reachable over real HTTP."""

    def __init__(
        self,
        *,
        token: str | None = None,
        channels: dict[str, str] | None = None,
        team_id: str = "T0GOVUK",
        team_domain: str = "govuk",
        bot_user_id: str = "U0DEPLOYBOT",
        bot_id: str = "B0DEPLOYBOT",
        app_id: str = "A0DEPLOYBOT",
        post_rate_limit_per_second: float | None = None,
        latency_seconds: float = 0.0,
        response_url_limit: int | None = 5,
        ts_base: int = 1_700_000_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.clock = clock  # when response URLs expire; share a test's fake clock to age them
        self.token = token  # None: any non-empty token is accepted
        self.team_id = team_id
        self.team_domain = team_domain
        self.bot_user_id = bot_user_id
        self.bot_id = bot_id
        self.app_id = app_id
        self.post_rate_limit_per_second = post_rate_limit_per_second
        self.latency_seconds = latency_seconds
        self.response_url_limit = response_url_limit
        self._ts_base = ts_base
        self._ts_counter = 0
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._stopping = threading.Event()
        self._names: dict[str, str] = {}
        self._channel_ids: set[str] = set()
        for name, channel_id in (channels or {"govuk-deploy-alerts": "C0ALERTS"}).items():
            self._names[name.lstrip("#")] = channel_id
            self._channel_ids.add(channel_id)
        self._messages: dict[str, SlackMessage] = {}  # ts -> message, in posting order
        self._ephemerals: list[dict] = []
        self._log: list[SlackCall] = []
        self._faults: list[_Fault] = []
        self._last_post: dict[str, float] = {}
        self._ratelimited: dict[str, int] = defaultdict(int)
        self._response_urls: dict[str, _ResponseUrl] = {}
        self._responses: dict[str, list[dict]] = defaultdict(list)
        self._rejected_responses: dict[str, list[dict]] = defaultdict(list)
        self._server = LocalServer(self._handle, name="fake-slack")
        # set by a FakeSocketMode: `apps.connections.open` hands out its URLs (tests/fakes/socket_mode.py)
        self.socket_mode_url: Callable[[], str] | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> FakeSlack:
        self._stopping.clear()
        self._server.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._server.stop()

    def __enter__(self) -> FakeSlack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def origin(self) -> str:
        return self._server.origin

    @property
    def url(self) -> str:
        """Base URL of the Web API, for `WebClient(base_url=...)` and SLACK_API_URL."""
        return f"{self._server.origin}/api/"

    # -- channels --------------------------------------------------------------------------

    def channel_id(self, name_or_id: str) -> str:
        """The ID of a channel given by name (`x`, `#x`) or ID; unknown names get a new stable ID."""
        with self._lock:
            value = name_or_id.strip()
            if CHANNEL_ID.match(value):
                self._channel_ids.add(value)
                return value
            name = value.lstrip("#")
            if name not in self._names:
                channel_id = f"C0CHAN{len(self._names) + 1:04d}"
                self._names[name] = channel_id
                self._channel_ids.add(channel_id)
            return self._names[name]

    def channel_name(self, channel_id: str) -> str | None:
        with self._lock:
            return next((name for name, cid in self._names.items() if cid == channel_id), None)

    # -- what was recorded -----------------------------------------------------------------

    @property
    def calls(self) -> list[tuple[str, dict[str, Any]]]:
        """Every API call received, in order, as (method name, parameters)."""
        with self._lock:
            return [(c.method, copy.deepcopy(c.params)) for c in self._log]

    @property
    def call_log(self) -> list[SlackCall]:
        """Every API call with the token used and how it was answered."""
        with self._lock:
            return copy.deepcopy(self._log)

    def calls_to(self, method: str) -> list[dict[str, Any]]:
        with self._lock:
            return [copy.deepcopy(c.params) for c in self._log if c.method == method]

    def count(self, method: str, *, ok_only: bool = False) -> int:
        with self._lock:
            return sum(1 for c in self._log if c.method == method and (not ok_only or c.error is None))

    @property
    def messages(self) -> list[SlackMessage]:
        """Every message that exists (roots and thread replies, deleted ones excluded), oldest first."""
        with self._lock:
            return [copy.deepcopy(m) for m in self._messages.values() if not m.deleted]

    def message(self, ts: str) -> SlackMessage | None:
        """The current version of the message with this `ts` (its `history` holds earlier ones)."""
        with self._lock:
            found = self._messages.get(ts)
            return copy.deepcopy(found) if found is not None else None

    def roots(self, channel: str | None = None) -> list[SlackMessage]:
        """Root messages (not thread replies), oldest first; `channel` by name or ID."""
        with self._lock:
            channel_id = self.channel_id(channel) if channel is not None else None
            return [
                copy.deepcopy(m)
                for m in self._messages.values()
                if m.is_root and not m.deleted and (channel_id is None or m.channel == channel_id)
            ]

    def replies(self, thread_ts: str) -> list[SlackMessage]:
        """Replies in the thread of `thread_ts`, oldest first, without the root."""
        with self._lock:
            return [
                copy.deepcopy(m)
                for m in self._messages.values()
                if not m.is_root and m.thread_ts == thread_ts and not m.deleted
            ]

    @property
    def ephemerals(self) -> list[dict]:
        """Messages sent with chat.postEphemeral."""
        with self._lock:
            return copy.deepcopy(self._ephemerals)

    @property
    def ratelimited_count(self) -> int:
        """How many HTTP 429 answers were sent, all methods together."""
        with self._lock:
            return sum(self._ratelimited.values())

    @property
    def ratelimited_by_method(self) -> dict[str, int]:
        with self._lock:
            return dict(self._ratelimited)

    # -- waiting ---------------------------------------------------------------------------

    def wait_until(self, predicate: Callable[[], Any], timeout: float = 5.0) -> bool:
        """Block until `predicate()` is true (re-checked on every change); False on time-out."""
        with self._changed:
            return bool(self._changed.wait_for(predicate, timeout=timeout))

    def wait_for_calls(self, method: str, count: int = 1, timeout: float = 5.0) -> list[dict[str, Any]]:
        if not self.wait_until(lambda: self.count(method) >= count, timeout):
            raise AssertionError(f"expected {count} {method} call(s) within {timeout}s, got {self.count(method)}")
        return self.calls_to(method)

    # -- response URLs ---------------------------------------------------------------------

    def response_url(self, name: str, *, channel: str | None = None, message_ts: str | None = None) -> str:
        """A response_url on this server; what is POSTed to it lands in `responses[name]`.

        Tie it to a message (`channel`, `message_ts`) to let `replace_original` / `delete_original`
        act on that message, as they do on the real one for a button click.
        """
        with self._lock:
            channel_id = self.channel_id(channel) if channel is not None else None
            self._response_urls[name] = _ResponseUrl(channel_id, message_ts, self.response_url_limit, self.clock())
        return f"{self.origin}/respond/{quote(name, safe='')}"

    @property
    def responses(self) -> dict[str, list[dict]]:
        """Bodies POSTed to each response URL, by name, oldest first."""
        with self._lock:
            return {name: copy.deepcopy(items) for name, items in self._responses.items()}

    @property
    def rejected_responses(self) -> dict[str, list[dict]]:
        """Bodies refused because the response URL was used up (Slack allows 5 uses)."""
        with self._lock:
            return {name: copy.deepcopy(items) for name, items in self._rejected_responses.items()}

    def wait_for_response(self, name: str, timeout: float = 5.0, count: int = 1) -> list[dict]:
        """Block until `count` bodies arrived at response URL `name`; return them all."""
        if not self.wait_until(lambda: len(self._responses.get(name, ())) >= count, timeout):
            got = self.responses.get(name, [])
            raise AssertionError(f"expected {count} response(s) at {name!r} within {timeout}s, got {got!r}")
        return self.responses[name]

    # -- fault injection -------------------------------------------------------------------

    def fail_next(
        self,
        method: str,
        status: int = 500,
        *,
        retry_after: int = 1,
        count: int = 1,
        error: str | None = None,
        disconnect: bool = False,
        after_processing: bool = False,
    ) -> None:
        """Answer the next `count` calls of `method` with a failure instead of the real answer.

        status 429 sends Slack's `ratelimited` with `Retry-After: retry_after`; another 4xx/5xx
        sends that status; status 200 with `error` sends `{"ok": false, "error": error}`.
        `disconnect` closes the connection without any answer. `after_processing` lets the call
        take effect first (a message is posted) and only then fails the answer: the case where
        retrying a post double-posts.
        """
        with self._lock:
            self._faults.append(_Fault(method, status, retry_after, count, error, disconnect, after_processing))

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    # -- HTTP ------------------------------------------------------------------------------

    def _handle(self, request: Request) -> Reply:
        if self.latency_seconds:
            self._stopping.wait(self.latency_seconds)
        if request.path.startswith("/respond/"):
            return self._respond(request.path[len("/respond/") :], request)
        if not request.path.startswith("/api/"):
            return Reply.json({"ok": False, "error": "not_found"}, 404)
        method = request.path[len("/api/") :].strip("/")
        params = self._params(request)
        token = _token(request, params)
        with self._changed:
            call = SlackCall(method=method, params=params, token=token)
            self._log.append(call)
            try:
                reply = self._answer(method, params, token)
            except Exception:
                call.status, call.error = 500, "fake_server_error"
                self._changed.notify_all()
                raise
            call.status, call.error = reply.status, _error_of(reply)
            self._changed.notify_all()
        return reply

    def _answer(self, method: str, params: dict[str, Any], token: str | None) -> Reply:
        fault = self._take_fault(method)
        if fault is not None and not fault.after_processing:
            return self._fault_reply(method, fault)
        if not token:
            return _error("not_authed")
        if method == "apps.connections.open":  # the app-level token, not the bot's
            return self._connections_open(token)
        if self.token is not None and token != self.token:
            return _error("invalid_auth")
        if method == "chat.postMessage":
            limited = self._post_rate_limited(params)
            if limited is not None:
                return limited
        handler = self._methods().get(method)
        reply = handler(params) if handler else _error("unknown_method")
        if fault is not None:
            return self._fault_reply(method, fault)
        return reply

    def _methods(self) -> dict[str, Callable[[dict[str, Any]], Reply]]:
        return {
            "api.test": lambda params: _ok(args=params),
            "auth.test": self._auth_test,
            "chat.postMessage": self._post_message,
            "chat.update": self._update,
            "chat.delete": self._delete,
            "chat.postEphemeral": self._post_ephemeral,
            "chat.getPermalink": self._permalink,
            "conversations.history": self._history,
            "conversations.replies": self._replies,
            "conversations.list": self._list_channels,
        }

    def _take_fault(self, method: str) -> _Fault | None:
        for fault in self._faults:
            if fault.method == method:
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self._faults.remove(fault)
                return fault
        return None

    def _fault_reply(self, method: str, fault: _Fault) -> Reply:
        if fault.disconnect:
            return Reply(disconnect=True)
        if fault.status == 429:
            return self._ratelimited_reply(method, fault.retry_after)
        if fault.status == 200:
            return _error(fault.error or "internal_error")
        return Reply.json({"ok": False, "error": fault.error or "internal_error"}, fault.status)

    def _ratelimited_reply(self, method: str, retry_after: int) -> Reply:
        self._ratelimited[method] += 1
        return Reply.json({"ok": False, "error": "ratelimited"}, 429, {"Retry-After": str(retry_after)})

    def _post_rate_limited(self, params: dict[str, Any]) -> Reply | None:
        rate = self.post_rate_limit_per_second
        channel = str(params.get("channel") or "")
        if not rate or not channel:
            return None
        channel_id = self.channel_id(channel)
        now = time.monotonic()
        last = self._last_post.get(channel_id)
        interval = 1.0 / rate
        if last is not None and now - last < interval:
            return self._ratelimited_reply("chat.postMessage", max(1, math.ceil(interval - (now - last))))
        self._last_post[channel_id] = now
        return None

    @staticmethod
    def _params(request: Request) -> dict[str, Any]:
        params: dict[str, Any] = dict(request.query)
        if request.body:
            if request.content_type == "application/json":
                try:
                    body = request.json()
                except (ValueError, UnicodeDecodeError):
                    body = {}
                if isinstance(body, dict):
                    params.update(body)
            else:
                params.update(parse_qsl(request.body.decode("utf-8", "replace"), keep_blank_values=True))
        for key in JSON_FIELDS:
            value = params.get(key)
            if isinstance(value, str) and value.strip()[:1] in ("[", "{"):
                with contextlib.suppress(ValueError):  # else left as a string: invalid_blocks_format
                    params[key] = json.loads(value)
        return params

    # -- API methods -----------------------------------------------------------------------

    def _next_ts(self) -> str:
        self._ts_counter += 1
        micros = self._ts_counter * 100
        return f"{self._ts_base + micros // 1_000_000}.{micros % 1_000_000:06d}"

    def _connections_open(self, token: str) -> Reply:
        """Socket Mode's URL, for an app-level token only (Slack refuses bot tokens with this error)."""
        if not token.startswith("xapp-"):
            return _error("not_allowed_token_type")
        if self.socket_mode_url is None:
            return _error("socket_mode_not_enabled")  # the fake's stand-in for an app without Socket Mode
        return _ok(url=self.socket_mode_url())

    def _auth_test(self, params: dict[str, Any]) -> Reply:
        return _ok(
            url=f"https://{self.team_domain}.slack.com/",
            team="GOV.UK",
            user="govuk-deploy-bot",
            team_id=self.team_id,
            user_id=self.bot_user_id,
            bot_id=self.bot_id,
            is_enterprise_install=False,
        )

    def _known_channel(self, raw: Any, *, by_name: bool) -> str | None:
        value = str(raw or "").strip()
        if not value:
            return None
        if CHANNEL_ID.match(value):
            return value if value in self._channel_ids or by_name else None
        return self.channel_id(value) if by_name else None

    def dm_channel(self, user_id: str) -> str:
        """The ID of the bot's direct-message channel with `user_id` (its Messages tab)."""
        with self._lock:
            channel_id = "D" + user_id[1:]
            self._channel_ids.add(channel_id)
            return channel_id

    def direct_messages(self, user_id: str) -> list[SlackMessage]:
        """What the bot said to `user_id` in a direct message, oldest first."""
        channel_id = self.dm_channel(user_id)
        with self._lock:
            return [copy.deepcopy(m) for m in self._messages.values() if m.channel == channel_id and not m.deleted]

    def _post_message(self, params: dict[str, Any]) -> Reply:
        raw_channel = str(params.get("channel") or "").strip()
        if USER_ID.match(raw_channel):  # a user ID: the app's direct message with that user
            params = {**params, "channel": self.dm_channel(raw_channel)}
        channel = self._known_channel(params.get("channel"), by_name=True)
        if channel is None:
            return _error("channel_not_found")
        self._channel_ids.add(channel)
        problem = _content_problem(params, require=True)
        if problem:
            return _error(problem)
        thread_ts = params.get("thread_ts") or None
        if thread_ts is not None:
            parent = self._messages.get(str(thread_ts))
            if parent is None or parent.channel != channel or parent.deleted:
                return _error("thread_not_found")
            thread_ts = parent.thread_ts or parent.ts  # a reply to a reply joins the root's thread
        message = SlackMessage(
            channel=channel,
            ts=self._next_ts(),
            text=str(params.get("text") or ""),
            blocks=copy.deepcopy(params.get("blocks")) if params.get("blocks") is not None else None,
            attachments=copy.deepcopy(params.get("attachments")) if params.get("attachments") else None,
            thread_ts=thread_ts,
            reply_broadcast=bool(thread_ts) and _flag(params.get("reply_broadcast")),
            user=self.bot_user_id,
            bot_id=self.bot_id,
            metadata=params.get("metadata") if isinstance(params.get("metadata"), dict) else None,
        )
        self._messages[message.ts] = message
        return _ok(channel=channel, ts=message.ts, message=self._render(message))

    def _update(self, params: dict[str, Any]) -> Reply:
        channel = self._known_channel(params.get("channel"), by_name=False)
        if channel is None:
            return _error("channel_not_found")
        ts = str(params.get("ts") or "")
        message = self._messages.get(ts)
        if message is None or message.channel != channel or message.deleted:
            return _error("message_not_found")
        problem = _content_problem(params, require=False)
        if problem:
            return _error(problem)
        message.history.append(message._version())
        if "text" in params:
            message.text = str(params.get("text") or "")
        if "blocks" in params:
            message.blocks = copy.deepcopy(params["blocks"]) or None
        if "attachments" in params:
            message.attachments = copy.deepcopy(params["attachments"]) or None
        if isinstance(params.get("metadata"), dict):
            message.metadata = params["metadata"]
        message.edited_ts = self._next_ts()
        return _ok(channel=channel, ts=ts, text=message.text, message=self._render(message))

    def _delete(self, params: dict[str, Any]) -> Reply:
        channel = self._known_channel(params.get("channel"), by_name=False)
        if channel is None:
            return _error("channel_not_found")
        message = self._messages.get(str(params.get("ts") or ""))
        if message is None or message.channel != channel or message.deleted:
            return _error("message_not_found")
        message.deleted = True
        return _ok(channel=channel, ts=message.ts)

    def _post_ephemeral(self, params: dict[str, Any]) -> Reply:
        channel = self._known_channel(params.get("channel"), by_name=True)
        if channel is None:
            return _error("channel_not_found")
        if not params.get("user"):
            return _error("user_not_in_channel")
        problem = _content_problem(params, require=True)
        if problem:
            return _error(problem)
        ts = self._next_ts()
        self._ephemerals.append(
            {
                "channel": channel,
                "user": params["user"],
                "text": str(params.get("text") or ""),
                "blocks": copy.deepcopy(params.get("blocks")),
                "thread_ts": params.get("thread_ts"),
                "message_ts": ts,
            }
        )
        return _ok(message_ts=ts)

    def _permalink(self, params: dict[str, Any]) -> Reply:
        channel = self._known_channel(params.get("channel"), by_name=False)
        message = self._messages.get(str(params.get("message_ts") or ""))
        if channel is None:
            return _error("channel_not_found")
        if message is None or message.channel != channel:
            return _error("message_not_found")
        link = f"https://{self.team_domain}.slack.com/archives/{channel}/p{message.ts.replace('.', '')}"
        if not message.is_root:
            link += f"?thread_ts={message.thread_ts}&cid={channel}"
        return _ok(channel=channel, permalink=link)

    def _list_channels(self, params: dict[str, Any]) -> Reply:
        with self._lock:
            channels = [
                {"id": cid, "name": name, "is_channel": True, "is_archived": False}
                for name, cid in sorted(self._names.items())
            ]
        page, next_cursor = _page(channels, params)
        return _ok(channels=page, response_metadata={"next_cursor": next_cursor})

    def _history(self, params: dict[str, Any]) -> Reply:
        channel = self._known_channel(params.get("channel"), by_name=False)
        if channel is None:
            return _error("channel_not_found")
        visible = [
            m
            for m in self._messages.values()
            if m.channel == channel and not m.deleted and (m.is_root or m.reply_broadcast)
        ]
        inclusive = _flag(params.get("inclusive"))
        oldest = _ts_key(str(params["oldest"])) if params.get("oldest") not in (None, "") else None
        latest = _ts_key(str(params["latest"])) if params.get("latest") not in (None, "") else None

        def within(message: SlackMessage) -> bool:
            key = _ts_key(message.ts)
            if oldest is not None and (key < oldest or (key == oldest and not inclusive)):
                return False
            return not (latest is not None and (key > latest or (key == latest and not inclusive)))

        selected = sorted((m for m in visible if within(m)), key=lambda m: _ts_key(m.ts), reverse=True)
        page, next_cursor = _page(selected, params)
        return _ok(
            messages=[self._render(m) for m in page],
            has_more=bool(next_cursor),
            pin_count=0,
            response_metadata={"next_cursor": next_cursor},
        )

    def _replies(self, params: dict[str, Any]) -> Reply:
        channel = self._known_channel(params.get("channel"), by_name=False)
        if channel is None:
            return _error("channel_not_found")
        root = self._messages.get(str(params.get("ts") or ""))
        if root is None or root.channel != channel or root.deleted:
            return _error("thread_not_found")
        root_ts = root.thread_ts or root.ts
        thread = [
            m
            for m in self._messages.values()
            if not m.deleted and m.channel == channel and (m.ts == root_ts or m.thread_ts == root_ts)
        ]
        thread.sort(key=lambda m: _ts_key(m.ts))
        page, next_cursor = _page(thread, params)
        return _ok(
            messages=[self._render(m) for m in page],
            has_more=bool(next_cursor),
            response_metadata={"next_cursor": next_cursor},
        )

    def _render(self, message: SlackMessage) -> dict[str, Any]:
        """The message in Slack's wire shape, as the Web API returns it."""
        wire: dict[str, Any] = {
            "type": "message",
            "user": message.user,
            "bot_id": message.bot_id,
            "app_id": self.app_id,
            "team": self.team_id,
            "text": message.text,
            "ts": message.ts,
        }
        if message.blocks is not None:
            wire["blocks"] = copy.deepcopy(message.blocks)
        if message.attachments:
            wire["attachments"] = copy.deepcopy(message.attachments)
        if message.metadata:
            wire["metadata"] = copy.deepcopy(message.metadata)
        if message.edited_ts:
            wire["edited"] = {"user": message.user, "ts": message.edited_ts}
        if message.thread_ts:
            wire["thread_ts"] = message.thread_ts
            if not message.is_root:
                wire["parent_user_id"] = message.user
                if message.reply_broadcast:
                    wire["subtype"] = "thread_broadcast"
        if message.is_root:
            replies = [m for m in self._messages.values() if m.thread_ts == message.ts and not m.is_root]
            replies = [m for m in replies if not m.deleted]
            if replies:
                wire["thread_ts"] = message.ts
                wire["reply_count"] = len(replies)
                wire["reply_users"] = sorted({m.user for m in replies})
                wire["reply_users_count"] = len(wire["reply_users"])
                wire["latest_reply"] = replies[-1].ts
        return wire

    # -- response URLs over HTTP -----------------------------------------------------------

    def _respond(self, quoted_name: str, request: Request) -> Reply:
        name = quoted_name  # the request path is already percent-decoded
        if request.method != "POST":
            return Reply.text("method_not_allowed", 405)
        try:
            if request.content_type == "application/json":
                body = request.json()
            else:
                form = dict(parse_qsl(request.body.decode("utf-8"), keep_blank_values=True))
                body = json.loads(form["payload"]) if "payload" in form else form
        except (ValueError, KeyError, UnicodeDecodeError):
            return Reply.text("invalid_payload", 400)
        if not isinstance(body, dict):
            return Reply.text("invalid_payload", 400)
        with self._changed:
            target = self._response_urls.get(name)
            if target is None:
                return Reply.text("invalid_url", 404)
            if self.clock() - target.made_at > RESPONSE_URL_SECONDS:
                self._rejected_responses[name].append(body)
                self._changed.notify_all()
                return Reply.text("expired_url", 404)
            if target.limit is not None and target.uses >= target.limit:
                self._rejected_responses[name].append(body)
                self._changed.notify_all()
                return Reply.text("used_url", 404)
            target.uses += 1
            self._responses[name].append(body)
            self._apply_response(target, body)
            self._changed.notify_all()
        return Reply.json({"ok": True})

    def _apply_response(self, target: _ResponseUrl, body: dict[str, Any]) -> None:
        message = self._messages.get(target.message_ts or "")
        if message is not None and _flag(body.get("delete_original")):
            message.deleted = True
            return
        if message is not None and _flag(body.get("replace_original")):
            message.history.append(message._version())
            message.text = str(body.get("text") or "")
            message.blocks = copy.deepcopy(body.get("blocks")) or None
            message.attachments = copy.deepcopy(body.get("attachments")) or None
            message.edited_ts = self._next_ts()
            return
        if body.get("response_type") == "in_channel" and target.channel:
            thread_ts = body.get("thread_ts")
            reply = SlackMessage(
                channel=target.channel,
                ts=self._next_ts(),
                text=str(body.get("text") or ""),
                blocks=copy.deepcopy(body.get("blocks")),
                attachments=copy.deepcopy(body.get("attachments")),
                thread_ts=thread_ts if thread_ts in self._messages else None,
                reply_broadcast=False,
                user=self.bot_user_id,
                bot_id=self.bot_id,
            )
            self._messages[reply.ts] = reply


def _token(request: Request, params: dict[str, Any]) -> str | None:
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip() or None
    token = params.pop("token", None)
    return str(token) if token else None


def _ok(**fields: Any) -> Reply:
    return Reply.json({"ok": True, **fields})


def _error(error: str, **fields: Any) -> Reply:
    return Reply.json({"ok": False, "error": error, **fields})


def _error_of(reply: Reply) -> str | None:
    if reply.disconnect:
        return "disconnected"
    try:
        payload = json.loads(reply.body or b"{}")
    except ValueError:
        return "not_json"
    if isinstance(payload, dict) and payload.get("ok") is False:
        return str(payload.get("error"))
    return None if reply.status < 400 else f"http_{reply.status}"


def _page(items: list[SlackMessage], params: dict[str, Any]) -> tuple[list[SlackMessage], str]:
    try:
        limit = max(1, min(int(params.get("limit") or 100), 999))
    except (TypeError, ValueError):
        limit = 100
    start = 0
    cursor = str(params.get("cursor") or "")
    if cursor:
        try:
            start = int(base64.b64decode(cursor).decode().removeprefix("offset:"))
        except ValueError:
            start = 0
    page = items[start : start + limit]
    more = start + limit < len(items)
    return page, base64.b64encode(f"offset:{start + limit}".encode()).decode() if more else ""


def _content_problem(params: dict[str, Any], *, require: bool) -> str | None:
    """Slack's own checks on message content, as far as a test can trip over them."""
    blocks = params.get("blocks")
    if require and not (params.get("text") or blocks or params.get("attachments")):
        return "no_text"
    if len(str(params.get("text") or "")) > MAX_TEXT:
        return "msg_too_long"
    if blocks is None or blocks == "":
        return None
    if isinstance(blocks, str) or not isinstance(blocks, list):
        return "invalid_blocks_format"
    return _blocks_problem(blocks)


def _blocks_problem(blocks: list[Any]) -> str | None:
    if len(blocks) > MAX_BLOCKS:
        return "invalid_blocks"
    block_ids: set[str] = set()
    for block in blocks:
        if not isinstance(block, dict) or block.get("type") not in BLOCK_TYPES:
            return "invalid_blocks"
        block_id = block.get("block_id")
        if block_id is not None:
            if not isinstance(block_id, str) or len(block_id) > 255 or block_id in block_ids:
                return "invalid_blocks"
            block_ids.add(block_id)
        elements = list(block.get("elements") or [])
        if isinstance(block.get("accessory"), dict):
            elements.append(block["accessory"])
        action_ids: set[str] = set()
        for element in elements:
            if not isinstance(element, dict):
                return "invalid_blocks"
            action_id = element.get("action_id")
            if action_id is not None:
                if not isinstance(action_id, str) or len(action_id) > 255 or action_id in action_ids:
                    return "invalid_blocks"
                action_ids.add(action_id)
            if element.get("type") == "button":
                label = element.get("text") or {}
                if not isinstance(label, dict) or label.get("type") != "plain_text":
                    return "invalid_blocks"
                if len(str(label.get("text") or "")) > 75 or len(str(element.get("value") or "")) > 2000:
                    return "invalid_blocks"
        text = block.get("text")
        if isinstance(text, dict) and len(str(text.get("text") or "")) > 3000:
            return "invalid_blocks"
    return None
