"""Benchmark 2: how fast `/deploy` is acknowledged when 50 arrive at once while deploys are being pushed.

The bot runs as its own process (`python -m bot serve`, ServeProcess), so the client threads that
time the requests do not share its GIL. While the commands arrive, a steady stream of CI deploys
(`/update-image-tag`, one every 30 ms, other apps) keeps the charts writer fetching, committing
and pushing on the real-scale repository; the number of commits that landed on the remote during
the acknowledgement window is reported as evidence. Each command is a real deploy (its own app,
a new tag, a user in the GitHub teams), so after the acks every one of them must also land.
"""

from __future__ import annotations

import math
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from bench.harness import at_once, commits_since, start_bot, wait_landed
from bench.repos import BOT_ENVS, app_names, fresh_copy
from tests.fakes import FakeSlack
from tests.support.app import MEMBER, WEBHOOK_TOKEN

SLACK_LIMIT_MS = 3000.0
TARGET_P99_MS = 300.0
CI_INTERVAL = 0.03


def percentile(values: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    position = (len(ordered) - 1) * q
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def ack_text(response: Any) -> str:
    if not isinstance(response, httpx.Response) or response.status_code != 200:
        return ""
    if response.headers.get("content-type", "").startswith("application/json"):
        return str(response.json().get("text") or "")
    return response.text


def _stream_ci(base_url: str, deploys: list[tuple[str, str, str]], stop: threading.Event, sent: list[int]) -> None:
    with httpx.Client(base_url=base_url, timeout=30, headers={"Authorization": f"Bearer {WEBHOOK_TOKEN}"}) as http:
        for env, app, tag in deploys:
            if stop.is_set():
                return
            payload = {"environment": env, "repoName": app, "imageTag": tag, "promoteDeployment": "false"}
            if http.post("/update-image-tag", json=payload).status_code == 202:
                sent.append(1)
            time.sleep(CI_INTERVAL)


def run(big_source: Path, redis_url: str, *, commands: int, background: int, rounds: int, log) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    pairs = [(env, app) for app in app_names() for env in BOT_ENVS]
    if commands + background > len(pairs):
        raise ValueError("not enough (environment, app) pairs")
    slash_pairs, ci_pairs = pairs[:commands], pairs[commands : commands + background]
    samples: list[float] = []
    per_round = []
    lost_total, refused, unanswered, extra_commits = 0, 0, 0, 0
    with tempfile.TemporaryDirectory(prefix="bench-ack-") as folder:
        scratch = Path(folder)
        remote = fresh_copy(big_source, scratch / "remote.git")
        slack = FakeSlack().start()
        bot = start_bot(scratch / "bot", remote.url, redis_url, slack=slack, label="ack")
        try:
            for round_number in range(rounds):
                salt = 70_000 + 1_000 * round_number
                slash = {pair: f"v{salt + i}" for i, pair in enumerate(slash_pairs)}
                ci = {pair: f"v{salt + 500 + i}" for i, pair in enumerate(ci_pairs)}
                base = remote.head()
                stop, sent = threading.Event(), []
                streamer = threading.Thread(
                    target=_stream_ci,
                    args=(bot.process.base_url, [(e, a, t) for (e, a), t in ci.items()], stop, sent),
                    daemon=True,
                )
                streamer.start()
                deadline = time.monotonic() + 30
                while time.monotonic() < deadline and (len(sent) < background // 3 or commits_since(remote, base) == 0):
                    time.sleep(0.02)  # from here on the writer is pushing, with a queue of CI deploys behind it
                names = [f"r{round_number}-{i}" for i in range(commands)]
                urls = [slack.response_url(name) for name in names]
                calls = [
                    (lambda text=f"{app} {tag} {env}", url=url: bot.process.slash(text, user=MEMBER, response_url=url))
                    for ((env, app), tag), url in zip(slash.items(), urls, strict=True)
                ]
                landed_before = commits_since(remote, base)
                accepted_before = len(sent)
                started, responses, seconds = at_once(calls)
                window = time.monotonic() - started
                landed_during = commits_since(remote, base) - landed_before
                streamer.join(60)
                stop.set()
                texts = [ack_text(r) for r in responses]
                acked = sum(1 for t in texts if t.startswith(":hourglass_flowing_sand: Deploying"))
                expected = {**slash, **ci}
                landing = wait_landed(remote, expected, started, 180)
                answered = slack.wait_until(lambda names=names: all(slack.responses.get(n) for n in names), 60)
                replies = slack.responses
                committed = sum(
                    1 for n in names if any("Committed" in (b.get("text") or "") for b in replies.get(n, []))
                )
                time.sleep(0.3)
                commits = commits_since(remote, base)
                millis = [s * 1000 for s in seconds]
                samples.extend(millis)
                lost_total += len(expected) - landing.landed
                refused += commands - acked
                unanswered += 0 if answered else sum(1 for n in names if not replies.get(n))
                extra_commits += max(0, commits - len(expected))
                per_round.append(
                    {
                        "round": round_number + 1,
                        "commands": commands,
                        "acked_ok": acked,
                        "p50_ms": round(percentile(millis, 0.50), 1),
                        "p99_ms": round(percentile(millis, 0.99), 1),
                        "max_ms": round(max(millis), 1),
                        "ack_window_s": round(window, 2),
                        "ci_deploys_streamed": len(sent),
                        "commits_landed_during_acks": landed_during,
                        "ci_accepted_before_burst": accepted_before,
                        "ci_landed_before_burst": landed_before,
                        "in_flight_at_burst": max(0, accepted_before - landed_before),
                        "all_landed_s": round(landing.seconds, 2),
                        "lost": len(expected) - landing.landed,
                        "lost_deploys": landing.lost,
                        "committed_replies": committed,
                        "commits": commits,
                    }
                )
                log(
                    f"  round {round_number + 1}: p50 {per_round[-1]['p50_ms']} ms, p99 {per_round[-1]['p99_ms']} ms, "
                    f"max {per_round[-1]['max_ms']} ms; {landed_during} commits landed during the acks; "
                    f"{per_round[-1]['lost']} lost"
                )
            rss = bot.rss_mb()
        finally:
            bot.stop()
    return {
        "server": "ServeProcess (python -m bot serve in its own process; waitress, 16 threads)",
        "commands_per_round": commands,
        "rounds": rounds,
        "ci_deploys_per_round": background,
        "samples": len(samples),
        "p50_ms": round(percentile(samples, 0.50), 1),
        "p99_ms": round(percentile(samples, 0.99), 1),
        "max_ms": round(max(samples), 1),
        "slack_limit_ms": SLACK_LIMIT_MS,
        "target_p99_ms": TARGET_P99_MS,
        "not_acked_ok": refused,
        "no_final_reply": unanswered,
        "lost": lost_total,
        "extra_commits": extra_commits,
        "rss_mb_after": round(rss, 1),
        "per_round": per_round,
    }
