"""What every benchmark needs: a Redis, the loopback fakes, the bot as a process, and eyes on the remote."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import redis

from bench.repos import CACHE
from tests.fakes import FakeGitHub, FakeSlack
from tests.support.app import ServeProcess, add_standard_members, bot_environment
from tests.support.charts import ChartsRemote, git, git_env
from tests.support.local_servers import throwaway_redis

IMAGE_TAG = "image_tag:"
LOGS = CACHE / "logs"


# -- Redis --------------------------------------------------------------------------------------


@contextlib.contextmanager
def redis_server() -> Iterator[tuple[str, str]]:
    """(REDIS_URL, description): a throwaway redis-server on loopback, else `memory://`."""
    if shutil.which("redis-server") is None:
        yield "memory://", "memory:// (no redis-server on PATH: the in-process fakeredis store)"
        return
    with throwaway_redis() as url:
        version = redis.Redis.from_url(url).info("server").get("redis_version", "?")
        yield url, f"redis-server {version} on loopback (a real Redis, as in production)"


# -- the bot ------------------------------------------------------------------------------------


@dataclass
class Bot:
    """A `python -m bot serve` process wired to fresh fakes, with what it needs to be measured."""

    process: ServeProcess
    slack: FakeSlack
    github: FakeGitHub
    folder: Path
    label: str = "bot"
    started_at: float = 0.0
    ready_seconds: float = 0.0

    @property
    def pid(self) -> int:
        return self.process.process.pid

    def rss_mb(self) -> float:
        return rss_mb(self.pid)

    def stop(self) -> None:
        self.process.stop()
        self.slack.stop()
        self.github.stop()
        keep_log(self.folder / "bot.log", self.label)


def keep_log(path: Path, label: str) -> None:
    """Keep the bot's log (warnings and errors) in bench/.cache/logs/<label>.log for a look afterwards."""
    with contextlib.suppress(OSError):
        LOGS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, LOGS / f"{label}.log")


def rss_mb(pid: int) -> float:
    """Resident set size of one process in MB (VmRSS in /proc/<pid>/status)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def wait_ready(client: httpx.Client, deadline: float) -> bool:
    while time.monotonic() < deadline:
        try:
            if client.get("/readyz", timeout=2).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.02)
    return False


def start_bot(
    folder: Path,
    charts_url: str,
    redis_url: str,
    *,
    workdir: Path | None = None,
    slack: FakeSlack | None = None,
    github: FakeGitHub | None = None,
    label: str | None = None,
    **extra: str,
) -> Bot:
    """Start the bot as a separate process; return once /readyz answers 200 (time measured)."""
    folder.mkdir(parents=True, exist_ok=True)
    slack = slack or FakeSlack().start()
    github = github or FakeGitHub().start()
    add_standard_members(github)
    env = bot_environment(
        tmp_path=folder,
        fake_slack=slack,
        fake_github=github,
        charts_url=charts_url,
        redis_url=redis_url,
        redis_prefix=f"bench:{uuid.uuid4().hex[:12]}:",
        LOG_LEVEL="WARNING",
        **extra,
    )
    if workdir is not None:
        env["CHARTS_WORKDIR"] = str(workdir)
    # The benches measure the writer under CI's direct deploys to every environment, as GOV.UK's CI
    # did before tokens were bound to environments.
    with open(env["BOT_CONFIG"], "a", encoding="utf-8") as config:
        config.write("ci_environments: [integration, staging, production]\n")
    started = time.monotonic()
    process = ServeProcess(env, log_path=folder / "bot.log")  # returns once /healthz answers
    if not wait_ready(process.http, time.monotonic() + 120):
        process.stop()
        keep_log(folder / "bot.log", label or folder.name)
        raise RuntimeError(f"the bot never became ready: {(folder / 'bot.log').read_text()[-2000:]}")
    bot = Bot(process=process, slack=slack, github=github, folder=folder, label=label or folder.name)
    bot.started_at = started
    bot.ready_seconds = time.monotonic() - started
    return bot


# -- the remote ---------------------------------------------------------------------------------


def tags_on_remote(remote: ChartsRemote, targets: list[tuple[str, str]]) -> dict[tuple[str, str], str | None]:
    """The `image_tag` of each (env, app) at the branch head, in one `git cat-file --batch`."""
    request = "".join(f"{remote.branch}:{remote.file_path(env, app)}\n" for env, app in targets).encode()
    out = subprocess.run(
        ["git", "cat-file", "--batch"], cwd=remote.path, env=git_env(), input=request, capture_output=True, check=True
    ).stdout
    found: dict[tuple[str, str], str | None] = {}
    position = 0
    for target in targets:
        end = out.index(b"\n", position)
        header = out[position:end].split()
        position = end + 1
        if len(header) < 3 or header[1] == b"missing":
            found[target] = None
            continue
        size = int(header[2])
        body = out[position : position + size].decode("utf-8", "replace")
        position += size + 1
        found[target] = next(
            (line[len(IMAGE_TAG) :].strip().strip("'\"") for line in body.splitlines() if line.startswith(IMAGE_TAG)),
            None,
        )
    return found


def commits_since(remote: ChartsRemote, base: str) -> int:
    return int(git("rev-list", "--count", f"{base}..{remote.branch}", cwd=remote.path).strip())


@dataclass
class Landing:
    seconds: float  # from the first request until every deploy was on the remote (or the time-out)
    landed: int
    lost: list[str] = field(default_factory=list)


def wait_landed(
    remote: ChartsRemote, expected: dict[tuple[str, str], str], started: float, timeout: float, interval: float = 0.05
) -> Landing:
    """Poll the bare remote until every (env, app) holds its expected tag; time from `started`."""
    targets = list(expected)
    deadline = started + timeout
    while True:
        now = time.monotonic()
        found = tags_on_remote(remote, targets)
        good = [t for t in targets if found[t] == expected[t]]
        if len(good) == len(targets):
            return Landing(seconds=now - started, landed=len(good))
        if now > deadline:
            lost = [
                f"{env}/{app} (wanted {expected[(env, app)]}, has {found[(env, app)]})"
                for env, app in targets
                if found[(env, app)] != expected[(env, app)]
            ]
            return Landing(seconds=now - started, landed=len(good), lost=lost)
        time.sleep(interval)


def at_once(calls: list[Callable[[], Any]]) -> tuple[float, list[Any], list[float]]:
    """Start every call together (a barrier); (start time, results, per-call seconds)."""
    results: list[Any] = [None] * len(calls)
    seconds = [float("nan")] * len(calls)
    barrier = threading.Barrier(len(calls) + 1)

    def run(index: int, call: Callable[[], Any]) -> None:
        barrier.wait()
        began = time.perf_counter()
        try:
            results[index] = call()
        except Exception as error:  # counted by the caller as a failed request
            results[index] = error
        seconds[index] = time.perf_counter() - began

    threads = [threading.Thread(target=run, args=(i, c), daemon=True) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.monotonic()
    for thread in threads:
        thread.join(120)
    return started, results, seconds
