"""Benchmark 8: what recording each request in the store before its ack costs the ack (issue 13).

Two bots run in this process (`handlers.server.Server`, as tests/support's BotHarness runs it),
each with its own charts remote (50 apps), fake Slack, fake GitHub and key prefix on one real
Redis:
- "recorded": the bot as it is: `DeployJournal.record` (one pipelined round trip to Redis: the
  request, its owner, the newest request for its app and environment) before the ack;
- "not recorded" (the baseline: the ack as it was before issue 13): that bot's journal replaced by
  `NotRecorded`, which keeps nothing and answers every later ownership question ("do I still own
  this task?", before the push, before the words are written and before the entry leaves) as a
  single replica with no journal would: yes. So both bots do the same background work (team
  check, commit, push, reply) while the acks are measured. (Before issue 18 the baseline stubbed
  `record` and `finish` only; once `settle` and the deployer's own ownership check came, every
  baseline deploy was "taken over by another replica" and never told: that was `make bench`
  failing, every run, busy machine or not.)
Per round, each bot gets 50 concurrent signed `/deploy <app> <tag> integration` commands, 50
different apps, all at once (tests/support/app.py `run_concurrently`, a barrier); the round ends
when every deploy has been committed and every requester told. The order alternates per round
(recorded first, then not; then the other way), so drift in the machine's load hits both alike;
a first, unmeasured burst per bot warms both up.
Each command has its own connection, opened before the burst, as Slack sends each from its own.
Latency is measured by the client threads in this process, which also hosts the bot: an upper
bound of the bot's own time. Every ack must be "Deploying…" and under Slack's 3 s.

Then (issue 18) the other kinds of acknowledged action, each now a journaled task recorded before its
ack: per kind, 50 concurrent commands at each bot: `/deploy rollback <app> integration`,
`/deploy freeze <app> staging <reason>`, and 50 approve clicks on 50 deploys to an environment with
`approvals_required` (each bot's own), measured as above, every one ended and its requester told.

Then the raw cost of one `journal.record` on the same Redis, per kind of task: the median of 1,000
calls (and one Redis PING round trip for scale).

    .venv/bin/python -m bench.ack_record [--quick]   # this benchmark alone, on a throwaway Redis
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench.ack import ack_text, percentile
from bot.deploys.journal import DeployJournal
from bot.deploys.request import DeployRequest
from bot.deploys.tasks import DecisionTask, RollbackTask, ScopeTask
from bot.identity.seal import Seal
from bot.releases.model import Requester
from bot.store import Store, connect
from handlers.http_server import THREADS
from tests.fakes import FakeGitHub, FakeSlack
from tests.support.app import (
    MEMBER,
    SIGNING_SECRET,
    BotHarness,
    add_standard_members,
    bot_environment,
    run_concurrently,
)
from tests.support.charts import ENVIRONMENTS, make_charts_remote
from tests.support.slack_requests import block_actions_body, signed_headers, slash_command_body

SLACK_LIMIT_MS = 3000.0
SIZES = {
    "full": {"commands": 50, "rounds": 3, "record_calls": 1000},
    "quick": {"commands": 20, "rounds": 1, "record_calls": 200},
}
RECORDED, NOT_RECORDED = "recorded", "not recorded"
SECOND_MEMBER = "U0MEMBER2"  # hubot, who approves
CONFIG = """environments:
  - {name: integration, team: gov-uk}
  - {name: staging, team: gov-uk-production}
  - {name: production, team: gov-uk-production, approvals_required: 1}
users:
  U012AB3CD: octocat
  U0MEMBER2: hubot
