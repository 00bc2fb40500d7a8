"""Which Slack channel hears of an app's failures (section 10.3), first found:

1. `team_channels` in BOT_CONFIG, for the Application or its tag file;
2. the Application's `slackChannel` annotation, when it is not empty (it is empty for every
   GOV.UK app today);
3. `alerts_team` of the entry whose `app_name` is the tag file in the JSON list at
   TEAM_CHANNELS_URL (GOV.UK's developer docs `repos.json`).

The list is read at start-up, in the background, and again every hour; a leading `#` is
dropped. When it cannot be read (down, junk, a wrong shape), the last copy read is kept: in
this process, and in the store for a replica that starts while the docs are down or slow
(used until its own first read ends).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Mapping

import httpx

from bot.config import SLACK_CHANNEL
from bot.store import Store, StoreError

log = logging.getLogger(__name__)

TIMEOUT = httpx.Timeout(10.0, connect=5.0)
DEADLINE_SECONDS = 30.0  # for the whole read: httpx's timeouts bound each read, not a page that drips forever
MAX_BYTES = 5 * 1024 * 1024  # today's repos.json is under 100 KiB
COPY_TTL_SECONDS = 30 * 24 * 3600


def _channel(value: object) -> str | None:
    """A channel name or ID from outside, without its `#`; None for anything that is not one."""
    if not isinstance(value, str):
        return None
    channel = value.strip().lstrip("#")
    if not channel or channel == "unknown" or not SLACK_CHANNEL.fullmatch(channel):
        return None
    return channel


def parse_directory(data: object) -> dict[str, str]:
    """`app_name` -> channel from a repos.json list; ValueError when it is not such a list."""
    if not isinstance(data, list):
        raise ValueError("not a JSON list")
    directory: dict[str, str] = {}
    for entry in data:
        if not isinstance(entry, dict) or not isinstance(entry.get("app_name"), str):
            continue
        channel = _channel(entry.get("alerts_team"))
        if channel:
            directory[entry["app_name"]] = channel
    return directory


class TeamChannels:
    def __init__(
        self,
        *,
        configured: Mapping[str, str],
        url: str,
        http: httpx.Client,
        store: Store,
        deadline: float = DEADLINE_SECONDS,
    ) -> None:
        self.configured = configured
        self.url = url
        self.http = http
        self.store = store
        self.deadline = deadline
        self._directory: dict[str, str] = {}
        self._swap = threading.Lock()  # a fresh read always wins over a copy loaded at the same moment

    @property
    def _copy_key(self) -> str:
        return self.store.key("team-channels", "directory")

    def channel_for(self, tag_file: str, application: str, annotation: str | None) -> str | None:
        """The channel told of a failure of `application` (following `tag_file`), or None."""
        for candidate in (self.configured.get(application), self.configured.get(tag_file), annotation):
            channel = _channel(candidate)
            if channel:
                return channel
        if not self._directory:
            self._load_copy()  # nothing read yet (the first read is still going): the last copy any replica kept
        return self._directory.get(tag_file)

    def refresh(self) -> bool:
        """Read TEAM_CHANNELS_URL again; True when it was read, False when the last copy stays."""
        if not self.url:
            return False
        try:
            directory = parse_directory(json.loads(self._read()))
        except (httpx.HTTPError, ValueError, RecursionError) as error:  # RecursionError: JSON nested too deep
            reason = str(error) if isinstance(error, ValueError) else type(error).__name__
            log.warning("could not read the team channels at TEAM_CHANNELS_URL (%s); keeping the last copy", reason)
            self._load_copy()
            return False
        with self._swap:
            self._directory = directory
        try:
            self.store.client.set(self._copy_key, json.dumps(directory), ex=COPY_TTL_SECONDS)
        except StoreError as error:
            log.warning("could not keep a copy of the team channels in the store: %s", error)
        return True

    def _read(self) -> bytes:
        """The page, read as it comes: refused once it passes MAX_BYTES or takes longer than the deadline,
        so a huge or never-ending page is neither held whole in memory nor read for ever."""
        give_up_at = time.monotonic() + self.deadline
        with self.http.stream("GET", self.url, timeout=TIMEOUT, headers={"Accept": "application/json"}) as response:
            if response.status_code != 200:
                raise ValueError(f"answered HTTP {response.status_code}")
            body = bytearray()
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > MAX_BYTES:
                    raise ValueError("answered more than 5 MiB")
                if time.monotonic() > give_up_at:
                    raise ValueError(f"took longer than {self.deadline:.0f} s")
        return bytes(body)

    def _load_copy(self) -> None:
        if self._directory:
            return  # this process's own last copy
        try:
            raw = self.store.client.get(self._copy_key)
            copy = parse_directory_copy(json.loads(raw)) if raw else {}
            with self._swap:
                if not self._directory:
                    self._directory = copy
        except (StoreError, ValueError) as error:
            log.warning("no copy of the team channels to fall back on: %s", error)


def parse_directory_copy(data: object) -> dict[str, str]:
    if not isinstance(data, dict):
        raise ValueError("not a mapping")
    return {str(app): channel for app, value in data.items() if (channel := _channel(value))}
