"""Benchmark 11: the App Home tab: building a view from a full store, and publishes while deploys move.

Both parts use the bot's own objects (`bot.services.build`, never started: no git, no Slack
outbox) on a real Redis, with a chat service that records `views.publish` instead of calling Slack.

- build: 1,000 releases (50 people asked for 20 each; one of them, the measured person, for
  100 of them in the last 24 hours) and 50 freezes in the store, and 20 approval requests waiting.
  `HomeTab.build` + `to_blocks` (all a publish does but the HTTP call) timed for that person
  many times: p50, p99, max. Goal: p99 under 200 ms.
- publishes: 100 people have opened their tab; 20 of them each have a deploy moving through
  the three environments (one event every 0.5 s per deploy, a new tag when it reaches the end),
  and a freeze is put on and lifted every 10 s (everyone's tab changes). Two replicas' Home tab
  workers share the store. Counted: publishes per minute, the shortest gap between two publishes
  to one person (never under 5 s), and how many people saw their last change.

    .venv/bin/python -m bench.home [--quick]   # this benchmark alone, on a throwaway Redis
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bot.config import load_settings
from bot.home.view import to_blocks
from bot.releases.model import Requester, State
from bot.releases.transitions import DeployRequested, SyncOutcome, TestOutcome
from bot.safety.freezes import Freeze
from bot.services import Services, build

ENVS = ("integration", "staging", "production")
PEOPLE = 50
PER_PERSON = 20
HEAVY = 100  # the measured person's releases
FREEZES = 50
APPROVALS = 20
WATCHERS = 100
MOVING = 20
TARGET_P99_MS = 200.0


class RecordingChat:
    """The core's Chat with every publish recorded (who, when) and nothing sent anywhere."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.published: dict[str, list[float]] = defaultdict(list)
        self.last_view: dict[str, dict] = {}

    def publish_home(self, user_id: str, view: dict[str, Any]) -> None:
        with self.lock:
            self.published[user_id].append(time.monotonic())
            self.last_view[user_id] = view

    def permalink(self, channel: str, ts: str) -> str | None:
        return f"https://govuk.slack.com/archives/{channel}/p{ts.replace('.', '')}"

    def post(self, channel, text, blocks=None, **_: Any):  # pragma: no cover - not used here
        raise NotImplementedError

    def respond(self, response_url, text, blocks=None) -> None:  # pragma: no cover - not used here
        raise NotImplementedError


def person(number: int) -> Requester:
    return Requester(f"U{number:08d}", f"person-{number}")


def services_on(redis_url: str, prefix: str, folder: Path, chat: RecordingChat, every: float = 0.25) -> Services:
    from bot.intervals import Intervals

    config = folder / "home-bench.yaml"
    config.write_text(
        "environments:\n"
        "  - {name: integration, team: gov-uk}\n"
        "  - {name: staging, team: gov-uk-production}\n"
        "  - name: production\n    team: gov-uk-production\n    approvals_required: 1\n"
        "    deploy_windows: [{days: [mon, tue, wed, thu], start: '09:30', end: '17:00'}]\n"
        "users:\n" + "".join(f"  {person(n).slack_user}: {person(n).login}\n" for n in range(WATCHERS)),
        encoding="utf-8",
    )
    settings = load_settings(
        {
            "REDIS_URL": redis_url,
            "REDIS_PREFIX": prefix,
            "CHARTS_REPO_URL": (folder / "no-charts.git").as_uri(),
            "CHARTS_WORKDIR": str(folder / "wc"),
            "BOT_CONFIG": str(config),
        },
        require_serve=False,
    )
    return build(settings, chat=chat, intervals=Intervals(home_every=every))  # type: ignore[arg-type]


def fill(services: Services) -> str:
    """1,000 releases, 50 freezes, 20 waiting approvals; the measured person's Slack ID."""
    book, now = services.book, time.time()
    heavy = person(0)
    count = 0
    for number in range(PEOPLE):
        who = person(number)
        for index in range(HEAVY if number == 0 else PER_PERSON):
            if count >= 1000:
                break
            app, tag = f"app-{(number * 7 + index) % 60:02d}", f"v{number}-{index}"
            book.apply(app, tag, DeployRequested("integration", who, f"{count:040x}"))
            book.apply(app, tag, SyncOutcome("integration", app, State.SYNCED, f"synced:{tag}"))
            if index % 3 == 0:
                book.apply(app, tag, TestOutcome("integration", app, "Succeeded", "e2e", f"passed:{tag}"))
                book.apply(app, tag, DeployRequested("staging", who, f"{count:040x}"))
            count += 1
    for number in range(FREEZES):
        services.safety.freezes.freeze(
            Freeze(f"app-{number:02d}", ENVS[number % 3], person(number % 7), now, f"reason {number}")
        )
    from bot.deploys.request import DeployRequest

    for number in range(APPROVALS):
        request = DeployRequest(
            app=f"app-{number:02d}", env="production", tag=f"w{number}", requester=person(number + 1)
        )
        services.approvals.gate(request)
    services.home.run_once()  # index each person's deploys, as the worker does
    return heavy.slack_user or ""


def measure_build(services: Services, user: str, times: int) -> dict[str, Any]:
    durations, blocks = [], 0
    for _ in range(times):
        started = time.perf_counter()
        view = to_blocks(services.home.build(user))
        durations.append((time.perf_counter() - started) * 1000)
        blocks = len(view["blocks"])
    durations.sort()
    return {
        "builds": times,
        "p50_ms": round(statistics.median(durations), 1),
        "p99_ms": round(durations[max(0, int(len(durations) * 0.99) - 1)], 1),
        "max_ms": round(durations[-1], 1),
        "blocks": blocks,
        "target_p99_ms": TARGET_P99_MS,
    }