"""
KINDS = ("rollback", "freeze", "approval")


class NotRecorded(DeployJournal):
    """The baseline's journal: nothing reaches the store, and every task is this replica's own."""

    def record(self, task, at) -> None:
        """Nothing kept: the ack as it was before issue 13."""

    def update(self, task) -> bool:
        return True

    def hand_over(self, task, told, following, at) -> bool:
        return True

    def going_ahead(self, request, at) -> None:
        return None

    def keep_claim(self, deploy_id, claim) -> bool:
        return True

    def settle(self, deploy_id, told) -> bool:
        return True

    def owned(self, deploy_ids):
        return set(deploy_ids)

    def finish(self, deploy_id) -> bool:
        return True

    def set_aside(self, deploy_id) -> None:
        return None

    def take_over(self, is_alive, in_hand):
        return []

    def dead_owners(self, is_alive):
        return set()


def charts_apps(count: int) -> dict[str, dict[str, str]]:
    files = {f"bench-app-{number:02d}": "image_tag: v1\nautomatic_deploys_enabled: false\n" for number in range(count)}
    return {env: dict(files) for env in ENVIRONMENTS}


@dataclass
class Side:
    """One of the two bots, with its own fakes and what was counted."""

    label: str
    bot: BotHarness
    slack: FakeSlack
    github: FakeGitHub
    prefix: str
    records: list[int] = field(default_factory=lambda: [0])
    record_seconds: list[float] = field(default_factory=list)  # each journal.record's own time, in the bursts
    samples: list[float] = field(default_factory=list)
    per_round: list[dict[str, Any]] = field(default_factory=list)
    kinds: dict[str, dict[str, Any]] = field(default_factory=dict)  # rollback, freeze, approval: one burst each


def start_side(label: str, scratch: Path, redis_url: str, commands: int) -> Side:
    folder = scratch / label.replace(" ", "-")
    folder.mkdir()
    slack, github = FakeSlack().start(), FakeGitHub().start()
    add_standard_members(github)
    github.add_member("gov-uk", "hubot")
    github.add_member("gov-uk-production", "hubot")
    config = folder / "bench-config.yaml"
    config.write_text(CONFIG, encoding="utf-8")
    prefix = f"bench:ack-record:{uuid.uuid4().hex[:12]}:"
    env = bot_environment(
        tmp_path=folder,
        fake_slack=slack,
        fake_github=github,
        charts_url=make_charts_remote(folder, charts_apps(commands)).url,
        redis_url=redis_url,
        redis_prefix=prefix,
        LOG_LEVEL="WARNING",
        BOT_CONFIG=str(config),
    )
    side = Side(label, BotHarness(env), slack, github, prefix)
    journal = side.bot.services.deployer.journal
    original = journal.record
    if label == RECORDED:

        def counted(request: DeployRequest, at: float) -> None:
            started = time.perf_counter()
            original(request, at)
            side.record_seconds.append(time.perf_counter() - started)
            side.records[0] += 1

        journal.record = counted
    else:
        deployer = side.bot.services.deployer
        deployer.journal = NotRecorded(journal.store, journal.instance)
        writer = side.bot.services.charts.writer
        if not hasattr(writer, "_owned"):
            raise RuntimeError("ChartsWriter has no `_owned` any more: update bench/ack_record.py's baseline")
        writer._owned = deployer.journal.owned  # every deploy counts as this replica's own, as before the journal
    return side


def stop_side(side: Side, redis_url: str) -> None:
    side.bot.stop()
    side.slack.stop()
    side.github.stop()
    client = connect(redis_url)
    for key in client.scan_iter(match=side.prefix + "*"):
        client.delete(key)
    client.close()


def burst(side: Side, round_number: int, commands: int, log: Callable[[str], None]) -> None:
    tag = f"v{100 + round_number}"
    names = [f"{side.label}-{round_number}-{number}" for number in range(commands)]
    seconds: list[float] = [0.0] * commands

    # one connection per command, as Slack makes them, opened before the burst (and never shared
    # between threads: one httpx client used by 50 threads at once fails now and then)
    clients = [httpx.Client(base_url=side.bot.base_url, timeout=30) for _ in range(commands)]

    def command(number: int) -> Any:
        body = slash_command_body(
            f"bench-app-{number:02d} {tag} integration",
            user_id=MEMBER,
            response_url=side.slack.response_url(names[number]),
        )
        headers = signed_headers(SIGNING_SECRET, body, int(side.bot.clock()))
        started = time.perf_counter()
        response = clients[number].post("/slack/events", content=body, headers=headers)
        seconds[number] = time.perf_counter() - started
        return response

    records_before = side.records[0]
    try:
        responses = run_concurrently([lambda number=number: command(number) for number in range(commands)])
    finally:
        for client in clients:
            client.close()
    records = side.records[0] - records_before
    acked = sum(1 for response in responses if ack_text(response).startswith(":hourglass_flowing_sand: Deploying"))
    told = side.slack.wait_until(lambda: all(side.slack.responses.get(name) for name in names), timeout=120)
    side.bot.settle(timeout=120)
    replies = side.slack.responses
    committed = sum(1 for name in names if any("Committed" in (r.get("text") or "") for r in replies.get(name, [])))
    told_twice = sum(1 for name in names if len(replies.get(name, [])) > 1)
    millis = [s * 1000 for s in seconds]
    side.samples.extend(millis)
    side.per_round.append(
        {
            "round": round_number,
            "commands": commands,
            "acked": acked,
            "recorded": records,
            "committed": committed,
            "all_told": told,
            "told_twice": told_twice,
            "p50_ms": round(percentile(millis, 0.50), 1),
            "p99_ms": round(percentile(millis, 0.99), 1),
            "max_ms": round(max(millis), 1),
        }
    )
    log(
        f"    {side.label}, round {round_number}: p50 {percentile(millis, 0.5):.0f} ms, "
        f"p99 {percentile(millis, 0.99):.0f} ms, max {max(millis):.0f} ms; {acked} acked, {committed} committed"
    )


def _timed_posts(side: Side, bodies: list[bytes]) -> tuple[list[Any], list[float]]:
    """Every body posted at once, each on its own connection; the responses and each one's milliseconds."""
    seconds = [0.0] * len(bodies)
    clients = [httpx.Client(base_url=side.bot.base_url, timeout=30) for _ in bodies]

    def post(number: int) -> Any:
        headers = signed_headers(SIGNING_SECRET, bodies[number], int(side.bot.clock()))
        started = time.perf_counter()
        response = clients[number].post("/slack/events", content=bodies[number], headers=headers)
        seconds[number] = time.perf_counter() - started
        return response

    try:
        responses = run_concurrently([lambda number=number: post(number) for number in range(len(bodies))])
    finally:
        for client in clients:
            client.close()
    return responses, [s * 1000 for s in seconds]


