"""The bot as tests meet it: the real HTTP app on loopback, spoken to only through the contract.

`BotHarness` runs `handlers.server.Server` (waitress, Bolt, the whole core) in this process,
configured purely through its environment variables, pointed at the loopback fakes,
a bare charts remote and the test's own Redis prefix. `ServeProcess` runs `python -m bot serve`
as a separate process, for restarts, SIGKILL and two replicas.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import redis

from bot.config import load_settings
from bot.intervals import PRODUCTION_INTERVALS, Intervals
from handlers.server import Server
from tests.fakes import FakeGitHub, FakeSlack
from tests.support.charts import ChartsRemote, make_charts_remote
from tests.support.local_servers import free_port
from tests.support.slack_requests import block_actions_body, signed_headers, slash_command_body

SIGNING_SECRET = "test-signing-secret"
WEBHOOK_TOKEN = "test-webhook-token-0123456789abcdef"  # 32+ characters, as SPEC 13 asks
BOT_TOKEN = "xoxb-test-token"
GITHUB_TOKEN = "ghs-test-token"
MEMBER = "U012AB3CD"  # octocat: in gov-uk and gov-uk-production
INTEGRATION_ONLY = "U0INTEG01"  # integrator: in gov-uk only
OUTSIDER = "U0OUTSIDE"  # outsider: mapped, in no team
UNLINKED = "U0UNLINKD"  # not in `users`
USERS = {MEMBER: "octocat", INTEGRATION_ONLY: "integrator", OUTSIDER: "outsider"}
ROOT = Path(__file__).resolve().parents[2]
# The background jobs a `python -m bot serve` test waits on, run every second or less instead of every 3 to 60 s
# (bot/intervals.py): a dead replica is noticed about 4 s after its last heartbeat rather than 10 to 15 s.
FAST_JOBS = {
    "DEPLOYBOT_HEARTBEAT_SECONDS": "4",
    "DEPLOYBOT_HEARTBEAT_EVERY_SECONDS": "1",
    "DEPLOYBOT_ORPHANED_DEPLOYS_EVERY_SECONDS": "0.5",
    "DEPLOYBOT_STUCK_DEPLOYS_EVERY_SECONDS": "1",
}


class FakeClock:
    """Real time plus an offset that tests move forward instead of sleeping."""

    def __init__(self) -> None:
        self.offset = 0.0
        self.stopped_at: float | None = None

    def __call__(self) -> float:
        if self.stopped_at is not None:
            return self.stopped_at + self.offset
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds

    @contextmanager
    def stopped(self) -> Iterator[float]:
        """The clock held still (yielding its reading) while a test signs a request and the bot
        checks it: on a loaded machine a second can pass in between, and a skew measured at
        signing is not the skew the bot sees."""
        self.stopped_at = time.time()
        try:
            yield self()
        finally:
            self.stopped_at = None


def write_bot_config(folder: Path, users: dict[str, str] | None = None) -> Path:
    lines = ["users:"] + [f"  {slack}: {login}" for slack, login in (users or USERS).items()]
    path = folder / "bot-config.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def add_standard_members(fake_github: Any) -> None:
    fake_github.add_member("gov-uk", "octocat")
    fake_github.add_member("gov-uk-production", "octocat")
    fake_github.add_member("gov-uk-production-deploy", "octocat")  # the default team of staging and production
    fake_github.add_member("gov-uk", "integrator")


def bot_environment(
    *,
    tmp_path: Path,
    fake_slack: Any,
    fake_github: Any,
    charts_url: str,
    redis_url: str,
    redis_prefix: str,
    **extra: str,
) -> dict[str, str]:
    """The environment variables for a bot wired to the test's fakes, charts remote and Redis prefix."""
    env = {
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": fake_slack.url,
        "CHARTS_REPO_URL": charts_url,
        "CHARTS_WORKDIR": str(tmp_path / "working-copy"),
        "GITHUB_API_URL": fake_github.url,
        "GITHUB_TOKEN": GITHUB_TOKEN,
        "REDIS_URL": redis_url,
        "REDIS_PREFIX": redis_prefix,
        "WEBHOOK_TOKEN": WEBHOOK_TOKEN,
        "BOT_CONFIG": str(write_bot_config(tmp_path)),
        "HOST": "127.0.0.1",
        "PORT": "0",
    }
    env.update(extra)
    return env


class Client:
    """Signed Slack requests and bearer-token webhooks against a running bot."""

    def __init__(self, base_url: str, clock: Any = time.time) -> None:
        self.base_url = base_url
        self.clock = clock
        self.http = httpx.Client(base_url=base_url, timeout=30)

    def close(self) -> None:
        self.http.close()

    def slack(self, body: bytes, *, timestamp: int | None = None, secret: str = SIGNING_SECRET) -> httpx.Response:
        stamp = int(self.clock()) if timestamp is None else timestamp
        return self.http.post("/slack/events", content=body, headers=signed_headers(secret, body, stamp))

    def slash(self, text: str, *, user: str = MEMBER, response_url: str = "http://127.0.0.1:9/none") -> httpx.Response:
        return self.slack(slash_command_body(text, user_id=user, response_url=response_url))

    def click(self, value: str, *, user: str = MEMBER, response_url: str = "http://127.0.0.1:9/none") -> httpx.Response:
        body = block_actions_body("promote", value, user_id=user, response_url=response_url)
        return self.slack(body)

    def webhook(self, path: str, payload: Any, *, token: str | None = WEBHOOK_TOKEN) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        if isinstance(payload, bytes | str):
            return self.http.post(path, content=payload, headers={**headers, "Content-Type": "application/json"})
        return self.http.post(path, json=payload, headers=headers)


