"""Many `/deploy` commands at once: every ack inside 3 s, no deploy lost, and pushes that
race other writers of the charts repository still land on top.
"""

from __future__ import annotations

import itertools
import re
import statistics
import time
from functools import partial

import httpx

from tests.support.app import (
    INTEGRATION_ONLY,
    MEMBER,
    OUTSIDER,
    SIGNING_SECRET,
    UNLINKED,
    run_concurrently,
)
from tests.support.charts import DEFAULT_APPS, ENVIRONMENTS, ChartsRemote, git
from tests.support.slack_requests import signed_headers, slash_command_body

ACK_LIMIT = 3.0
COMBOS = [(app, env) for env in ENVIRONMENTS for app in sorted(DEFAULT_APPS[env])]  # 8 apps x 3 envs


def ack_text(response: httpx.Response) -> str:
    assert response.status_code == 200, (response.status_code, response.text)
    if response.headers.get("content-type", "").startswith("application/json"):
        return str(response.json().get("text") or "")
    return response.text


def tag_of(remote: ChartsRemote, env: str, app: str, ref: str | None = None) -> str:
    text = remote.read(env, app, ref)
    found = re.findall(r"^image_tag:[ \t]*([^\s#]+)", text, re.M)
    assert len(found) == 1, text
    return found[0]


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def bot_commits(remote: ChartsRemote, since: str) -> list[tuple[str, str, str]]:
    """(sha, subject, body) of commits on the branch after `since`, newest first."""
    return list(itertools.takewhile(lambda entry: entry[0] != since, remote.log()))


# -- acknowledgement time -----------------------------------------------------------------------


def test_fifty_commands_at_once_are_all_acknowledged_within_3s(bot, charts_remote, fake_slack, fake_github):
    fake_github.slow_seconds = 0.3  # the background work is slow; the ack must not care
    base = charts_remote.head()
    commands: list[tuple[str, str, str]] = []  # (name, text, user)
    for n, (app, env) in enumerate(COMBOS):  # 24 real deploys, pushed while the rest arrive
        commands.append((f"deploy-{n}", f"{app} v8{n:03d} {env}", MEMBER))
    extras = [
        ("", MEMBER),
        ("help", MEMBER),
        ("whitehal v1 integration", MEMBER),
        ("whitehall v1 nowhere", MEMBER),
        ("../x v1 integration", MEMBER),
        ("whitehall -x integration", MEMBER),
        ("whitehall v1 integration", UNLINKED),
        ("whitehall v1 staging", INTEGRATION_ONLY),
        ("whitehall v1 integration", OUTSIDER),
        ("promote whitehall integration", MEMBER),
    ]
    for n in range(50 - len(commands)):
        text, user = extras[n % len(extras)]
        commands.append((f"extra-{n}", text, user))
    assert len(commands) == 50
    urls = {name: fake_slack.response_url(name) for name, _, _ in commands}

    def call(name: str, text: str, user: str):
        def send() -> tuple[int, str, float]:
            with httpx.Client(base_url=bot.base_url, timeout=30) as client:
                started = time.perf_counter()
                body = slash_command_body(text, user_id=user, response_url=urls[name])
                headers = signed_headers(SIGNING_SECRET, body, int(bot.fake_clock()))
                response = client.post("/slack/events", content=body, headers=headers)
                return response.status_code, ack_text(response), time.perf_counter() - started

        return send

    results = run_concurrently([call(*c) for c in commands])
    elapsed = [seconds for _, _, seconds in results]
    p50, p99 = statistics.median(elapsed), percentile(elapsed, 0.99)
    print(
        f"\n50 concurrent /deploy acks: p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms, max {max(elapsed) * 1000:.0f} ms"
    )
    for (name, text, _), (status, reply, seconds) in zip(commands, results, strict=True):
        assert status == 200, (name, text, status)
        assert reply, (name, text)
        assert seconds < ACK_LIMIT, f"{name} ({text!r}) acknowledged after {seconds:.2f}s"

    for name, text, _ in commands[: len(COMBOS)]:
        [reply] = fake_slack.wait_for_response(name, timeout=60)
        assert "Committed" in reply["text"], (text, reply)
    bot.settle(timeout=60)
    landed = bot_commits(charts_remote, base)
    assert len(landed) == len(COMBOS), [subject for _, subject, _ in landed]
    for n, (app, env) in enumerate(COMBOS):
        assert tag_of(charts_remote, env, app) == f"v8{n:03d}"