def kind_burst(side: Side, kind: str, commands: int, log: Callable[[str], None]) -> dict[str, Any]:
    """`commands` concurrent rollbacks, freezes or approve clicks at one bot: their acks, and that each ended told."""
    slack = side.slack
    names = [f"{side.label}-{kind}-{number}" for number in range(commands)]
    apps = [f"bench-app-{number:02d}" for number in range(commands)]
    if kind == "approval":  # first, one deploy per app waiting for a second member (not measured)
        asked = [f"{side.label}-asked-{number}" for number in range(commands)]
        bodies = [
            slash_command_body(f"{app} v900 production", user_id=MEMBER, response_url=slack.response_url(name))
            for app, name in zip(apps, asked, strict=True)
        ]
        _timed_posts(side, bodies)
        slack.wait_until(lambda: all(slack.responses.get(name) for name in asked), timeout=120)
        side.bot.settle(timeout=120)
        notices = [m for m in slack.roots() if "asks to deploy" in m.text and "v900" in m.text]
        by_app = {app: m for m in notices for app in apps if f"*{app}*" in m.text}
        bodies = [
            block_actions_body(
                "approve", by_app[app].button("approve")["value"], user_id=SECOND_MEMBER,
                response_url=slack.response_url(name),
            )
            for app, name in zip(apps, names, strict=True)
        ]  # fmt: skip
        ended_words = "You approved"
    else:
        text = "rollback {app} integration" if kind == "rollback" else "freeze {app} staging bench"
        bodies = [
            slash_command_body(text.format(app=app), user_id=MEMBER, response_url=slack.response_url(name))
            for app, name in zip(apps, names, strict=True)
        ]
        ended_words = "Committed" if kind == "rollback" else "Froze"
    records_before = side.records[0]
    responses, millis = _timed_posts(side, bodies)
    records = side.records[0] - records_before
    if kind == "approval":
        acked = sum(1 for r in responses if isinstance(r, httpx.Response) and r.status_code == 200 and not ack_text(r))
    else:
        acked = sum(1 for r in responses if ack_text(r) and "try again" not in ack_text(r).lower())
    told = slack.wait_until(lambda: all(slack.responses.get(name) for name in names), timeout=180)
    if kind == "approval":  # and each deploy it approved committed, its requester told
        slack.wait_until(lambda: all(len(slack.responses.get(n, [])) >= 3 for n in asked), timeout=180)
    side.bot.settle(timeout=180)
    replies = slack.responses
    ended = sum(
        1 for name in names if any(ended_words.lower() in (r.get("text") or "").lower() for r in replies.get(name, []))
    )
    if kind == "approval":
        ended = min(
            ended, sum(1 for n in asked if any("Committed" in (r.get("text") or "") for r in replies.get(n, [])))
        )
    told_twice = sum(1 for name in names if len(replies.get(name, [])) > 1)
    result = {
        "kind": kind,
        "commands": commands,
        "acked": acked,
        "recorded": records,
        "ended": ended,
        "all_told": told,
        "told_twice": told_twice,
        "p50_ms": round(percentile(millis, 0.50), 1),
        "p99_ms": round(percentile(millis, 0.99), 1),
        "max_ms": round(max(millis), 1),
    }
    log(
        f"    {side.label}, {kind}: p50 {result['p50_ms']:.0f} ms, p99 {result['p99_ms']:.0f} ms, "
        f"max {result['max_ms']:.0f} ms; {acked} acked, {ended} ended and told"
    )
    return result


