"""Shared fixtures: a real Redis, fake Slack and GitHub servers, and a local charts repository."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.fakes import FakeGitHub, FakeSlack
from tests.fakes.argo_workflows import FakeArgoWorkflows
from tests.fakes.argocd import FakeArgoCD
from tests.support.app import BotHarness, add_standard_members, bot_environment
from tests.support.charts import ChartsRemote, make_charts_remote
from tests.support.local_servers import answers_ping, throwaway_redis


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Long tests first, longest first (a stable sort): with `-n`, each starts at once on a worker of its own."""

    def seconds(item: pytest.Item) -> float:
        marker = item.get_closest_marker("long")
        return marker.args[0] if marker is not None else 0

    items.sort(key=seconds, reverse=True)


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A Redis server that answers PING: $REDIS_URL, else localhost:6379, else a throwaway redis-server."""
    configured = os.environ.get("REDIS_URL", "").strip()
    if configured.startswith(("redis://", "rediss://", "unix://")) and answers_ping(configured):
        yield configured
        return
    if answers_ping("redis://127.0.0.1:6379/0"):
        yield "redis://127.0.0.1:6379/0"
        return
    try:
        with throwaway_redis() as url:
            yield url
    except (FileNotFoundError, RuntimeError) as error:
        reason = f"no Redis for the tests: nothing answers at REDIS_URL or 127.0.0.1:6379, and {error}"
        if _in_ci():
            pytest.fail(reason)
        pytest.skip(reason)


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
def argocd() -> Iterator[FakeArgoCD]:
    """A fake Argo CD on loopback, empty (tests add Applications, or GOV.UK's topology)."""
    with FakeArgoCD() as fake:
        yield fake


@pytest.fixture
def workflows() -> Iterator[FakeArgoWorkflows]:
    """A fake Argo Workflows on loopback, empty."""
    with FakeArgoWorkflows() as fake:
        yield fake


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
    """Settings for a bot on this test's fakes, charts remote and Redis prefix; standard team members."""
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
