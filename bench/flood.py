"""Benchmark 10: a flood of webhooks for made-up releases while real deploys run (issue 19).

Whoever holds a webhook token can send the bot anything. Issue 19 found 2,000 `/webhooks/argocd`
calls for made-up tags all accepted (6,000 keys, 11.6 MB in Redis for 90 days, hundreds of cards)
and a real failure reply still not posted 150 s after its event. Here the bot runs in this process
(`BotHarness`) on a real Redis, with a fake Slack that, like Slack, answers 429 to a second
`chat.postMessage` in a channel within a second, and two runs are compared:
- idle: 10 real deploys (signed `/deploy <app> <tag> integration`, 10 apps, all at once); as each
  is committed, its card is awaited, then a failed sync is reported for it (`/webhooks/argocd`
  `Failed`) and its broadcast failure reply awaited;
- flood: the same, while 2,000 `/webhooks/argocd` calls for made-up releases arrive from 8
  senders, spread over the four tokens (the shared `WEBHOOK_TOKEN` and each cluster's).
Per real deploy: the card's delay (its commit's "Committed" reply to its root message on Slack)
and the failure reply's delay (the failure webhook's 202 to the broadcast reply). The goal: the
flood adds at most 5 s to either, against the idle run's worst. After the flood: the webhooks'
answers (202 or 429), keys the run left in Redis under its prefix and their memory
(`MEMORY USAGE`), the longest time-to-live among release keys, and this process's RSS (bot,
fakes and senders together: an upper bound of the bot's own).

    .venv/bin/python -m bench.flood [--quick]   # this benchmark alone, on a throwaway Redis
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

from tests.fakes import FakeGitHub, FakeSlack
from tests.support.app import (
    MEMBER,
    SIGNING_SECRET,
    WEBHOOK_TOKEN,
    BotHarness,
    add_standard_members,
    bot_environment,
)
from tests.support.charts import ENVIRONMENTS, make_charts_remote
from tests.support.slack_requests import signed_headers, slash_command_body

SIZES = {"full": {"webhooks": 2000, "deploys": 10}, "quick": {"webhooks": 200, "deploys": 3}}
GOAL_SECONDS = 5.0
SENDERS = 8
CLUSTER_TOKENS = {
    f"WEBHOOK_TOKEN_{env.upper()}": f"{env}-cluster-token-for-the-flood-benchmark" for env in ENVIRONMENTS
}


def charts_apps(count: int) -> dict[str, dict[str, str]]:
    files = {f"bench-app-{n:02d}": "image_tag: v1\nautomatic_deploys_enabled: false\n" for n in range(count)}
    files["whitehall"] = "image_tag: v1\nautomatic_deploys_enabled: false\n"  # the flood's made-up releases
    return {env: dict(files) for env in ENVIRONMENTS}


def rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


class Run:
    """One bot on its own fakes, charts remote and key prefix."""

    def __init__(self, scratch: Path, redis_url: str, deploys: int, label: str) -> None:
        folder = scratch / label
        folder.mkdir()
        self.slack = FakeSlack(post_rate_limit_per_second=1.0).start()
        self.github = FakeGitHub().start()
        add_standard_members(self.github)
        self.prefix = f"bench:flood:{uuid.uuid4().hex[:12]}:"
        env = bot_environment(
            tmp_path=folder,
            fake_slack=self.slack,
            fake_github=self.github,
            charts_url=make_charts_remote(folder, charts_apps(deploys)).url,
            redis_url=redis_url,
            redis_prefix=self.prefix,
            LOG_LEVEL="WARNING",
        )
        self.bot = BotHarness({**env, **CLUSTER_TOKENS}, post_interval=1.0)
        self.deploys = deploys

    def stop(self) -> None:
        self.bot.stop()
        self.slack.stop()
        self.github.stop()

    def real_deploys(self, log: Callable[[str], None]) -> list[dict[str, float]]:
        """The 10 real deploys, all at once: each one's card delay and failure reply delay."""

        def one(n: int) -> dict[str, float]:
            app, tag, name = f"bench-app-{n:02d}", f"v{9000 + n}", f"real-{n}"
            with httpx.Client(base_url=self.bot.base_url, timeout=60) as client:
                body = slash_command_body(
                    f"{app} {tag} integration", user_id=MEMBER, response_url=self.slack.response_url(name)
                )
                client.post(
                    "/slack/events", content=body, headers=signed_headers(SIGNING_SECRET, body, int(time.time()))
                )
                self.slack.wait_until(
                    lambda: any("Committed" in (r.get("text") or "") for r in self.slack.responses.get(name, [])),
                    timeout=120,
                )
                committed = time.monotonic()
                marker = f"*{app}* `{tag}`"
                self.slack.wait_until(lambda: any(marker in m.text for m in self.slack.roots()), timeout=300)
                card_delay = time.monotonic() - committed
                card = next(m for m in self.slack.roots() if marker in m.text)
                failed = {"application": app, "environment": "integration", "state": "Failed", "imageTag": tag}
                answer = client.post(
                    "/webhooks/argocd", json=failed, headers={"Authorization": f"Bearer {WEBHOOK_TOKEN}"}
                )
                told = time.monotonic()
                self.slack.wait_until(lambda: any(r.reply_broadcast for r in self.slack.replies(card.ts)), timeout=300)
                reply_delay = time.monotonic() - told
            return {
                "card_s": round(card_delay, 2),
                "reply_s": round(reply_delay, 2),
                "failure_status": answer.status_code,
            }

        with ThreadPoolExecutor(max_workers=self.deploys) as pool:
            results = list(pool.map(one, range(self.deploys)))
        log(
            f"    real deploys: card max {max(r['card_s'] for r in results):.2f} s, "
            f"failure reply max {max(r['reply_s'] for r in results):.2f} s"
        )
        return results

    def flood(self, webhooks: int, started: threading.Event) -> dict[str, Any]:
        tokens = [WEBHOOK_TOKEN, *CLUSTER_TOKENS.values()]
        envs = [None, *ENVIRONMENTS]  # the shared token may report anywhere; each cluster's for its own
        statuses: list[int] = [0] * webhooks

        def send(n: int, client: httpx.Client) -> None:
            which = n % len(tokens)
            env = envs[which] or ENVIRONMENTS[n % len(ENVIRONMENTS)]
            body = {"application": "whitehall", "environment": env, "state": "Running", "imageTag": f"vmadeup{n:05d}"}
            statuses[n] = client.post(
                "/webhooks/argocd", json=body, headers={"Authorization": f"Bearer {tokens[which]}"}
            ).status_code
            if n == SENDERS * 10:
                started.set()

        def sender(offset: int) -> None:
            with httpx.Client(base_url=self.bot.base_url, timeout=60) as client:
                for n in range(offset, webhooks, SENDERS):
                    send(n, client)

        began = time.monotonic()
        with ThreadPoolExecutor(max_workers=SENDERS) as pool:
            list(pool.map(sender, range(SENDERS)))
        started.set()
        seconds = time.monotonic() - began
        counts: dict[str, int] = {}
        for status in statuses:
            counts[str(status)] = counts.get(str(status), 0) + 1
        return {"webhooks": webhooks, "seconds": round(seconds, 2), "answers": counts}

    def store_figures(self) -> dict[str, Any]:
        client = self.bot.services.store.client
        keys = list(client.scan_iter(match=self.prefix + "*", count=1000))
        memory = sum(client.memory_usage(key) or 0 for key in keys)
        releases = [key for key in keys if key.startswith(self.prefix + "release:")]
        made_up = [client.ttl(key) for key in releases if ":vmadeup" in key]
        real = [client.ttl(key) for key in releases if ":vmadeup" not in key]
        return {
            "keys": len(keys),
            "release_keys": len(releases),
            "made_up_release_keys": len(made_up),
            "bytes": memory,
            "made_up_kept_days": round(max(made_up) / 86400, 1) if made_up else None,
            "real_kept_days": round(max(real) / 86400, 1) if real else None,
        }


