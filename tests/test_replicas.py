"""Two `python -m bot serve` processes on one Redis and one charts remote behave like one bot."""

from __future__ import annotations

import time

import pytest

from tests.support.app import FAST_JOBS, MEMBER, ServeProcess, add_standard_members, bot_environment, run_concurrently
from tests.support.slack_requests import find_button, wire_message


def _wait(predicate, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


@pytest.mark.long(10)
def test_two_replicas_share_cards_events_deploys_and_promotions(
    tmp_path, fake_slack, fake_github, charts_remote, redis_url, redis_prefix
):
    add_standard_members(fake_github)
    common = {"tmp_path": tmp_path, "fake_slack": fake_slack, "fake_github": fake_github}
    common |= {"charts_url": charts_remote.url, "redis_url": redis_url, "redis_prefix": redis_prefix}
    first_dir, second_dir = tmp_path / "a", tmp_path / "b"
    first_dir.mkdir()
    second_dir.mkdir()
    first = ServeProcess(bot_environment(**common, CHARTS_WORKDIR=str(first_dir / "wc")), log_path=tmp_path / "a.log")
    second = ServeProcess(bot_environment(**common, CHARTS_WORKDIR=str(second_dir / "wc")), log_path=tmp_path / "b.log")
    replicas = [first, second]
    try:
        commits = charts_remote.commit_count()

        # the same events delivered to both replicas at once: one card, each event applied once
        # (router's files do not promote automatically, so its card offers the button)
        events = [
            (
                "/webhooks/argocd",
                {"application": "router", "environment": "integration", "state": state, "imageTag": "v512"},
            )
            for state in ("Running", "Succeeded")
        ] + [
            (
                "/webhooks/smokey",
                {"application": "router", "environment": "integration", "status": "Succeeded", "imageTag": "v512"},
            )
        ]
        for path, payload in events:
            answers = run_concurrently([lambda r=r, p=path, b=payload: r.webhook(p, b) for r in replicas])
            assert sorted(a.status_code for a in answers) == [200, 202], [a.text for a in answers]
        _wait(lambda: fake_slack.roots() and "tests passed" in fake_slack.roots()[0].all_text())
        assert len(fake_slack.roots()) == 1

        # concurrent deploys through both replicas: none lost
        deploys = [
            (app, env, f"v77{i}")
            for i, (app, env) in enumerate(
                [(a, e) for a in ("whitehall", "collections", "frontend", "signon") for e in ("integration", "staging")]
            )
        ]
        calls = [
            lambda r=replicas[i % 2], d=d, i=i: r.slash(
                f"{d[0]} {d[2]} {d[1]}", response_url=fake_slack.response_url(f"deploy-{i}")
            )
            for i, d in enumerate(deploys)
        ]
        assert all(a.status_code == 200 for a in run_concurrently(calls))
        for i in range(len(deploys)):
            assert "Committed" in fake_slack.wait_for_response(f"deploy-{i}", timeout=60)[0]["text"]
        for app, env, tag in deploys:
            assert f"image_tag: {tag}" in charts_remote.read(env, app)
        assert charts_remote.commit_count() == commits + len(deploys)

        # one promote button, clicked through both replicas at once: one commit
        card = fake_slack.roots()[0]
        button = find_button(wire_message(card), "promote")
        assert button is not None
        clicks = [
            lambda r=r, i=i: r.click(button["value"], user=MEMBER, response_url=fake_slack.response_url(f"click-{i}"))
            for i, r in enumerate(replicas)
        ]
        run_concurrently(clicks)
        texts = [fake_slack.wait_for_response(f"click-{i}", timeout=60)[0]["text"] for i in range(2)]
        assert sum("Committed" in t for t in texts) == 1, texts
        assert sum("already" in t or "Someone else" in t for t in texts) == 1, texts
        assert charts_remote.commit_count() == commits + len(deploys) + 1
        _wait(lambda: len(fake_slack.roots()) >= 1 and "promoted to staging" in fake_slack.roots()[0].all_text())
        # the router card plus one per deployed release, posted at about one a second per replica
        _wait(lambda: len(fake_slack.roots()) >= 1 + len(deploys))
        time.sleep(1.5)
        assert len(fake_slack.roots()) == 1 + len(deploys)
    finally:
        for replica in replicas:
            replica.stop()


@pytest.mark.long(65)  # STUCK_AFTER_MINUTES=1: a real minute
def test_two_replicas_flag_a_stuck_deploy_once(
    tmp_path, fake_slack, fake_github, charts_remote, redis_url, redis_prefix
):
    """Both replicas run the stuck-deploys job (every second, FAST_JOBS); one reply results.

    STUCK_AFTER_MINUTES is the real setting at its smallest, so this test waits a real minute."""
    add_standard_members(fake_github)
    common = {"tmp_path": tmp_path, "fake_slack": fake_slack, "fake_github": fake_github}
    common |= {"charts_url": charts_remote.url, "redis_url": redis_url, "redis_prefix": redis_prefix}
    replicas = [
        ServeProcess(
            bot_environment(**common, CHARTS_WORKDIR=str(tmp_path / name / "wc"), STUCK_AFTER_MINUTES="1"),
            log_path=tmp_path / f"{name}.log",
        )
        for name in ("a", "b")
    ]
    try:
        replicas[0].slash("whitehall v7777 integration", response_url=fake_slack.response_url("deploy"))
        assert "Committed" in fake_slack.wait_for_response("deploy", timeout=30)[0]["text"]
        _wait(lambda: fake_slack.roots() and len(fake_slack.replies(fake_slack.roots()[0].ts)) >= 2, timeout=120)
        time.sleep(3 * float(FAST_JOBS["DEPLOYBOT_STUCK_DEPLOYS_EVERY_SECONDS"]))  # three more rounds of both jobs
        replies = fake_slack.replies(fake_slack.roots()[0].ts)[1:]  # after the "requested" reply
        stuck = [r for r in replies if "has not reported a sync outcome" in r.text]
        assert len(stuck) == 1, [r.text for r in replies]
        assert f"<@{MEMBER}>" in stuck[0].text
    finally:
        for replica in replicas:
            replica.stop()
