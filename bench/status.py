"""Benchmark 7: `/deploy status` for an app across 3 environments, with Argo CD and GitHub each taking 1 s.

The bot runs as `python -m bot serve` on a real Redis, with three fake Argo CD servers (one per
environment, each with a token) and the fake GitHub's compare endpoint, every one of them waiting
1 s before it answers. Signed `/deploy status whitehall` commands are sent one after another; for
each, the time to the ack (the HTTP answer to Slack) and to the full answer at its response_url.

- bot: the 3 Argo CD reads and 2 compares at once, each bounded (2 s), the whole within 2.5 s;
- baseline: the same 5 reads one after another, as a straightforward implementation would make
  them (measured here with httpx against the same fakes).

A second row sends them all at the same moment; a third makes every source hang (6 s): the
answer must still come, with a line per source, within Slack's 3 s.

    .venv/bin/python -m bench.status [--commands N]   # this benchmark alone, on a throwaway Redis
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from bench.harness import Bot, start_bot
from tests.fakes import FakeArgoCD, FakeGitHub, FakeSlack
from tests.support.app import USERS, run_concurrently
from tests.support.charts import make_charts_remote

ENVIRONMENTS = ("integration", "staging", "production")
TAGS = {"integration": "v3232", "staging": "v3231", "production": "v3230"}  # the seeded charts remote's whitehall
SLOW = 1.0
HANG = 6.0
SLACK_LIMIT = 3.0


def _config(folder: Path, argo: dict[str, FakeArgoCD]) -> str:
    lines = ["environments:"]
    for env, team in zip(ENVIRONMENTS, ("gov-uk", "gov-uk-production", "gov-uk-production"), strict=True):
        lines.append(f"  - {{name: {env}, team: {team}, argocd_url: '{argo[env].url}', workflows_url: 'https://wf'}}")
    lines.append("users:")
    lines.extend(f"  {slack}: {login}" for slack, login in USERS.items())
    path = folder / "status-config.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(path)


def _slow_everything(argo: dict[str, FakeArgoCD], github: FakeGitHub, seconds: float) -> None:
    for env, server in argo.items():
        server.slow_seconds = seconds
        server.set_app("whitehall", image_tag=TAGS[env])
    github.set_compare("whitehall", TAGS["staging"], TAGS["integration"], ahead_by=1, slow_seconds=seconds)
    github.set_compare("whitehall", TAGS["production"], TAGS["staging"], ahead_by=1, slow_seconds=seconds)


def _ask(bot: Bot, name: str) -> dict[str, float | str]:
    started = time.perf_counter()
    response = bot.process.slash("status whitehall", response_url=bot.slack.response_url(name))
    ack = time.perf_counter() - started
    (answer,) = bot.slack.wait_for_response(name, timeout=30)
    return {
        "ack_s": ack,
        "answer_s": time.perf_counter() - started,
        "status": response.status_code,
        "text": answer["text"],
    }  # noqa: E501


def _sequential(argo: dict[str, FakeArgoCD], github: FakeGitHub) -> float:
    """The baseline: the same five reads, one after another."""
    started = time.perf_counter()
    with httpx.Client(timeout=30) as http:
        for env in ENVIRONMENTS:
            http.get(f"{argo[env].url}/api/v1/applications", headers={"Authorization": f"Bearer argo-{env}"})
        for base, head in ((TAGS["staging"], TAGS["integration"]), (TAGS["production"], TAGS["staging"])):
            http.get(
                f"{github.url}/repos/alphagov/whitehall/compare/{base}...{head}",
                headers={"Authorization": f"Bearer {github.token}"},
            )
    return time.perf_counter() - started


def _row(label: str, asked: list[dict[str, Any]], baseline: float | None) -> dict[str, Any]:
    answers = [a["answer_s"] for a in asked]
    return {
        "row": label,
        "commands": len(asked),
        "ack_ms_max": round(max(a["ack_s"] for a in asked) * 1000, 1),
        "answer_s_p50": round(statistics.median(answers), 2),
        "answer_s_max": round(max(answers), 2),
        "baseline_s": None if baseline is None else round(baseline, 2),
        "within_slack_limit": max(answers) < SLACK_LIMIT and all(a["status"] == 200 for a in asked),
        "complete": all("• *production*" in a["text"] for a in asked),
        "sources_not_answered": sum(str(a["text"]).count("didn't answer") for a in asked),
    }


def run(redis_url: str, *, commands: int = 5, log: Callable[[str], None] = print) -> dict[str, Any]:
    folder = Path(tempfile.mkdtemp(prefix="bench-status-"))
    argo = {env: FakeArgoCD(token=f"argo-{env}").start() for env in ENVIRONMENTS}
    slack, github = FakeSlack().start(), FakeGitHub().start()
    bot: Bot | None = None
    try:
        remote = make_charts_remote(folder)
        tokens = {f"ARGOCD_TOKEN_{env.upper()}": f"argo-{env}" for env in ENVIRONMENTS}
        bot = start_bot(
            folder / "bot",
            remote.url,
            redis_url,
            slack=slack,
            github=github,
            label="status",
            BOT_CONFIG=_config(folder, argo),
            RECONCILE_SECONDS="0",
            **tokens,
        )
        rows = []
        _slow_everything(argo, github, SLOW)
        baseline = _sequential(argo, github)
        log(
            f"  {commands} × /deploy status, every source {SLOW:g} s slow (the same reads one by one: {baseline:.2f} s)"
        )
        asked = [_ask(bot, f"slow-{n}") for n in range(commands)]
        rows.append(_row(f"Argo CD ×3 and GitHub ×2 each {SLOW:g} s", asked, baseline))
        log(f"  {commands} × /deploy status at the same moment, every source {SLOW:g} s slow")
        together = run_concurrently([lambda n=n: _ask(bot, f"together-{n}") for n in range(commands)])
        rows.append(_row(f"the same, {commands} people asking at once", together, None))
        _slow_everything(argo, github, HANG)
        log(f"  {commands} × /deploy status, every source hanging {HANG:g} s")
        asked = [_ask(bot, f"hang-{n}") for n in range(commands)]
        row = _row(f"every source hanging {HANG:g} s", asked, None)
        row["lines_saying_so"] = all(
            a["text"].count("didn't answer") == len(ENVIRONMENTS) + len(ENVIRONMENTS) - 1 for a in asked
        )
        rows.append(row)
        return {"rows": rows, "slow_seconds": SLOW, "hang_seconds": HANG, "limit_seconds": SLACK_LIMIT}
    finally:
        if bot is not None:
            bot.stop()  # stops the fake Slack and GitHub too
        else:
            slack.stop()
            github.stop()
        for server in argo.values():
            server.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.status", description=__doc__.splitlines()[0])
    parser.add_argument("--commands", type=int, default=5)
    args = parser.parse_args(argv)
    from bench.__main__ import show_status
    from bench.harness import redis_server

    with redis_server() as (url, _):
        result = run(url, commands=args.commands, log=lambda m: print(m, file=sys.stderr, flush=True))
    print(show_status(result))
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