def run(redis_url: str, *, quick: bool = False, log: Callable[[str], None] = print) -> dict[str, Any]:
    sizes = SIZES["quick" if quick else "full"]
    quiet = [logging.getLogger(name) for name in ("waitress.queue", "bot", "handlers")]
    levels = [logger.level for logger in quiet]
    for logger in quiet:
        logger.setLevel(logging.ERROR)
    try:
        with tempfile.TemporaryDirectory(prefix="bench-flood-") as folder:
            scratch = Path(folder)
            log("  idle: real deploys alone")
            idle = Run(scratch, redis_url, sizes["deploys"], "idle")
            try:
                idle_deploys = idle.real_deploys(log)
                idle_store = idle.store_figures()
            finally:
                idle.stop()
            log(f"  flood: {sizes['webhooks']} webhooks for made-up releases while the real deploys run")
            flooded = Run(scratch, redis_url, sizes["deploys"], "flood")
            try:
                rss_before = rss_mb()
                started = threading.Event()
                with ThreadPoolExecutor(max_workers=1) as background:
                    flood = background.submit(flooded.flood, sizes["webhooks"], started)
                    started.wait(timeout=120)
                    flood_deploys = flooded.real_deploys(log)
                    flood_result = flood.result()
                flood_store = flooded.store_figures()
                rss_after = rss_mb()
                cards = len(flooded.slack.roots())
            finally:
                flooded.stop()
    finally:
        for logger, level in zip(quiet, levels, strict=True):
            logger.setLevel(level)

    def worst(results: list[dict[str, float]], key: str) -> float:
        return max(r[key] for r in results)

    def median(results: list[dict[str, float]], key: str) -> float:
        return round(statistics.median(r[key] for r in results), 2)

    added_card = round(worst(flood_deploys, "card_s") - worst(idle_deploys, "card_s"), 2)
    added_reply = round(worst(flood_deploys, "reply_s") - worst(idle_deploys, "reply_s"), 2)
    return {
        "deploys": sizes["deploys"],
        "idle": {
            "card_max_s": worst(idle_deploys, "card_s"),
            "card_p50_s": median(idle_deploys, "card_s"),
            "reply_max_s": worst(idle_deploys, "reply_s"),
            "reply_p50_s": median(idle_deploys, "reply_s"),
            "store": idle_store,
        },
        "flood": {
            **flood_result,
            "card_max_s": worst(flood_deploys, "card_s"),
            "card_p50_s": median(flood_deploys, "card_s"),
            "reply_max_s": worst(flood_deploys, "reply_s"),
            "reply_p50_s": median(flood_deploys, "reply_s"),
            "store": flood_store,
            "cards_posted_meanwhile": cards,
            "rss_mb_before": round(rss_before, 1),
            "rss_mb_after": round(rss_after, 1),
        },
        "added_card_s": added_card,
        "added_reply_s": added_reply,
        "goal_s": GOAL_SECONDS,
        "met": added_card <= GOAL_SECONDS and added_reply <= GOAL_SECONDS,
    }