def raw_record_cost(redis_url: str, calls: int) -> dict[str, Any]:
    client = connect(redis_url)
    store = Store(client, f"bench:journal:{uuid.uuid4().hex[:12]}:")
    journal = DeployJournal(store, "bench-replica", Seal(b"bench-journal-seal-key-0123456789abcdef"))
    person = Requester(MEMBER, "octocat")
    requests = [
        DeployRequest(
            app=f"bench-app-{number % 50:02d}",
            env="integration",
            tag=f"v{number}",
            requester=person,
            response_url=f"https://hooks.slack.com/commands/T0GOVUK/{number}/{uuid.uuid4().hex}",
        )
        for number in range(calls)
    ]
    other_kinds = {
        "rollback": [RollbackTask(app=r.app, env=r.env, requester=person, response_url=r.response_url) for r in requests],
        "freeze": [
            ScopeTask(app=r.app, env="staging", requester=person, lifting=False, response_url=r.response_url,
                      reason="bench", at=time.time())
            for r in requests
        ],
        "approval": [
            DecisionTask(approval_id=uuid.uuid4().hex[:20], decision="approved", decider=person,
                         response_url=r.response_url, app=r.app, env="production")
            for r in requests
        ],
    }  # fmt: skip
    per_kind: dict[str, dict[str, float]] = {}
    try:
        for request in requests[:20]:  # warm the connection pool and Redis
            journal.record(request, time.time())
        seconds = []
        for request in requests:
            started = time.perf_counter()
            journal.record(request, time.time())
            seconds.append(time.perf_counter() - started)
        for kind, tasks in other_kinds.items():
            timed = []
            for task in tasks:
                started = time.perf_counter()
                journal.record(task, time.time())
                timed.append((time.perf_counter() - started) * 1e6)
            per_kind[kind] = {
                "median_us": round(statistics.median(timed), 1),
                "p99_us": round(percentile(timed, 0.99), 1),
            }
        pings = []
        for _ in range(calls):
            started = time.perf_counter()
            client.ping()
            pings.append(time.perf_counter() - started)
    finally:
        for key in client.scan_iter(match=store.prefix + "*"):
            client.delete(key)
        client.close()
    micros = [s * 1e6 for s in seconds]
    return {
        "calls": calls,
        "median_us": round(statistics.median(micros), 1),
        "p99_us": round(percentile(micros, 0.99), 1),
        "ping_median_us": round(statistics.median(s * 1e6 for s in pings), 1),
        "other_kinds": per_kind,
    }


def summary(side: Side) -> dict[str, Any]:
    rounds = side.per_round
    return {
        "samples": len(side.samples),
        "p50_ms": round(percentile(side.samples, 0.50), 1),
        "p99_ms": round(percentile(side.samples, 0.99), 1),
        "max_ms": round(max(side.samples), 1),
        "acked": sum(r["acked"] for r in rounds),
        "recorded": sum(r["recorded"] for r in rounds),
        "committed": sum(r["committed"] for r in rounds),
        "all_told": all(r["all_told"] for r in rounds),
        "told_twice": sum(r["told_twice"] for r in rounds),
        "under_slack_limit": sum(1 for ms in side.samples if ms < SLACK_LIMIT_MS),
        "per_round": rounds,
    }


