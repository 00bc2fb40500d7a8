"""Benchmark 1: N concurrent deploys of different apps, the bot against clone-per-deploy."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from bench import baseline
from bench.harness import Landing, at_once, commits_since, start_bot, tags_on_remote, wait_landed
from bench.repos import BOT_ENVS, app_names, fresh_copy
from tests.support.charts import ChartsRemote

LAND_TIMEOUT = 180.0


def plan(n: int, salt: int) -> dict[tuple[str, str], str]:
    """N deploys, each of a different app, spread over the three environments, each to a new tag."""
    names = app_names()
    if n > len(names):
        raise ValueError(f"at most {len(names)} distinct apps")
    return {(BOT_ENVS[i % len(BOT_ENVS)], names[i]): f"v{salt + i}" for i in range(n)}


def run_baseline(source: Path, scratch: Path, n: int) -> dict[str, Any]:
    remote = fresh_copy(source, scratch / "baseline-remote.git")
    base = remote.head()
    expected = plan(n, 90_000)
    deploys = [(env, app, tag) for (env, app), tag in expected.items()]
    elapsed, results = baseline.run_concurrently(remote.url, remote.branch, remote.image_tags_path, deploys)
    found = tags_on_remote(remote, list(expected))
    lost = [f"{env}/{app}" for (env, app), tag in expected.items() if found[(env, app)] != tag]
    return {
        "seconds": round(elapsed, 2),
        "landed": n - len(lost),
        "lost": len(lost),
        "lost_deploys": lost,
        "commits": commits_since(remote, base),
        "attempts_total": sum(r.attempts for r in results),
        "reported_landed": sum(r.landed for r in results),
        "slowest_deploy_seconds": round(max(r.seconds for r in results), 2),
    }


def run_bot(source: Path, scratch: Path, n: int, redis_url: str, label: str = "bot") -> dict[str, Any]:
    remote = fresh_copy(source, scratch / "bot-remote.git")
    base = remote.head()
    expected = plan(n, 90_000)
    bot = start_bot(scratch / "bot", remote.url, redis_url, label=f"deploys-{label}-{n}")
    try:
        calls = [
            (
                lambda env=env, app=app, tag=tag: bot.process.webhook(
                    "/update-image-tag",
                    {"environment": env, "repoName": app, "imageTag": tag, "promoteDeployment": "false"},
                )
            )
            for (env, app), tag in expected.items()
        ]
        started, responses, request_seconds = at_once(calls)
        accepted = sum(1 for r in responses if getattr(r, "status_code", None) == 202)
        landing: Landing = wait_landed(remote, expected, started, LAND_TIMEOUT)
        time.sleep(0.3)  # anything still in flight (a duplicate commit) would land now
        commits = commits_since(remote, base)
    finally:
        bot.stop()
    return {
        "seconds": round(landing.seconds, 2),
        "landed": landing.landed,
        "lost": n - landing.landed,
        "lost_deploys": landing.lost,
        "commits": commits,
        "accepted_202": accepted,
        "max_request_ms": round(max(request_seconds) * 1000, 1),
        "bot_ready_seconds": round(bot.ready_seconds, 2),
    }


def run(repos: dict[str, ChartsRemote], sizes: tuple[int, ...], redis_url: str, log) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    rows = []
    for label, source in repos.items():
        for n in sizes:
            with tempfile.TemporaryDirectory(prefix=f"bench-deploys-{label}-{n}-") as folder:
                scratch = Path(folder)
                log(f"  {label} repo, N={n}: clone-per-deploy baseline ...")
                base = run_baseline(source.path, scratch, n)
                log(f"    {base['seconds']} s, {base['lost']} lost; the bot ...")
                bot = run_bot(source.path, scratch, n, redis_url, label)
                log(f"    {bot['seconds']} s, {bot['lost']} lost")
            ratio = base["seconds"] / bot["seconds"] if bot["seconds"] > 0 else float("inf")
            rows.append({"repo": label, "n": n, "baseline": base, "bot": bot, "speedup": round(ratio, 1)})
    return {"rows": rows}