def show(result: dict[str, Any]) -> str:
    from bench.__main__ import table

    idle, flood = result["idle"], result["flood"]
    rows = [
        [
            "idle",
            f"{idle['card_p50_s']} / {idle['card_max_s']} s",
            f"{idle['reply_p50_s']} / {idle['reply_max_s']} s",
            "—",
            f"{idle['store']['keys']} keys, {idle['store']['bytes'] / 1024:.0f} KiB",
        ],
        [
            f"flood of {flood['webhooks']} webhooks ({flood['seconds']} s)",
            f"{flood['card_p50_s']} / {flood['card_max_s']} s",
            f"{flood['reply_p50_s']} / {flood['reply_max_s']} s",
            ", ".join(f"{n}× {status}" for status, n in sorted(flood["answers"].items())),
            f"{flood['store']['keys']} keys, {flood['store']['bytes'] / 1024:.0f} KiB",
        ],
    ]
    notes = [
        f"{result['deploys']} real deploys at once; delays p50 / max; the flood adds {result['added_card_s']} s to the "
        f"worst card and {result['added_reply_s']} s to the worst failure reply (goal ≤ {result['goal_s']:.0f} s): "
        + ("met" if result["met"] else "NOT met"),
        f"release keys after the flood: {flood['store']['made_up_release_keys']} made-up (kept "
        f"{flood['store']['made_up_kept_days']} days), {flood['store']['release_keys'] - flood['store']['made_up_release_keys']}"
        f" real ({flood['store']['real_kept_days']} days); cards posted meanwhile: {flood['cards_posted_meanwhile']}; "
        f"process RSS {flood['rss_mb_before']} → {flood['rss_mb_after']} MB (bot, fakes and senders)",
    ]
    return table(
        "Flood: real deploys' cards and failure replies while webhooks for made-up releases arrive",
        ["run", "card delay", "failure reply delay", "webhook answers", "Redis after"],
        rows,
        notes,
    )


def main(argv: list[str] | None = None) -> int:
    from bench.harness import redis_server

    parser = argparse.ArgumentParser(prog="python -m bench.flood", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="200 webhooks, 3 real deploys")
    args = parser.parse_args(argv)
    with redis_server() as (redis_url, description):
        print(f"store: {description}", file=sys.stderr)
        result = run(redis_url, quick=args.quick, log=lambda m: print(m, file=sys.stderr, flush=True))
    print(show(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
