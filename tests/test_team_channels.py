"""A failure is told once to the app's team channel (section 10.3), found in BOT_CONFIG, the
Application's `slackChannel` annotation, or GOV.UK's developer docs `repos.json` (a fake of it
on loopback serves a list built from govuk-developer-docs' `data/repos.yml`)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest

from bot.argo.team_channels import TeamChannels, parse_directory
from bot.store import Store, connect
from tests.fakes.developer_docs import FIXTURE, FakeDeveloperDocs
from tests.support.app import BotHarness, write_bot_config

WHITEHALL_TEAM = "govuk-whitehall-experience-tech"  # whitehall's alerts_team in repos.json, without its '#'


@pytest.fixture
def docs() -> Iterator[FakeDeveloperDocs]:
    fake = FakeDeveloperDocs().start()
    yield fake
    fake.stop()


def memory_store() -> Store:
    return Store(connect("memory://"), "test:")


def channels(configured: dict[str, str] | None = None, url: str = "", store: Store | None = None) -> TeamChannels:
    import httpx

    return TeamChannels(configured=configured or {}, url=url, http=httpx.Client(), store=store or memory_store())


# -- the rules -----------------------------------------------------------------------------------


def test_repos_json_names_each_apps_alerts_channel_without_its_hash() -> None:
    directory = parse_directory(json.loads(FIXTURE.read_text()))
    assert directory["whitehall"] == WHITEHALL_TEAM
    assert directory["router"] == "govuk-platform-support"
    assert directory["licensify-backend"] == "gds-apto-collaboration"  # an app_name that is not its repo's name
    assert all(not channel.startswith("#") and channel != "unknown" for channel in directory.values())


@pytest.mark.parametrize("junk", [{}, "repos", None, 3])
def test_anything_but_a_list_is_refused(junk) -> None:
    with pytest.raises(ValueError):
        parse_directory(junk)


def test_entries_without_a_usable_channel_are_skipped() -> None:
    data = [
        {"app_name": "a", "alerts_team": "unknown"},
        {"app_name": "b", "alerts_team": None},
        {"app_name": "c", "alerts_team": "#Not A Channel!"},
        {"alerts_team": "#orphan"},
        "junk",
        {"app_name": "d", "alerts_team": "#d-team"},
    ]
    assert parse_directory(data) == {"d": "d-team"}


def test_config_first_then_the_annotation_then_repos_json(docs) -> None:
    found = channels({"whitehall-admin": "whitehall-notifications", "router": "C0ROUTER1"}, docs.repos_json_url)
    assert found.refresh()
    assert found.channel_for("whitehall", "whitehall-admin", "#annotated") == "whitehall-notifications"
    assert found.channel_for("router", "draft-router", "#annotated") == "C0ROUTER1"  # by its tag file
    assert found.channel_for("whitehall", "whitehall-frontend", "#annotated") == "annotated"
    assert found.channel_for("whitehall", "whitehall-frontend", "") == WHITEHALL_TEAM  # GOV.UK's empty annotation
    assert found.channel_for("whitehall", "whitehall-frontend", None) == WHITEHALL_TEAM
    assert found.channel_for("no-such-app", "no-such-app", None) is None


def test_the_last_copy_is_kept_when_repos_json_cannot_be_read(docs) -> None:
    store = memory_store()
    found = channels(url=docs.repos_json_url, store=store)
    assert found.refresh()
    for fault in (503, "junk", "shape"):
        if fault == 503:
            docs.fail_with(503)
        else:
            docs.fail_with(None)
            docs.serve_body(b"<html>oops" if fault == "junk" else b'{"not": "a list"}')
        assert not found.refresh()
        assert found.channel_for("whitehall", "whitehall-admin", None) == WHITEHALL_TEAM
    # a replica starting while the docs are down uses the copy the store keeps
    later = channels(url=docs.repos_json_url, store=store)
    assert not later.refresh()
    assert later.channel_for("whitehall", "whitehall-admin", None) == WHITEHALL_TEAM


def test_a_changed_list_is_used_once_read_again(docs) -> None:
    found = channels(url=docs.repos_json_url)
    assert found.refresh()
    docs.set_alerts_team("whitehall", "#whitehall-new-alerts")
    assert found.channel_for("whitehall", "whitehall-admin", None) == WHITEHALL_TEAM
    assert found.refresh()
    assert found.channel_for("whitehall", "whitehall-admin", None) == "whitehall-new-alerts"


# -- end to end ----------------------------------------------------------------------------------


def team_messages(slack, channel: str) -> list:
    return [m for m in slack.messages if slack.channel_name(m.channel) == channel]


def failure(app: str, tag: str, application: str | None = None) -> dict:
    return {
        "application": application or app,
        "repoName": app,
        "environment": "integration",
        "state": "Failed",
        "imageTag": tag,
        "message": "one or more objects failed to apply",
    }


def test_a_failure_is_told_once_to_the_channel_repos_json_names(bot_env, fake_slack, docs) -> None:
    bot = BotHarness({**bot_env, "TEAM_CHANNELS_URL": docs.repos_json_url})
    try:
        # read at start-up, in the background
        deadline = time.monotonic() + 20
        while bot.services.team_channels.channel_for("whitehall", "whitehall-admin", None) is None:
            assert time.monotonic() < deadline, "repos.json was not read at start-up"
            time.sleep(0.05)
        assert bot.webhook("/webhooks/argocd", failure("whitehall", "v5001", "whitehall-admin")).status_code == 202
        assert bot.webhook("/webhooks/argocd", failure("whitehall", "v5001", "whitehall-admin")).status_code == 200
        bot.settle()
        bot.services.followups.wait_idle()
        bot.settle()
        [told] = team_messages(fake_slack, WHITEHALL_TEAM)
        [card] = fake_slack.roots("govuk-deploy-alerts")
        assert "*whitehall*" in told.text and "v5001" in told.text and "integration" in told.text
        assert f"/archives/{card.channel}/p{card.ts.replace('.', '')}" in told.text  # the card's thread
    finally:
        bot.stop()


def test_team_channels_in_bot_config_win_over_repos_json(bot_env, fake_slack, docs, tmp_path) -> None:
    config = write_bot_config(tmp_path)
    config.write_text(config.read_text() + "team_channels:\n  whitehall: whitehall-notifications\n")
    bot = BotHarness({**bot_env, "BOT_CONFIG": str(config), "TEAM_CHANNELS_URL": docs.repos_json_url})
    try:
        bot.services.team_channels.refresh()
        assert bot.webhook("/webhooks/argocd", failure("whitehall", "v5002")).status_code == 202
        bot.settle()
        bot.services.followups.wait_idle()
        bot.settle()
        assert len(team_messages(fake_slack, "whitehall-notifications")) == 1
        assert team_messages(fake_slack, WHITEHALL_TEAM) == []
    finally:
        bot.stop()


def test_docs_down_at_start_up_then_read_by_the_hourly_job(bot_env, fake_slack, docs) -> None:
    docs.fail_with(503)
    bot = BotHarness({**bot_env, "TEAM_CHANNELS_URL": docs.repos_json_url})
    try:
        assert bot.http.get("/healthz").status_code == 200  # the bot serves whatever the docs do
        assert bot.webhook("/webhooks/argocd", failure("collections", "v5003")).status_code == 202
        bot.settle()
        bot.services.followups.wait_idle()
        assert team_messages(fake_slack, "govuk-navigation-tech") == []  # nothing known yet: nobody told
        docs.fail_with(None)
        job = next(run for name, run, _ in bot.services.scheduled if name == "team-channels")
        job()
        assert bot.webhook("/webhooks/argocd", failure("collections", "v5004")).status_code == 202
        bot.settle()
        bot.services.followups.wait_idle()
        bot.settle()
        assert len(team_messages(fake_slack, "govuk-navigation-tech")) == 1
    finally:
        bot.stop()


# -- a hostile or broken TEAM_CHANNELS_URL ---------------------------------------------------------


def test_a_repos_json_far_over_the_cap_is_refused_without_being_held_whole(docs) -> None:
    """A page of 40 MiB is refused once 5 MiB have come, not read into memory first."""
    import tracemalloc

    docs.serve_body(b"[" + b" " * (40 * 1024 * 1024) + b"]")
    reader = channels(url=docs.repos_json_url)
    tracemalloc.start()
    try:
        assert reader.refresh() is False
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 20 * 1024 * 1024, f"peak {peak / 1024 / 1024:.0f} MiB"


def test_a_repos_json_that_never_ends_is_given_up_within_the_deadline() -> None:
    """A server that sends a byte now and then forever (each read within httpx's read timeout) must
    not keep the refresh, and with it the hourly job, busy for ever: the whole read has a deadline."""
    import socket
    import threading

    import httpx

    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def drip() -> None:
        connection, _ = listener.accept()
        with connection:
            connection.recv(65536)
            connection.sendall(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
            )
            connection.sendall(b"1\r\n[\r\n")
            while not stop.wait(0.2):
                try:
                    connection.sendall(b"1\r\n \r\n")
                except OSError:
                    return

    threading.Thread(target=drip, daemon=True).start()
    url = f"http://127.0.0.1:{listener.getsockname()[1]}/repos.json"
    reader = TeamChannels(configured={}, url=url, http=httpx.Client(), store=memory_store(), deadline=2)
    done = threading.Event()
    outcome: list[bool] = []
    threading.Thread(target=lambda: (outcome.append(reader.refresh()), done.set()), daemon=True).start()
    try:
        assert done.wait(30), "the refresh was still reading after 30 s"
        assert outcome == [False]
    finally:
        stop.set()
        listener.close()


def test_a_repos_json_nested_too_deep_keeps_the_last_copy(docs) -> None:
    store = memory_store()
    reader = channels(url=docs.repos_json_url, store=store)
    assert reader.refresh() is True
    docs.serve_body(b"[" * 200_000)
    again = channels(url=docs.repos_json_url, store=store)
    assert again.refresh() is False  # a clear refusal, not an error escaping the job
    assert again.channel_for("whitehall", "whitehall-admin", None) == WHITEHALL_TEAM


def test_while_the_first_read_is_still_going_the_last_copy_in_the_store_is_used(docs) -> None:
    """A replica starting while the developer docs are slow to answer (up to the read's deadline) tells a
    failure to the channel of the last copy another replica kept, not to nobody."""
    import socket
    import threading

    import httpx

    store = memory_store()
    assert channels(url=docs.repos_json_url, store=store).refresh() is True
    listener = socket.create_server(("127.0.0.1", 0))  # accepts, and never answers
    url = f"http://127.0.0.1:{listener.getsockname()[1]}/repos.json"
    starting = TeamChannels(configured={}, url=url, http=httpx.Client(), store=store, deadline=60)
    threading.Thread(target=starting.refresh, daemon=True).start()
    try:
        assert starting.channel_for("whitehall", "whitehall-admin", None) == WHITEHALL_TEAM
    finally:
        listener.close()