class BotHarness(Client):
    """`Server` in this process: the whole bot, reachable only over HTTP like Slack and Argo CD reach it."""

    def __init__(
        self,
        env: dict[str, str],
        *,
        clock: FakeClock | None = None,
        post_interval: float = 0.0,
        intervals: Intervals = PRODUCTION_INTERVALS,
    ) -> None:
        self.env = env
        self.fake_clock = clock or FakeClock()
        self.settings = load_settings(env)
        self.server = Server(self.settings, clock=self.fake_clock, post_interval=post_interval, intervals=intervals)
        self.server.start()
        super().__init__(f"http://127.0.0.1:{self.server.port}", clock=self.fake_clock)

    @property
    def services(self) -> Any:
        return self.server.services

    def settle(self, timeout: float = 30.0) -> None:
        """Wait until every accepted deploy has ended and every card is on the fake Slack."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.services.deployer.wait_idle(timeout=max(0.0, deadline - time.monotonic()))
            self.services.followups.wait_idle(timeout=max(0.0, deadline - time.monotonic()))
            if getattr(self.services, "doorbell", None) is not None:
                self.services.doorbell.wait_idle(timeout=max(0.0, deadline - time.monotonic()))
            if (
                self.services.outbox.drain(timeout=max(0.0, deadline - time.monotonic()))
                and self.services.replies.wait(timeout=max(0.0, deadline - time.monotonic()))
                and self.services.deployer.wait_idle(timeout=0)
            ):
                return
        raise AssertionError("the bot did not settle in time")

    def stop(self) -> None:
        self.close()
        self.server.stop()


@dataclass
class SharedBot:
    """One bot with its own fakes, charts remote and Redis prefix, for a module of tests that share it."""

    bot: BotHarness
    fake_slack: FakeSlack
    fake_github: FakeGitHub
    remote: ChartsRemote


@contextmanager
def shared_bot(tmp_path: Path, redis_url: str) -> Iterator[SharedBot]:
    prefix = f"test:{uuid.uuid4().hex}:"
    with FakeSlack() as fake_slack, FakeGitHub() as fake_github:
        add_standard_members(fake_github)
        remote = make_charts_remote(tmp_path)
        env = bot_environment(
            tmp_path=tmp_path,
            fake_slack=fake_slack,
            fake_github=fake_github,
            charts_url=remote.url,
            redis_url=redis_url,
            redis_prefix=prefix,
        )
        harness = BotHarness(env)
        try:
            yield SharedBot(harness, fake_slack, fake_github, remote)
        finally:
            harness.stop()
            client = redis.Redis.from_url(redis_url)
            for key in client.scan_iter(match=prefix + "*"):
                client.delete(key)
            client.close()


class ServeProcess(Client):
    """`python -m bot serve` in its own process, as the Procfile runs it, with FAST_JOBS unless `env` says otherwise."""

    def __init__(self, env: dict[str, str], *, log_path: Path) -> None:
        self.log_path = log_path
        self._log = open(log_path, "ab")  # noqa: SIM115 - kept open for the process's lifetime
        for attempt in range(5):
            # a port picked free may be taken before the bot listens on it (the machine runs other tests):
            # the bot then exits saying so, and starts again on another port
            self.env = {**FAST_JOBS, **env, "PORT": str(free_port())}
            outer = ("SLACK_", "REDIS_", "CHARTS_", "DEPLOYBOT_")
            full_env = {k: v for k, v in os.environ.items() if not k.startswith(outer)}
            full_env.update(self.env)
            self._log.flush()
            self._attempt_from = log_path.stat().st_size  # this attempt's part of the log
            self.process = subprocess.Popen(
                [sys.executable, "-m", "bot", "serve"],
                cwd=ROOT,
                env=full_env,
                stdout=self._log,
                stderr=self._log,
                start_new_session=True,  # its own process group, so a test can kill it with its git children
            )
            super().__init__(f"http://127.0.0.1:{self.env['PORT']}")
            if self._port_taken() and attempt < 4:
                self.close()
                continue
            self.wait_ready()
            return

    def _port_taken(self, timeout: float = 30.0) -> bool:
        """True once the bot has exited because its port was in use; False once it answers as itself."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return "Address already in use" in self.log_path.read_text(errors="replace")[-2000:]
            if self._answers():
                # an answer may come from whoever took the port: the bot is ready only if it still runs
                time.sleep(0.2)
                return (
                    self.process.poll() is not None
                    and "Address already in use" in self.log_path.read_text(errors="replace")[-2000:]
                )
            time.sleep(0.05)
        return False

    def _said_port_taken(self) -> bool:
        with open(self.log_path, "rb") as log:
            log.seek(self._attempt_from)
            return b"Address already in use" in log.read()

    def _answers(self) -> bool:
        try:
            return self.http.get("/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"bot exited with {self.process.returncode}: {self.log_path.read_text()[-2000:]}")
            if self._answers():
                return
            time.sleep(0.05)
        raise AssertionError(f"bot did not start: {self.log_path.read_text()[-2000:]}")

    def kill(self, *, with_children: bool = False) -> None:
        """SIGKILL the bot (and, with `with_children`, the git commands it started)."""
        if with_children:
            os.killpg(self.process.pid, signal.SIGKILL)
        else:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)
        self.close()
        self._log.close()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.close()
        self._log.close()


def run_concurrently(calls: list[Any], timeout: float = 60.0) -> list[Any]:
    """Start every call at the same moment (a barrier), return their results in order."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)
    errors: list[BaseException] = []

    def run(index: int, call: Any) -> None:
        barrier.wait()
        try:
            results[index] = call()
        except BaseException as error:  # surfaced to the test below
            errors.append(error)

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    if errors:
        raise errors[0]
    return results
