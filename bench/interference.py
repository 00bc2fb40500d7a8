"""Benchmark 5 (extra): how long a deploy takes to land while an alert burst is being handled.

Found while building the alert burst: every passing smokey event for an environment that has a
next one used to make the bot re-sync its working copy (`git fetch`, `reset --hard`, `clean -fdx`,
`rev-parse`) to decide on automatic promotion, under the working-copy lock the charts writer
needs, even when the release could not be promoted (a deploy then took 4.8 s instead of 0.15 s).
The bot now decides from its snapshot and fetches only when the branch moved. This measures what
a burst does to a CI deploy (`POST /update-image-tag`) sent during it, against the same deploy with the bot idle. The burst is the alert-burst lifecycle (R releases,
9 × R webhooks within 2 s), the fake Slack without a rate limit (Slack does not matter here).

A `git` wrapper first on the bot's PATH counts the bot's git commands (one `sh` exec each).
"""

from __future__ import annotations

import os
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bench import burst
from bench.harness import start_bot, wait_landed
from bench.repos import app_names, fresh_copy

PROBES = 3
PROBE_START = 0.8  # seconds into the burst: passing-test events for integration are arriving
PROBE_APPS = ("whitehall", "signon", "router", "frontend", "collections", "static")


def _git_wrapper(folder: Path) -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    calls = folder / "calls.log"
    calls.write_text("")
    real = "/usr/bin/git" if Path("/usr/bin/git").exists() else "git"
    script = folder / "git"
    script.write_text(f'#!/bin/sh\necho "$1" >> "{calls}"\nexec {real} "$@"\n')
    script.chmod(0o755)
    return folder, calls


def run(big_source: Path, redis_url: str, *, releases: int, log) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    names = app_names()
    chosen = [(names[i % len(names)], f"v{80_000 + i}") for i in range(releases)]
    with tempfile.TemporaryDirectory(prefix="bench-interference-") as folder:
        scratch = Path(folder)
        remote = fresh_copy(big_source, scratch / "remote.git")
        wrapper, calls = _git_wrapper(scratch / "git-wrapper")
        bot = start_bot(
            scratch / "bot",
            remote.url,
            redis_url,
            label="interference",
            PATH=f"{wrapper}:{os.environ.get('PATH', '')}",
            **burst.CLUSTER_SETTINGS,
        )

        def deploy(app: str, tag: str) -> float:
            started = time.monotonic()
            bot.process.webhook("/update-image-tag", {"environment": "production", "repoName": app, "imageTag": tag})
            return wait_landed(remote, {("production", app): tag}, started, 120, interval=0.01).seconds

        try:
            idle = [deploy(app, "v77001") for app in PROBE_APPS[:PROBES]]
            log(f"  idle: {', '.join(f'{s:.2f}' for s in idle)} s; now during a {releases}-release burst ...")
            calls.write_text("")
            sender = threading.Thread(
                target=burst.send_burst,
                args=(bot.process.base_url, burst.lifecycle(chosen), burst.SEND_WINDOW),
                daemon=True,
            )
            sender.start()
            time.sleep(0.2 + PROBE_START)  # send_burst starts 0.2 s after it is called
            during = [deploy(app, "v77002") for app in PROBE_APPS[PROBES : 2 * PROBES]]
            sender.join(60)
            time.sleep(3.0)
            commands = [line.strip() for line in calls.read_text().splitlines() if line.strip()]
        finally:
            bot.stop()
    fetches = commands.count("fetch")
    return {
        "releases": releases,
        "passing_test_events_with_a_next_env": releases * 2,
        "idle_seconds": [round(s, 2) for s in idle],
        "during_burst_seconds": [round(s, 2) for s in during],
        "idle_median_s": round(statistics.median(idle), 2),
        "during_median_s": round(statistics.median(during), 2),
        "during_max_s": round(max(during), 2),
        "slowdown_max": round(max(during) / statistics.median(idle), 1),
        "bot_git_fetches_during_burst": fetches,
        "bot_git_commands_during_burst": len(commands),
        "deploys_during_burst": PROBES,
    }
