"""Shared fixtures: a real Redis, fake Slack and GitHub servers, and a local charts repository."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.fakes import FakeGitHub, FakeSlack
from tests.support.app import BotHarness, add_standard_members, bot_environment
from tests.support.charts import ChartsRemote, make_charts_remote


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def _answers_ping(url: str) -> bool:
    try:
        client = redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except (redis.RedisError, OSError, ValueError):
        return False


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start_redis_server() -> tuple[subprocess.Popen, str, str] | None:
    binary = shutil.which("redis-server")
    if binary is None:
        return None
    workdir = tempfile.mkdtemp(prefix="test-redis-")
    port = _free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", workdir],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        if _answers_ping(url):
            return process, url, workdir
        time.sleep(0.05)
    process.terminate()
    process.wait(timeout=5)
    shutil.rmtree(workdir, ignore_errors=True)
    return None


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A Redis server that answers PING: $REDIS_URL, else localhost:6379, else a throwaway redis-server."""
    tried = []
    configured = os.environ.get("REDIS_URL", "").strip()
    if configured.startswith(("redis://", "rediss://", "unix://")):
        if _answers_ping(configured):
            yield configured
            return
        tried.append("REDIS_URL does not answer")
    local = "redis://127.0.0.1:6379/0"
    if _answers_ping(local):
        yield local
        return
    tried.append("nothing answers on 127.0.0.1:6379")
    started = _start_redis_server()
    if started is None:
        tried.append("redis-server could not be started (is it installed?)")
        reason = "no Redis server for the tests: " + "; ".join(tried)
        if _in_ci():
            pytest.fail(reason)
        pytest.skip(reason)
    process, url, workdir = started
    try:
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture
def redis_prefix(redis_url: str) -> Iterator[str]:
    """A key prefix of this test's own; its keys (and only those) are deleted afterwards."""
    prefix = f"test:{uuid.uuid4().hex}:"
    yield prefix
    client = redis.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(match=prefix + "*", count=500))
        for start in range(0, len(keys), 500):
            client.delete(*keys[start : start + 500])
    finally:
        client.close()


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    """A redis-py client (decode_responses=True) on the test Redis."""
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def fake_slack() -> Iterator[FakeSlack]:
    fake = FakeSlack().start()
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture
def fake_github() -> Iterator[FakeGitHub]:
    fake = FakeGitHub().start()
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture
def charts_remote(tmp_path: Path) -> ChartsRemote:
    """A bare charts repository seeded with DEFAULT_APPS, reachable at `charts_remote.url`."""
    return make_charts_remote(tmp_path)


@pytest.fixture
def bot_env(
    tmp_path: Path,
    fake_slack: FakeSlack,
    fake_github: FakeGitHub,
    charts_remote: ChartsRemote,
    redis_url: str,
    redis_prefix: str,
) -> dict[str, str]:
    """SPEC §2 settings for a bot on this test's fakes, charts remote and Redis prefix; standard team members."""
    add_standard_members(fake_github)
    return bot_environment(
        tmp_path=tmp_path,
        fake_slack=fake_slack,
        fake_github=fake_github,
        charts_url=charts_remote.url,
        redis_url=redis_url,
        redis_prefix=redis_prefix,
    )


@pytest.fixture
def bot(bot_env: dict[str, str]) -> Iterator[BotHarness]:
    """The whole bot on loopback (posts unpaced: tests that measure pacing start their own)."""
    harness = BotHarness(bot_env, post_interval=0.0)
    try:
        yield harness
    finally:
        harness.stop()