def measure_publishes(redis_url: str, folder: Path, seconds: float, log: Callable[[str], None]) -> dict[str, Any]:
    prefix = f"bench:home:{uuid.uuid4().hex[:10]}:"
    chat = RecordingChat()
    replicas = [services_on(redis_url, prefix, folder, chat) for _ in range(2)]
    first = replicas[0]
    watchers = [person(n).slack_user or "" for n in range(WATCHERS)]
    for user in watchers:
        first.home.opened(user)
    for replica in replicas:
        replica.home.start()
    stopping = threading.Event()
    last_change: dict[str, float] = {}
    moves = 0

    def move() -> None:
        nonlocal moves
        round_number = 0
        while not stopping.is_set():
            step, cycle = round_number % 6, round_number // 6  # requested, synced, in each environment
            env = ENVS[step // 2]
            for slot in range(MOVING):
                who = person(slot)
                app, tag = f"moving-{slot:02d}", f"m{cycle}"
                book = replicas[slot % 2].book  # events arrive at either replica
                if step % 2 == 0:
                    book.apply(app, tag, DeployRequested(env, who, None))
                else:
                    book.apply(app, tag, SyncOutcome(env, app, State.SYNCED, f"synced:{env}:{tag}"))
                last_change[who.slack_user or ""] = time.monotonic()
                moves += 1
            round_number += 1
            stopping.wait(0.5)

    def freeze() -> None:
        on = False
        while not stopping.wait(10.0):
            if on:
                first.safety.freezes.unfreeze("all", "staging")
            else:
                first.safety.freezes.freeze(Freeze("all", "staging", person(99), time.time(), "bench"))
            on = not on

    threads = [threading.Thread(target=move, daemon=True), threading.Thread(target=freeze, daemon=True)]
    log(f"  100 people watching, {MOVING} deploys moving, for {seconds:.0f} s ...")
    started = time.monotonic()
    for thread in threads:
        thread.start()
    time.sleep(seconds)
    stopping.set()
    for thread in threads:
        thread.join(timeout=5)
    ended = time.monotonic()
    time.sleep(6)  # the last changes: every due tab is published once its 5 s have passed
    for replica in replicas:
        replica.home.stop()
    with chat.lock:
        published = {user: list(times) for user, times in chat.published.items()}
    gaps = [b - a for times in published.values() for a, b in zip(times, times[1:], strict=False)]
    in_window = sum(1 for times in published.values() for t in times if started <= t <= ended)
    saw_last = sum(1 for user, at in last_change.items() if published.get(user) and published[user][-1] >= at)
    return {
        "seconds": round(ended - started, 1),
        "watchers": WATCHERS,
        "moving": MOVING,
        "events": moves,
        "publishes": in_window,
        "per_minute": round(in_window * 60 / (ended - started)),
        "ceiling_per_minute": WATCHERS * 12,  # one per person per 5 s
        "min_gap_s": round(min(gaps), 3) if gaps else None,
        "people_published": len(published),
        "saw_last_change": f"{saw_last} of {len(last_change)}",
    }


def run(redis_url: str, *, quick: bool = False, log: Callable[[str], None] = print) -> dict[str, Any]:
    logging.getLogger("bot").setLevel(logging.ERROR)
    with tempfile.TemporaryDirectory(prefix="bench-home-") as folder:
        chat = RecordingChat()
        services = services_on(redis_url, f"bench:home:{uuid.uuid4().hex[:10]}:", Path(folder), chat)
        log("  filling the store: 1,000 releases, 50 freezes, 20 approval requests ...")
        user = fill(services)
        log("  building the heavy person's Home tab ...")
        measure_build(services, user, 20)  # warm up
        built = measure_build(services, user, 100 if quick else 500)
        publishes = measure_publishes(redis_url, Path(folder), 15 if quick else 60, log)
    return {"build": built, "publish": publishes}


def show(result: dict[str, Any]) -> str:
    from bench.__main__ import table

    b, p = result["build"], result["publish"]
    first = table(
        "11. Home tab: one person's view built from a store of 1,000 releases and 50 freezes",
        ["builds", "p50", "p99", "max", "blocks", "goal (p99)"],
        [
            [
                b["builds"],
                f"{b['p50_ms']} ms",
                f"{b['p99_ms']} ms",
                f"{b['max_ms']} ms",
                b["blocks"],
                f"< {b['target_p99_ms']:.0f} ms",
            ]
        ],
        ["HomeTab.build + to_blocks: the store reads and the Block Kit, everything a publish does but the HTTP call."],
    )
    second = table(
        f"    publishes with {p['watchers']} people watching while {p['moving']} deploys move ({p['seconds']} s, two replicas)",
        ["events", "publishes", "per minute", "ceiling", "shortest gap", "saw their last change"],
        [
            [
                p["events"],
                p["publishes"],
                p["per_minute"],
                p["ceiling_per_minute"],
                f"{p['min_gap_s']} s",
                p["saw_last_change"],
            ]
        ],
        [
            "ceiling: one publish per person per 5 s (100 × 12 a minute); the shortest gap is between two publishes to one person."
        ],
    )
    return first + second


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.home", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    from bench.harness import redis_server

    with redis_server() as (redis_url, _):
        result = run(redis_url, quick=args.quick, log=lambda m: print(m, file=sys.stderr, flush=True))
    print(show(result))
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