def run(
    redis_url: str, *, quick: bool = False, rounds: int | None = None, log: Callable[[str], None] = print
) -> dict[str, Any]:
    sizes = SIZES["quick" if quick else "full"]
    commands, rounds = sizes["commands"], rounds or sizes["rounds"]
    queue_log = logging.getLogger("waitress.queue")  # "Task queue depth is N": expected in a burst
    was_level = queue_log.level
    queue_log.setLevel(logging.ERROR)
    with tempfile.TemporaryDirectory(prefix="bench-ack-record-") as folder:
        scratch = Path(folder)
        sides = {}
        try:
            for label in (RECORDED, NOT_RECORDED):
                sides[label] = start_side(label, scratch, redis_url, commands)
            for side in sides.values():  # a burst each first, so neither pays the first-use costs in the figures
                burst(side, 0, commands, lambda message: None)
                side.samples.clear()
                side.per_round.clear()
                side.record_seconds.clear()
            log(f"  {rounds} round(s) of {commands} concurrent signed /deploy commands per bot, order alternating ...")
            for round_number in range(1, rounds + 1):
                order = (RECORDED, NOT_RECORDED) if round_number % 2 else (NOT_RECORDED, RECORDED)
                for label in order:
                    burst(sides[label], round_number, commands, log)
            log(f"  the other kinds of action: {commands} concurrent each, at each bot ...")
            for kind in KINDS:
                for label in (NOT_RECORDED, RECORDED):
                    sides[label].kinds[kind] = kind_burst(sides[label], kind, commands, log)
        finally:
            queue_log.setLevel(was_level)
            for side in sides.values():
                stop_side(side, redis_url)
    in_burst = [seconds * 1000 for seconds in sides[RECORDED].record_seconds]
    log(f"  raw cost of journal.record, {sizes['record_calls']:,} calls ...")
    raw = raw_record_cost(redis_url, sizes["record_calls"])
    bot, baseline = summary(sides[RECORDED]), summary(sides[NOT_RECORDED])
    total = commands * rounds
    problems = [
        f"{label}: {s['acked']}/{total} acked, {s['committed']}/{total} committed, all told {s['all_told']}"
        for label, s in ((RECORDED, bot), (NOT_RECORDED, baseline))
        if s["acked"] != total or s["committed"] != total or not s["all_told"]
    ]
    for label, side in sides.items():
        for kind, k in side.kinds.items():
            if k["acked"] != commands or k["ended"] != commands or not k["all_told"]:
                problems.append(f"{label}, {kind}: {k['acked']} acked, {k['ended']} ended, all told {k['all_told']}")
    if bot["recorded"] != total or baseline["recorded"] != 0:
        problems.append(f"records: {bot['recorded']} (recorded bot), {baseline['recorded']} (baseline)")
    if problems:
        raise AssertionError("; ".join(problems))
    pairs = list(zip(bot["per_round"], baseline["per_round"], strict=True))
    p50_differences = [mine["p50_ms"] - theirs["p50_ms"] for mine, theirs in pairs]
    p99_differences = [mine["p99_ms"] - theirs["p99_ms"] for mine, theirs in pairs]
    return {
        "commands_per_round": commands,
        "rounds": rounds,
        # round by round, the two bots ran back to back: their difference drifts less than either
        "paired_p50_difference_ms_median": round(statistics.median(p50_differences), 1),
        "paired_p99_difference_ms_median": round(statistics.median(p99_differences), 1),
        "rounds_recorded_slower_p50": sum(1 for d in p50_differences if d > 0),
        "recorded": bot,
        "not_recorded": baseline,
        "ratio_p50": round(bot["p50_ms"] / baseline["p50_ms"], 2) if baseline["p50_ms"] else None,
        "ratio_p99": round(bot["p99_ms"] / baseline["p99_ms"], 2) if baseline["p99_ms"] else None,
        "ratio_max": round(bot["max_ms"] / baseline["max_ms"], 2) if baseline["max_ms"] else None,
        "slack_limit_ms": SLACK_LIMIT_MS,
        "all_under_slack_limit": bot["under_slack_limit"] == total and baseline["under_slack_limit"] == total,
        "journal_record": raw,
        "kinds": {kind: {label: sides[label].kinds[kind] for label in sides} for kind in KINDS},
        "journal_record_in_burst": {
            "calls": len(in_burst),
            "p50_ms": round(percentile(in_burst, 0.5), 2),
            "p99_ms": round(percentile(in_burst, 0.99), 2),
            "max_ms": round(max(in_burst), 2),
        },
    }


