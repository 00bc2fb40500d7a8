"""Benchmark 4: `python -m bot serve` start-up on the real-scale repository, and its memory.

Ready time is from spawning the process until `GET /readyz` answers 200: first with an empty
CHARTS_WORKDIR (the bot makes its shallow clone) and then again with the working copy kept from
that run (a restart: the bot only fetches). The baselines are what git itself needs for the
same repository: the `git clone --depth 1` that today's workflow runs for every deploy, and a
full clone (NOTES.md: ~27 s from GitHub), which a bot keeping a full working copy would need.
RSS is VmRSS from /proc/<pid>/status, 2 s after ready (idle) and after an alert burst.
"""

from __future__ import annotations

import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import burst
from bench.harness import start_bot
from bench.repos import app_names, fresh_copy
from tests.support.charts import git_env

TARGET_READY_SECONDS = 10.0
IDLE_SETTLE = 2.0


def _timed_clone(url: str, dest: Path, *extra: str) -> float:
    started = time.monotonic()
    subprocess.run(
        ["git", "clone", "--quiet", *extra, "--branch", "main", url, str(dest)],
        env=git_env(),
        check=True,
        capture_output=True,
    )
    return time.monotonic() - started


def run(
    big_source: Path,
    small_url_factory,
    redis_url: str,
    *,
    full_clone: bool,
    burst_rss: dict | None,
    log,  # type: ignore[no-untyped-def]
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as folder:
        scratch = Path(folder)
        remote = fresh_copy(big_source, scratch / "remote.git")
        workdir = scratch / "kept-working-copy"
        log("  first start (empty CHARTS_WORKDIR: the bot clones) ...")
        cold = start_bot(scratch / "cold", remote.url, redis_url, workdir=workdir, label="startup-first")
        try:
            time.sleep(IDLE_SETTLE)
            rss_cold = cold.rss_mb()
        finally:
            cold.stop()
        log(f"    ready in {cold.ready_seconds:.2f} s; restart with the kept working copy ...")
        warm = start_bot(
            scratch / "warm", remote.url, redis_url, workdir=workdir, label="startup-restart", **burst.CLUSTER_SETTINGS
        )
        try:
            time.sleep(IDLE_SETTLE)
            rss_warm = warm.rss_mb()
            after = None
            if burst_rss is None:
                log("    (no alert-burst figures in this run: sending a 10-release burst for RSS after a burst)")
                names = [(app, f"v{60_000 + i}") for i, app in enumerate(app_names()[:10])]
                burst.send_burst(warm.process.base_url, burst.lifecycle(names), burst.SEND_WINDOW)
                deadline = time.monotonic() + 60
                while time.monotonic() < deadline and burst.card_states(warm.slack, names)[0] < len(names):
                    time.sleep(0.2)
                after = {"rss_mb_after": round(warm.rss_mb(), 1), "releases": len(names), "source": "startup"}
        finally:
            warm.stop()
        log(f"    ready in {warm.ready_seconds:.2f} s; small repo, and git's own clones for comparison ...")
        small_url = small_url_factory(scratch / "small")
        small = start_bot(scratch / "small-bot", small_url, redis_url, label="startup-small")
        small.stop()
        shallow = _timed_clone(remote.url, scratch / "shallow", "--depth", "1")
        full = _timed_clone(remote.url, scratch / "full") if full_clone else None
    if after is None and burst_rss is not None:
        after = {"rss_mb_after": burst_rss["rss_mb_after"], "releases": burst_rss["releases"], "source": "burst"}
    return {
        "ready_first_clone_s": round(cold.ready_seconds, 2),
        "ready_restart_s": round(warm.ready_seconds, 2),
        "ready_small_repo_s": round(small.ready_seconds, 2),
        "target_ready_s": TARGET_READY_SECONDS,
        "git_clone_depth1_s": round(shallow, 2),
        "git_clone_full_s": round(full, 2) if full is not None else None,
        "rss_mb_idle_first": round(rss_cold, 1),
        "rss_mb_idle_restart": round(rss_warm, 1),
        "rss_after_burst": after,
    }