def test_the_ack_does_not_wait_for_a_slow_github(bot, charts_remote, fake_slack, fake_github):
    fake_github.slow_seconds = 2.0  # slow, but inside the bot's time-out: the deploy still lands
    started = time.perf_counter()
    reply = ack_text(bot.slash("whitehall v9999 integration", response_url=fake_slack.response_url("slow")))
    ack = time.perf_counter() - started
    assert "Deploying" in reply
    assert ack < 1.5, f"the ack took {ack:.2f}s: it waited for GitHub (2 s)"
    [done] = fake_slack.wait_for_response("slow", timeout=15)
    assert "Committed" in done["text"], done
    assert tag_of(charts_remote, "integration", "whitehall") == "v9999"


# -- nothing lost -------------------------------------------------------------------------------


def test_twenty_concurrent_deploys_of_different_apps_all_land(bot, charts_remote, fake_slack):
    base, base_count = charts_remote.head(), charts_remote.commit_count()
    chosen = COMBOS[:20]
    names = [f"d{n}" for n in range(20)]
    urls = [fake_slack.response_url(name) for name in names]
    started = time.perf_counter()
    acks = run_concurrently(
        [partial(bot.slash, f"{app} v7{n:03d} {env}", response_url=urls[n]) for n, (app, env) in enumerate(chosen)]
    )
    assert all("Deploying" in ack_text(a) for a in acks)
    for name in names:
        [reply] = fake_slack.wait_for_response(name, timeout=60)
        assert "Committed" in reply["text"], (name, reply)
    print(f"\n20 concurrent deploys pushed in {time.perf_counter() - started:.2f}s")
    bot.settle(timeout=60)

    assert charts_remote.commit_count() == base_count + 20
    landed = bot_commits(charts_remote, base)
    assert len(landed) == 20
    expected_subjects = {f"Update {app} image tag to v7{n:03d} for {env}" for n, (app, env) in enumerate(chosen)}
    assert {subject for _, subject, _ in landed} == expected_subjects
    for sha, _, body in landed:
        assert len(charts_remote.changed_paths(sha)) == 1
        assert "Requested-by: octocat (U012AB3CD)" in body
    for n, (app, env) in enumerate(chosen):
        assert tag_of(charts_remote, env, app) == f"v7{n:03d}"
    for app, env in COMBOS[20:]:  # untouched files are untouched
        assert charts_remote.read(env, app) == DEFAULT_APPS[env][app]


def test_five_concurrent_deploys_of_one_app_all_land_last_one_wins(bot, charts_remote, fake_slack):
    base, base_count = charts_remote.head(), charts_remote.commit_count()
    tags = [f"v600{n}" for n in range(5)]
    names = [f"same{n}" for n in range(5)]
    urls = [fake_slack.response_url(name) for name in names]
    acks = run_concurrently(
        [
            partial(bot.slash, f"whitehall {tag} integration", response_url=url)
            for tag, url in zip(tags, urls, strict=True)
        ]
    )
    assert all("Deploying" in ack_text(a) for a in acks)
    for name in names:
        [reply] = fake_slack.wait_for_response(name, timeout=60)
        assert "Committed" in reply["text"], (name, reply)
    bot.settle(timeout=60)

    assert charts_remote.commit_count() == base_count + 5
    landed = bot_commits(charts_remote, base)
    assert sorted(subject for _, subject, _ in landed) == sorted(
        f"Update whitehall image tag to {t} for integration" for t in tags
    )
    last_subject = landed[0][1]
    assert tag_of(charts_remote, "integration", "whitehall") == last_subject.split(" to ")[1].split(" for ")[0]
    # each commit changed the file from the tag of the commit before it: none was applied to a stale copy
    previous = "v3232"
    for sha, subject, _ in reversed(landed):
        assert tag_of(charts_remote, "integration", "whitehall", f"{sha}^") == previous
        previous = tag_of(charts_remote, "integration", "whitehall", sha)
        assert subject.endswith(f"to {previous} for integration")


# -- racing other writers of the charts repository ---------------------------------------------