def show(result: dict[str, Any]) -> str:
    from bench.__main__ import table

    rows = []
    for key, label in (
        ("not_recorded", "baseline: not recorded (before issue 13)"),
        ("recorded", "bot: recorded before the ack"),
    ):
        side = result[key]
        for r in side["per_round"]:
            rows.append(
                [
                    f"{label}, round {r['round']}",
                    r["commands"],
                    f"{r['p50_ms']:.0f} ms",
                    f"{r['p99_ms']:.0f} ms",
                    f"{r['max_ms']:.0f} ms",
                    f"{r['recorded']}",
                    f"{r['committed']}",
                ]
            )
        rows.append(
            [
                f"{label}, all",
                side["samples"],
                f"{side['p50_ms']:.0f} ms",
                f"{side['p99_ms']:.0f} ms",
                f"{side['max_ms']:.0f} ms",
                side["recorded"],
                side["committed"],
            ]
        )
    rows.append(
        [
            "ratio recorded / not recorded",
            "",
            f"{result['ratio_p50']:.2f}",
            f"{result['ratio_p99']:.2f}",
            f"{result['ratio_max']:.2f}",
            "",
            "",
        ]
    )
    for kind in KINDS:
        for label, key in (("baseline", NOT_RECORDED), ("bot", RECORDED)):
            k = result["kinds"][kind][key]
            rows.append(
                [
                    f"{kind}: {label}, {key}",
                    k["commands"],
                    f"{k['p50_ms']:.0f} ms",
                    f"{k['p99_ms']:.0f} ms",
                    f"{k['max_ms']:.0f} ms",
                    k["recorded"],
                    k["ended"],
                ]
            )
    raw, burst_record = result["journal_record"], result["journal_record_in_burst"]
    kinds_raw = ", ".join(
        f"{kind} {v['median_us']:.0f} µs (p99 {v['p99_us']:.0f})" for kind, v in raw["other_kinds"].items()
    )
    return table(
        f"8. Recording each request before its ack: {result['commands_per_round']} concurrent signed /deploy "
        f"× {result['rounds']} round(s), two bots in-process",
        ["", "commands", "ack p50", "ack p99", "ack max", "recorded", "committed"],
        rows,
        [
            f"every ack under Slack's {result['slack_limit_ms']:.0f} ms: {result['all_under_slack_limit']}; every deploy "
            "committed and its requester told, on both bots; requesters told more than once: "
            f"{result['recorded']['told_twice']} (recorded), {result['not_recorded']['told_twice']} (not recorded).",
            f"round by round (back to back): recorded − not recorded, median {result['paired_p50_difference_ms_median']:+.0f} ms "
            f"at p50, {result['paired_p99_difference_ms_median']:+.0f} ms at p99; recorded slower at p50 in "
            f"{result['rounds_recorded_slower_p50']} of {result['rounds']} rounds.",
            f"one journal.record on a real Redis: median {raw['median_us']:.0f} µs, p99 {raw['p99_us']:.0f} µs "
            f"({raw['calls']:,} calls; one PING round trip: {raw['ping_median_us']:.0f} µs); inside the bursts (every kind), where "
            f"it waits for the GIL too: p50 {burst_record['p50_ms']:.1f} ms, p99 {burst_record['p99_ms']:.1f} ms, "
            f"max {burst_record['max_ms']:.1f} ms ({burst_record['calls']} calls).",
            f"journal.record of the other kinds, median: {kinds_raw}. Their rows: one burst of each per bot;"
            " 'committed' there counts each ended and told (approvals: the approved deploy committed too).",
            "baseline: the same bot with journal.record a no-op (and the journal's later ownership checks passing),",
            "          so both do the same background work. Order of the two alternates per round. Latency measured",
            f"          by client threads in the bot's own process (an upper bound of the bot's time); waitress runs "
            f"{THREADS} threads, so the commands beyond those queue.",
        ],
    )


def main(argv: list[str] | None = None) -> int:
    from bench.harness import redis_server

    parser = argparse.ArgumentParser(prog="python -m bench.ack_record", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20 commands, 1 round, 200 record calls")
    parser.add_argument("--rounds", type=int, help="rounds per bot (default 3, 1 with --quick)")
    args = parser.parse_args(argv)
    with redis_server() as (redis_url, description):
        print(f"store: {description}", file=sys.stderr)
        result = run(
            redis_url, quick=args.quick, rounds=args.rounds, log=lambda m: print(m, file=sys.stderr, flush=True)
        )
    print(show(result))
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
