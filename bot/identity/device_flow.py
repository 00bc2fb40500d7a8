"""GitHub's OAuth device flow: prove who someone is on GitHub with no secret in chat.

The bot asks GitHub for a code, the person enters it at github.com/login/device, and the bot
polls until GitHub hands over a token. The token is used once, for `GET /user`, and dropped:
it is never stored, logged or put in an exception, so nothing the bot keeps can act on
anyone's GitHub account. Every way the flow can end badly is a `FlowFailed` with words for
the person.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from bot import messages
from bot.config import GITHUB_LOGIN

log = logging.getLogger(__name__)

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
SLOW_DOWN_SECONDS = 5  # GitHub's rule: each slow_down adds 5 seconds to the interval
MIN_INTERVAL = 0.05  # never a hot loop, whatever `interval` says
MAX_INTERVAL = 120
MAX_EXPIRES_IN = 30 * 60
REPLACED = "replaced"  # the reason of a flow ended by the same person starting another
MAX_FAILURES_IN_A_ROW = 3  # GitHub errors or time-outs while polling before we give up


class FlowFailed(Exception):
    """The flow ended without a login; `text` says why, for the person."""

    def __init__(self, reason: str, text: str) -> None:
        super().__init__(reason)
        self.reason = reason  # a short code for logs and the audit trail
        self.text = text


@dataclass(frozen=True)
class DeviceCode:
    device_code: str
    user_code: str
    verification_uri: str
    expires_in: int
    interval: float


class GitHubDeviceFlow:
    def __init__(
        self,
        *,
        github_url: str,
        api_url: str,
        client_id: str,
        http: httpx.Client,
        sleep: Callable[[float], Any] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.github_url = github_url.rstrip("/")
        self.api_url = api_url.rstrip("/")
        self.client_id = client_id
        self.http = http
        self.stopping = threading.Event()
        self.sleep = sleep or self.stopping.wait  # a shutdown wakes every waiting flow at once
        self.clock = clock

    def stop(self) -> None:
        self.stopping.set()

    # -- step 1: a code for the person --------------------------------------------------------------

    def request_code(self, timeout: float | None = None) -> DeviceCode:
        try:
            response = self.http.post(
                f"{self.github_url}/login/device/code",
                data={"client_id": self.client_id},
                headers={"Accept": "application/json"},
                **({"timeout": timeout} if timeout is not None else {}),
            )
        except httpx.HTTPError as error:
            log.warning("GitHub device code request failed: %s", type(error).__name__)
            raise FlowFailed("github_unreachable", messages.LINK_GITHUB_UNREACHABLE) from None
        if response.status_code >= 500 or response.status_code == 429:
            log.warning("GitHub device code request answered %s", response.status_code)
            raise FlowFailed("github_error", messages.LINK_GITHUB_UNREACHABLE)
        body = _json(response)
        if body is None:
            raise FlowFailed("junk", messages.LINK_GITHUB_JUNK)
        if "error" in body:
            raise _refused_by_github(str(body.get("error")))
        try:
            code = DeviceCode(
                device_code=_text(body["device_code"]),
                user_code=_text(body["user_code"]),
                verification_uri=_url(body["verification_uri"]),
                expires_in=min(int(body["expires_in"]), MAX_EXPIRES_IN),
                interval=min(max(float(body.get("interval") or SLOW_DOWN_SECONDS), MIN_INTERVAL), MAX_INTERVAL),
            )
        except (KeyError, TypeError, ValueError):
            raise FlowFailed("junk", messages.LINK_GITHUB_JUNK) from None
        if code.expires_in <= 0:
            raise FlowFailed("junk", messages.LINK_GITHUB_JUNK)
        return code

    # -- step 2: wait for the person, then ask GitHub who they are ----------------------------------

    def wait_for_login(self, code: DeviceCode, still_wanted: Callable[[], bool] = lambda: True) -> str:
        """Poll until the person authorises the app; the GitHub login they proved. Raises FlowFailed,
        also ("replaced") as soon as `still_wanted` says a newer flow of the same person took over."""
        token = self._poll(code, still_wanted)
        try:
            return self._login(token)
        finally:
            del token  # used once; nothing keeps it

    def _poll(self, code: DeviceCode, still_wanted: Callable[[], bool]) -> str:
        deadline = self.clock() + code.expires_in
        interval = code.interval
        failures = 0
        while True:
            self.sleep(interval)
            if self.stopping.is_set():
                raise FlowFailed("stopped", messages.LINK_STOPPED)
            if not still_wanted():
                raise FlowFailed(REPLACED, messages.LINK_REPLACED)
            if self.clock() >= deadline:
                raise FlowFailed("expired", messages.LINK_EXPIRED)
            body = self._ask_for_token(code)
            if body is None:
                failures += 1
                if failures >= MAX_FAILURES_IN_A_ROW:
                    raise FlowFailed("github_unreachable", messages.LINK_GITHUB_DOWN_WHILE_WAITING)
                continue
            failures = 0
            token = body.get("access_token")
            if isinstance(token, str) and token:
                return token
            error = body.get("error")
            if error == "authorization_pending":
                continue
            if error == "slow_down":
                given = body.get("interval")
                wanted = float(given) if isinstance(given, int | float) and given > 0 else interval + SLOW_DOWN_SECONDS
                interval = min(max(wanted, interval, MIN_INTERVAL), MAX_INTERVAL)
                continue
            if error == "expired_token":
                raise FlowFailed("expired", messages.LINK_EXPIRED)
            if error == "access_denied":
                raise FlowFailed("denied", messages.LINK_DENIED)
            if isinstance(error, str) and error:
                raise _refused_by_github(error)
            raise FlowFailed("junk", messages.LINK_GITHUB_JUNK)

    def _ask_for_token(self, code: DeviceCode) -> dict[str, Any] | None:
        """GitHub's answer, or None for an answer worth asking again (an error, a time-out, a 5xx)."""
        try:
            response = self.http.post(
                f"{self.github_url}/login/oauth/access_token",
                data={"client_id": self.client_id, "device_code": code.device_code, "grant_type": DEVICE_GRANT},
                headers={"Accept": "application/json"},
            )
        except httpx.HTTPError as error:
            log.warning("GitHub token poll failed: %s", type(error).__name__)
            return None
        if response.status_code >= 500 or response.status_code == 429:
            log.warning("GitHub token poll answered %s", response.status_code)
            return None
        body = _json(response)
        if body is None:
            log.warning("GitHub token poll answered %s with something that is not JSON", response.status_code)
            raise FlowFailed("junk", messages.LINK_GITHUB_JUNK)
        return body

    def _login(self, token: str) -> str:
        try:
            response = self.http.get(
                f"{self.api_url}/user",
                headers={
                    "Authorization": f"Bearer {token}",
                    "Accept": "application/vnd.github+json",
                    "X-GitHub-Api-Version": "2022-11-28",
                },
            )
        except httpx.HTTPError as error:
            log.warning("GitHub /user failed: %s", type(error).__name__)
            raise FlowFailed("github_unreachable", messages.LINK_USER_UNREACHABLE) from None
        if response.status_code != 200:
            log.warning("GitHub /user answered %s", response.status_code)
            raise FlowFailed("github_error", messages.LINK_USER_UNREACHABLE)
        body = _json(response)
        login = body.get("login") if body else None
        if not isinstance(login, str) or not GITHUB_LOGIN.fullmatch(login):
            raise FlowFailed("junk", messages.LINK_GITHUB_JUNK)
        return login


def _refused_by_github(error: str) -> FlowFailed:
    """An error that asking again will not fix: the app's set-up, or a code GitHub no longer knows."""
    log.warning("GitHub refused the device flow: %s", error[:80])
    if error == "device_flow_disabled":
        return FlowFailed(error, messages.LINK_DEVICE_FLOW_DISABLED)
    if error in ("incorrect_client_credentials", "unauthorized_client"):
        return FlowFailed(error, messages.LINK_BAD_CLIENT_ID)
    return FlowFailed("github_error", messages.link_github_refused(error))


def _json(response: httpx.Response) -> dict[str, Any] | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _text(value: object) -> str:
    if not isinstance(value, str) or not value or len(value) > 200 or not value.isprintable():
        raise ValueError("not a short string")
    return value


def _url(value: object) -> str:
    text = _text(value)
    if not text.startswith(("https://", "http://")) or any(c in text for c in "<>| "):
        raise ValueError("not a URL")
    return text
