"""Socket Mode (SPEC 15): with SLACK_APP_TOKEN, Slack's requests arrive over a WebSocket each replica opens.

Two `python -m bot serve` replicas connect to a fake Socket Mode server on loopback (the URL the fake
Slack's `apps.connections.open` hands out). A `/deploy` and a click are each delivered to one replica,
acknowledged there (a slash command's answer in the ack's payload) and acted on once; delivered again to
the other replica, as Slack does when an ack is late, they are acknowledged and not acted on again.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes import FakeGitHub, FakeSlack
from tests.fakes.socket_mode import FakeSocketMode
from tests.support.app import MEMBER, ROOT, BotHarness, ServeProcess
from tests.support.charts import ChartsRemote
from tests.support.payloads import smokey_payload
from tests.support.slack_requests import click_body, slash_command_body, socket_mode_payload
from tests.test_faults import StoppableRedis

APP_TOKEN = "xapp-1-A0DEPLOYBOT-1-fake"
APP, TAG = "router", "v513"


def metric_total(replicas: list[ServeProcess], sample: str) -> float:
    """The sum over every replica of one sample in /metrics, e.g. `deploybot_commands_total{kind="deploy"}`."""
    total = 0.0
    for replica in replicas:
        for line in replica.http.get("/metrics").text.splitlines():
            if line.startswith(sample + " "):
                total += float(line.split()[-1])
    return total


def wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(what)


@pytest.fixture
def stoppable_redis() -> Iterator[StoppableRedis]:
    server = StoppableRedis()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def socket_server(fake_slack: FakeSlack) -> Iterator[FakeSocketMode]:
    with FakeSocketMode(app_id=fake_slack.app_id) as server:
        fake_slack.socket_mode_url = server.new_url
        yield server


@pytest.fixture
def replicas(bot_env: dict[str, str], tmp_path: Path, socket_server: FakeSocketMode) -> Iterator[list[ServeProcess]]:
    started: list[ServeProcess] = []
    try:
        for name in ("first", "second"):
            env = {**bot_env, "SLACK_APP_TOKEN": APP_TOKEN, "CHARTS_WORKDIR": str(tmp_path / f"{name}-copy")}
            started.append(ServeProcess(env, log_path=tmp_path / f"{name}.log"))
        socket_server.wait_for_connections(2)
        yield started
    finally:
        for replica in started:
            replica.stop()


@pytest.mark.long(15)  # two replicas started, a deploy and a promotion
def test_a_command_and_a_click_over_socket_mode_are_each_acknowledged_and_acted_on_once_with_two_replicas(
    replicas: list[ServeProcess],
    socket_server: FakeSocketMode,
    fake_slack: FakeSlack,
    fake_github: FakeGitHub,
    charts_remote: ChartsRemote,
) -> None:
    first, second = socket_server.connections
    commits = charts_remote.commit_count()

    # /deploy over the socket: the answer rides in the ack, the deploy lands, the requester is told
    body = slash_command_body(f"{APP} {TAG} integration", user_id=MEMBER, response_url=fake_slack.response_url("cmd"))
    envelope = socket_server.deliver("slash_commands", socket_mode_payload(body), to=first)
    [ack] = socket_server.wait_for_ack(envelope)
    assert ack.connection == first
    assert ack.payload and ack.payload.get("response_type") == "ephemeral" and TAG in ack.payload["text"]
    fake_slack.wait_for_response("cmd", timeout=30)
    wait_for(lambda: charts_remote.commit_count() == commits + 1, 30, "the deploy was not committed")
    assert re.search(rf"image_tag: {TAG}\b", charts_remote.read("integration", APP))

    # Slack delivers it again (its ack was late) to the other replica: acknowledged, not acted on
    socket_server.deliver("slash_commands", socket_mode_payload(body), to=second, envelope_id=envelope, retry_attempt=1)
    again = socket_server.wait_for_ack(envelope, count=2)[1]
    assert again.connection == second and not again.payload
    assert metric_total(replicas, 'deploybot_commands_total{kind="deploy"}') == 1
    assert charts_remote.commit_count() == commits + 1

    # the release passes its tests in integration, so its card offers a promotion; clicked over the socket
    for path, payload in (
        (
            "/webhooks/argocd",
            {
                "application": APP,
                "environment": "integration",
                "state": "Succeeded",
                "health": "Healthy",
                "imageTag": TAG,
            },
        ),
        ("/webhooks/smokey", smokey_payload(APP, "integration", TAG)),
    ):
        assert replicas[0].webhook(path, payload).status_code in (200, 202)

    def card_with_promote():
        cards = [m for m in fake_slack.roots() if f"*{APP}* `{TAG}`" in m.text]
        return cards[0] if cards and cards[0].button("promote") else None

    wait_for(lambda: card_with_promote() is not None, 30, "no promote button on the card")
    click = socket_mode_payload(click_body(card_with_promote(), "promote", MEMBER, fake_slack.response_url("click")))
    envelope = socket_server.deliver("interactive", click, to=second)
    [ack] = socket_server.wait_for_ack(envelope)
    assert ack.connection == second and not ack.payload
    wait_for(lambda: charts_remote.commit_count() == commits + 2, 30, "the promotion was not committed")
    assert re.search(rf"image_tag: {TAG}\b", charts_remote.read("staging", APP))

    socket_server.deliver("interactive", click, to=first, envelope_id=envelope, retry_attempt=1)
    socket_server.wait_for_ack(envelope, count=2)
    assert metric_total(replicas, 'deploybot_button_clicks_total{action="promote"}') == 1
    assert charts_remote.commit_count() == commits + 2

    # an event goes through the same Bolt app; one with no listener is still acknowledged (never re-sent)
    event = {
        "type": "event_callback",
        "team_id": "T0GOVUK",
        "api_app_id": fake_slack.app_id,
        "event_id": "Ev0SOCKETMODE",
        "event_time": 1_700_000_000,
        "event": {"type": "app_mention", "user": MEMBER, "text": "hello", "channel": "C0DEPLOYS", "ts": "1.2"},
    }
    envelope = socket_server.deliver("events_api", event)
    socket_server.wait_for_ack(envelope)

    # every ack was timed (observed just after the ack is sent, so waited for); both replicas still connected
    timed = 'deploybot_slack_ack_seconds_count{transport="socket_mode"}'
    wait_for(lambda: metric_total(replicas, timed) >= 5, 30, "not every Socket Mode ack was timed")
    assert metric_total(replicas, timed) == 5
    assert metric_total(replicas, "deploybot_socket_mode_connected") == 2


def test_a_replica_told_to_disconnect_opens_a_new_connection_and_keeps_answering(
    replicas: list[ServeProcess], socket_server: FakeSocketMode, fake_slack: FakeSlack
) -> None:
    first, second = socket_server.connections
    socket_server.disconnect(first)
    socket_server.wait_until(lambda: len(socket_server.connections) == 2 and first not in socket_server.connections)
    assert fake_slack.count("apps.connections.open") == 3  # each replica once, then the reconnect
    [newest] = [n for n in socket_server.connections if n != second]

    body = slash_command_body("help", user_id=MEMBER, response_url=fake_slack.response_url("help"))
    envelope = socket_server.deliver("slash_commands", socket_mode_payload(body), to=newest)
    [ack] = socket_server.wait_for_ack(envelope)
    assert ack.connection == newest and "/deploy" in ack.payload["text"]


def test_a_bot_token_in_slack_app_token_is_refused_at_start_up(bot_env: dict[str, str]) -> None:
    env = {**os.environ, **bot_env, "SLACK_APP_TOKEN": "xoxb-not-an-app-token"}
    done = subprocess.run(
        [sys.executable, "-m", "bot", "check-config"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 1
    assert "SLACK_APP_TOKEN must be an app-level token starting with xapp-" in done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr


@pytest.mark.long(10)  # a 5 s wait before it asks Slack again
def test_a_replica_that_cannot_connect_at_first_keeps_trying_with_a_new_url(
    bot_env: dict[str, str], tmp_path: Path, socket_server: FakeSocketMode, fake_slack: FakeSlack
) -> None:
    fake_slack.fail_next("apps.connections.open", 200, error="internal_error")  # Slack says no once
    socket_server.refuse_next = 1  # then the first URL it gives cannot be opened
    replica = ServeProcess({**bot_env, "SLACK_APP_TOKEN": APP_TOKEN}, log_path=tmp_path / "bot.log")
    try:
        [connection] = socket_server.wait_for_connections(1, timeout=60)
        assert fake_slack.count("apps.connections.open") == 3 and len(socket_server.rejected) == 1
        body = slash_command_body("help", user_id=MEMBER, response_url=fake_slack.response_url("help"))
        envelope = socket_server.deliver("slash_commands", socket_mode_payload(body), to=connection)
        assert "/deploy" in socket_server.wait_for_ack(envelope)[0].payload["text"]
        assert replica.http.get("/healthz").status_code == 200  # HTTP answered all along
    finally:
        replica.stop()


def test_check_config_says_socket_mode_is_on(bot_env: dict[str, str]) -> None:
    env = {**os.environ, **bot_env, "SLACK_APP_TOKEN": APP_TOKEN}
    done = subprocess.run(
        [sys.executable, "-m", "bot", "check-config"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "Socket Mode is on" in done.stdout


def test_with_the_store_down_a_command_over_socket_mode_is_acknowledged_with_a_plain_refusal(
    bot_env: dict[str, str],
    socket_server: FakeSocketMode,
    fake_slack: FakeSlack,
    charts_remote: ChartsRemote,
    stoppable_redis: StoppableRedis,
) -> None:
    bot = BotHarness({**bot_env, "REDIS_URL": stoppable_redis.url, "SLACK_APP_TOKEN": APP_TOKEN})
    try:
        [connection] = socket_server.wait_for_connections(1)
        commits = charts_remote.commit_count()
        stoppable_redis.stop()
        body = slash_command_body(f"{APP} {TAG} integration", user_id=MEMBER, response_url=fake_slack.response_url("x"))
        envelope = socket_server.deliver("slash_commands", socket_mode_payload(body), to=connection)
        [ack] = socket_server.wait_for_ack(envelope)
        assert "state store is unavailable" in ack.payload["text"]
        assert charts_remote.commit_count() == commits
    finally:
        bot.stop()