def test_a_commit_pushed_directly_between_deploys_is_kept_and_the_next_deploy_lands_on_top(
    bot, charts_remote, fake_slack
):
    bot.slash("whitehall v7001 integration", response_url=fake_slack.response_url("first"))
    fake_slack.wait_for_response("first", timeout=30)
    bot.settle()
    ours = charts_remote.head()

    theirs = charts_remote.commit_directly(
        "staging",
        "collections",
        "image_tag: v1700\nautomatic_deploys_enabled: true\npromote_deployment: true\n",
        "Update collections image tag to v1700 for staging",
    )
    bot.slash("router v7002 integration", response_url=fake_slack.response_url("second"))
    [reply] = fake_slack.wait_for_response("second", timeout=30)
    assert "Committed" in reply["text"], reply
    bot.settle()

    log = charts_remote.log(3)
    assert [subject for _, subject, _ in log] == [
        "Update router image tag to v7002 for integration",
        "Update collections image tag to v1700 for staging",
        "Update whitehall image tag to v7001 for integration",
    ]
    assert log[1][0] == theirs and log[2][0] == ours
    assert tag_of(charts_remote, "staging", "collections") == "v1700"
    assert tag_of(charts_remote, "integration", "whitehall") == "v7001"
    assert tag_of(charts_remote, "integration", "router") == "v7002"


def test_a_direct_edit_of_the_same_file_is_built_upon_not_overwritten(bot, charts_remote, fake_slack):
    bot.slash("whitehall v7001 integration", response_url=fake_slack.response_url("first"))
    fake_slack.wait_for_response("first", timeout=30)
    bot.settle()
    edited = "# touched by a colleague\nimage_tag: v7050\nautomatic_deploys_enabled: false\npromote_deployment: true\n"
    charts_remote.commit_directly("integration", "whitehall", edited, "Pin whitehall")
    bot.slash("whitehall v7002 integration", response_url=fake_slack.response_url("second"))
    [reply] = fake_slack.wait_for_response("second", timeout=30)
    assert "Committed" in reply["text"], reply
    assert charts_remote.read("integration", "whitehall") == (
        "# touched by a colleague\nimage_tag: v7002\nautomatic_deploys_enabled: false\npromote_deployment: false\n"
    )


RACE_HOOK = """#!/bin/sh
# Another writer's push lands while this push is being received: the branch moves under it.
cat >/dev/null
if [ ! -e "$GIT_DIR/raced" ]; then
  touch "$GIT_DIR/raced"
  env -u GIT_QUARANTINE_PATH -u GIT_OBJECT_DIRECTORY -u GIT_ALTERNATE_OBJECT_DIRECTORIES \\
    git update-ref refs/heads/{branch} {racer}
fi
exit 0
"""


def test_a_push_that_loses_a_server_side_race_is_redone_on_the_new_head(bot, charts_remote, fake_slack):
    """The branch moves after git advertised it but before our ref update: git answers
    `[remote rejected] (failed to update ref)` / `cannot lock ref`, as a busy server does. The
    branch moved, so the deploy must be redone on the new head, not reported as failed."""
    base = charts_remote.head()
    racer = charts_remote.commit_directly(
        "staging",
        "signon",
        "image_tag: v1300\nautomatic_deploys_enabled: true\npromote_deployment: false\n",
        "Update signon image tag to v1300 for staging",
    )
    git("update-ref", "refs/racer/next", racer, cwd=charts_remote.path)
    git("update-ref", f"refs/heads/{charts_remote.branch}", base, cwd=charts_remote.path)
    hook = charts_remote.path / "hooks" / "pre-receive"
    hook.write_text(RACE_HOOK.format(branch=charts_remote.branch, racer=racer), encoding="utf-8")
    hook.chmod(0o755)

    bot.slash("whitehall v7003 integration", response_url=fake_slack.response_url("race"))
    [reply] = fake_slack.wait_for_response("race", timeout=30)
    bot.settle()
    assert (charts_remote.path / "raced").exists(), "the race was not staged"
    assert "Committed" in reply["text"], reply
    log = charts_remote.log(3)
    assert log[1][0] == racer, [subject for _, subject, _ in log]
    assert log[0][1] == "Update whitehall image tag to v7003 for integration", [s for _, s, _ in log]
    assert tag_of(charts_remote, "staging", "signon") == "v1300"
