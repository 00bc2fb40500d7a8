"""`python -m bench` (`make bench`): the bot against GOV.UK's clone-per-deploy workflow and Slack's limits.

    .venv/bin/python -m bench                 # everything, full sizes (several minutes)
    .venv/bin/python -m bench --quick         # small sizes, to check the benchmarks themselves
    .venv/bin/python -m bench --only deploys  # one benchmark (deploys, ack, burst, startup; comma-separated)

Each benchmark prints a table with the baseline and the bot side by side and their ratio; a last
table says which targets are met. Each run's figures go to bench/results-latest.json
(bench/results-quick.json for --quick; --only merges into the file), both ignored by git;
bench/reference.json holds the committed figures the README quotes and changes only on purpose.
The real-scale charts repository is built once into bench/.cache/ (about a minute) and reused.
All traffic is on loopback.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import (
    ack,
    ack_record,
    audit,
    baseline,
    burst,
    deploys,
    flood,
    interference,
    reconcile,
    repos,
    startup,
    status,
)
from bench.harness import redis_server

HERE = Path(__file__).resolve().parent
BENCHMARKS = (
    "deploys",
    "ack",
    "burst",
    "startup",
    "interference",
    "audit",
    "status",
    "reconcile",
    "ack_record",
    "flood",
)
SIZES = {
    "full": {
        "deploy_n": (10, 20, 50),
        "ack_commands": 50,
        "ack_ci": 100,
        "ack_rounds": 3,
        "releases": 60,
        "full_clone": True,
    },
    "quick": {"deploy_n": (5,), "ack_commands": 20, "ack_ci": 40, "ack_rounds": 1, "releases": 10, "full_clone": False},
}
AUDIT_RECORDS = {"full": 100_000, "quick": 10_000}
# each run's figures; bench/reference.json keeps the run the README quotes (copied from here on purpose)
LATEST = "results-latest.json"
STATUS_COMMANDS = {"full": 10, "quick": 3}
TARGET_SPEEDUP = 10.0
TARGET_N = 20


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# -- printing -----------------------------------------------------------------------------------


def table(title: str, headers: list[str], rows: list[list[Any]], notes: list[str] = ()) -> str:  # type: ignore[assignment]
    cells = [[str(h) for h in headers]] + [["—" if c is None else str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    line = "+".join("-" * (w + 2) for w in widths)
    out = [f"\n{title}", line]
    for index, row in enumerate(cells):
        out.append(
            "|".join(
                f" {c.rjust(w) if index and i else c.ljust(w)} "
                for i, (c, w) in enumerate(zip(row, widths, strict=True))
            )
        )
        if index == 0:
            out.append(line)
    out.append(line)
    out.extend(f"  {note}" for note in notes)
    return "\n".join(out)


def x(ratio: float | None) -> str | None:
    return None if ratio is None else f"{ratio:.1f}×"


def show_deploys(result: dict) -> str:
    rows = []
    for row in result["rows"]:
        b, m = row["baseline"], row["bot"]
        rows.append(
            [
                row["repo"],
                row["n"],
                f"{b['seconds']:.2f} s",
                f"{b['lost']}/{row['n']}",
                b["attempts_total"],
                f"{m['seconds']:.2f} s",
                f"{m['lost']}/{row['n']}",
                m["commits"],
                x(row["speedup"]),
            ]
        )
    return table(
        "1. Concurrent deploys: N deploys of different apps at once, time until all have landed on the remote",
        [
            "repo",
            "N",
            "baseline time",
            "baseline lost",
            "baseline attempts",
            "bot time",
            "bot lost",
            "bot commits",
            "speed-up",
        ],
        rows,
        [
            "baseline: per deploy `git clone --depth 1` (file://), edit, commit, push; whole step retried up to 5 times,",
            f"          backoff {baseline.BACKOFF_BASE:g} s × {baseline.BACKOFF_FACTOR:g}^k (1, 2, 4, 8, 16 s), no jitter, all N in threads at once.",
            "bot: `python -m bot serve`, N concurrent POST /update-image-tag; time from the first request until the",
            "     bare remote's files hold every expected tag (polled every 50 ms). speed-up = baseline time / bot time.",
            "big = real scale (cached, see meta); small = tests.support.charts.make_charts_remote (one seed commit).",
        ],
    )


def show_ack(result: dict) -> str:
    rows = [
        [
            f"round {r['round']}",
            r["commands"],
            f"{r['p50_ms']:.0f} ms",
            f"{r['p99_ms']:.0f} ms",
            f"{r['max_ms']:.0f} ms",
            f"{r['ci_deploys_streamed']} CI / {r['commits']} commits",
            f"{r['in_flight_at_burst']}",
            f"{r['lost']}",
        ]
        for r in result["per_round"]
    ]
    rows.append(
        [
            "all",
            result["samples"],
            f"{result['p50_ms']:.0f} ms",
            f"{result['p99_ms']:.0f} ms",
            f"{result['max_ms']:.0f} ms",
            "",
            "",
            f"{result['lost']}",
        ]
    )
    headroom = result["slack_limit_ms"] / result["p99_ms"] if result["p99_ms"] else None
    return table(
        "2. Ack latency: concurrent signed /deploy commands while deploys are being pushed (real-scale repo)",
        ["", "commands", "p50", "p99", "max", "deploys pushed meanwhile", "in flight at burst", "lost"],
        rows,
        [
            f"baseline: Slack's limit {result['slack_limit_ms']:.0f} ms; p99 is {x(headroom)} below it (target p99 < {result['target_p99_ms']:.0f} ms).",
            f"bot: {result['server']}; client threads in the benchmark process.",
            "in flight at burst: CI deploys accepted but not yet on the remote when the commands were sent (the writer was busy).",
            f"every command acked with 'Deploying…': {result['not_acked_ok'] == 0}; final reply on its response_url: "
            f"{result['no_final_reply'] == 0}; extra commits: {result['extra_commits']}.",
        ],
    )


def show_burst(result: dict) -> str:
    rows = [
        [
            result["releases"],
            f"{result['webhooks']} in {result['webhooks_sent_seconds']:.1f} s",
            f"{result['rate_limited_minimum_seconds']:.0f} s",
            f"{result['drain_seconds']:.1f} s" + ("" if result.get("drained_completely", True) else " (incomplete)"),
            f"{result['ratio_to_minimum']:.2f}",
            f"{result['post_message_calls']} / {result['update_calls']}",
            result["http_429"],
            result["slack_calls_per_release"],
            f"{result['lost']}",
            result["duplicate_cards"],
        ]
    ]
    return table(
        "3. Alert burst: full lifecycle in 3 environments per release, fake Slack at 1 post/s/channel (429s)",
        [
            "releases",
            "webhooks",
            "rate-limited minimum",
            "bot drain",
            "drain / minimum",
            "posts / updates",
            "429s",
            "Slack calls per release",
            "lost",
            "duplicate cards",
        ],
        rows,
        [
            "baseline: the rate-limited minimum = chat.postMessage calls needed × 1 s (the first post can go at once,",
            f"          so (posts − 1) s = {result['rate_limited_minimum_seconds'] - 1:.0f} s is the strict floor).",
            "bot: its own process, post_interval 1.0; drain from the first webhook until every card shows",
            "     'tests passed' in all 3 environments on the fake Slack (polled every 100 ms).",
            f"webhook answers: {result['webhook_statuses']}; RSS idle {result['rss_mb_idle']} MB, after {result['rss_mb_after']} MB.",
        ],
    )


def show_startup(result: dict) -> str:
    full = result["git_clone_full_s"]
    rows = [
        [
            "ready, first start (empty CHARTS_WORKDIR)",
            f"{result['ready_first_clone_s']:.2f} s",
            f"git clone (full): {full:.2f} s" if full else "git clone (full): not run",
            x(full / result["ready_first_clone_s"]) if full else None,
        ],
        [
            "ready, restart (kept working copy)",
            f"{result['ready_restart_s']:.2f} s",
            f"git clone --depth 1: {result['git_clone_depth1_s']:.2f} s",
            None,
        ],
        ["ready, small repo (first start)", f"{result['ready_small_repo_s']:.2f} s", "", None],
        ["RSS idle, first start", f"{result['rss_mb_idle_first']:.0f} MB", "", None],
        ["RSS idle, restart", f"{result['rss_mb_idle_restart']:.0f} MB", "", None],
    ]
    after = result.get("rss_after_burst")
    if after:
        rows.append(
            [f"RSS after a {after['releases']}-release alert burst", f"{after['rss_mb_after']:.0f} MB", "", None]
        )
    return table(
        "4. Start-up and memory: python -m bot serve on the real-scale repo (spawn until /readyz 200)",
        ["", "bot", "baseline (git alone)", "ratio"],
        rows,
        [
            "baseline: git's own clone of the same repository over file:// (the bot makes a --depth 1 clone itself);",
            "          the ready times include Python start-up and imports (see the small-repo row).",
            "RSS: VmRSS of the bot process from /proc/<pid>/status (git child processes not included).",
        ],
    )


def show_interference(result: dict) -> str:
    rows = [
        [
            f"{result['deploys_during_burst']} CI deploys, one after another",
            ", ".join(f"{s:.2f} s" for s in result["idle_seconds"]),
            ", ".join(f"{s:.2f} s" for s in result["during_burst_seconds"]),
            x(result["slowdown_max"]),
            result["bot_git_fetches_during_burst"],
        ]
    ]
    return table(
        f"5. (extra) A deploy during an alert burst of {result['releases']} releases: time to land on the remote",
        [
            "",
            "bot idle (baseline)",
            "during the burst",
            "worst / idle median",
            "git fetches by the bot during the burst",
        ],
        rows,
        [
            f"the burst's {result['passing_test_events_with_a_next_env']} passing-test events in integration and staging each ask "
            "the bot to decide on automatic promotion",
            "(none is possible here); it fetches only when ls-remote shows the branch moved, so deploys do not queue "
            f"behind fetches. Deploys sent {interference.PROBE_START:g} s into the burst.",
        ],
    )


def show_audit(result: dict) -> str:
    last = audit.LAST
    rows = [
        [
            row["read"],
            f"{row['baseline']['ms']:.1f} ms",
            f"{row['baseline']['peak_kib']:,.0f} KiB",
            f"{row['bot']['ms']:.1f} ms",
            f"{row['bot']['peak_kib']:,.0f} KiB",
            x(row["speedup"]),
            x(row["memory_ratio"]),
        ]
        for row in result["rows"]
    ]
    return table(
        f"6. Audit trail: {result['records']:,} records appended, then one app's last {last} read",
        ["read", "baseline time", "baseline peak", "bot time", "bot peak", "speed-up", "memory saved"],
        rows,
        [
            f"append: {result['records']:,} records one script call (XADD MAXLEN = {result['records']:,}, and the app's index) "
            f"at a time in {result['append_seconds']:.1f} s ({result['appends_per_second']:,}/s); stream {result['stream_mb']} MB "
            f"and per-app indexes {result.get('index_mb', 0)} MB in Redis, {result['kept']:,} kept.",
            "baseline: XRANGE of the whole stream, every record parsed, then filtered; bot: AuditTrail.read(app, limit=10),",
            "     the app's index read from its newest end, then one pipelined lookup of those entries. Time: best of 3; "
            "peak: tracemalloc (Python heap) in a separate run.",
        ],
    )


def show_status(result: dict) -> str:
    rows = [
        [
            row["row"],
            row["commands"],
            f"{row['ack_ms_max']:.0f} ms",
            f"{row['answer_s_p50']:.2f} s",
            f"{row['answer_s_max']:.2f} s",
            "—" if row["baseline_s"] is None else f"{row['baseline_s']:.2f} s",
            "yes" if row["within_slack_limit"] and row["complete"] else "NO",
        ]
        for row in result["rows"]
    ]
    return table(
        "7. /deploy status across 3 environments: ack, then the full answer through response_url",
        [
            "sources",
            "commands",
            "ack max",
            "answer p50",
            "answer max",
            "one by one",
            f"< {result['limit_seconds']:g} s",
        ],
        rows,
        [
            "bot: 3 Argo CD reads and 2 GitHub compares at once, each bounded to 2 s, the whole to 2.5 s; a source",
            "     that does not answer in time is a line saying so. 'one by one': the same 5 reads made sequentially.",
        ],
    )


# -- targets ------------------------------------------------------------------------------------


def targets(results: dict) -> list[dict[str, str]]:
    out = []
    parts, bad = [], False
    if "deploys" in results:
        rows = results["deploys"]["rows"]
        lost = sum(r["bot"]["lost"] for r in rows)
        extra = sum(max(0, r["bot"]["commits"] - r["n"]) for r in rows)
        parts.append(f"deploys {lost}/{sum(r['n'] for r in rows)} ({len(rows)} runs, {extra} extra commits)")
        bad |= bool(lost or extra)
    if "ack" in results:
        a = results["ack"]
        total = a["rounds"] * (a["commands_per_round"] + a["ci_deploys_per_round"])
        parts.append(f"ack {a['lost']}/{total} ({a['extra_commits']} extra commits)")
        bad |= bool(a["lost"] or a["extra_commits"] or a["not_acked_ok"] or a["no_final_reply"])
    if "burst" in results:
        b = results["burst"]
        parts.append(f"burst {b['lost']}/{b['releases']} cards ({b['duplicate_cards']} duplicate)")
        bad |= bool(b["lost"] or b["duplicate_cards"])
    if parts:
        out.append(
            {"target": "zero lost everywhere (bot)", "status": "MISSED" if bad else "MET", "figure": "; ".join(parts)}
        )
    if "deploys" in results:
        row = next((r for r in results["deploys"]["rows"] if r["repo"] == "big" and r["n"] == TARGET_N), None)
        if row is None:
            out.append(
                {
                    "target": f"≥ {TARGET_SPEEDUP:g}× faster at N={TARGET_N}, big repo",
                    "status": "NOT RUN",
                    "figure": f"N={TARGET_N} not in this run",
                }
            )
        else:
            out.append(
                {
                    "target": f"≥ {TARGET_SPEEDUP:g}× faster at N={TARGET_N}, big repo",
                    "status": "MET" if row["speedup"] >= TARGET_SPEEDUP else "MISSED",
                    "figure": f"{row['speedup']:.1f}× ({row['baseline']['seconds']:.2f} s vs {row['bot']['seconds']:.2f} s)",
                }
            )
    if "ack" in results:
        a = results["ack"]
        out.append(
            {
                "target": f"ack p99 < {a['target_p99_ms']:.0f} ms",
                "status": "MET" if a["p99_ms"] < a["target_p99_ms"] else "MISSED",
                "figure": f"p99 {a['p99_ms']:.0f} ms (p50 {a['p50_ms']:.0f}, max {a['max_ms']:.0f}; Slack limit 3000)",
            }
        )
    if "burst" in results:
        b = results["burst"]
        out.append(
            {
                "target": f"drain ≤ {b['target_ratio']:g}× the rate-limited minimum",
                "status": "MET" if b["ratio_to_minimum"] <= b["target_ratio"] and b["lost"] == 0 else "MISSED",
                "figure": f"{b['ratio_to_minimum']:.2f}× ({b['drain_seconds']:.1f} s vs {b['rate_limited_minimum_seconds']:.0f} s)",
            }
        )
    if "startup" in results:
        s = results["startup"]
        worst = max(s["ready_first_clone_s"], s["ready_restart_s"])
        out.append(
            {
                "target": f"ready < {s['target_ready_s']:g} s on the big repo",
                "status": "MET" if worst < s["target_ready_s"] else "MISSED",
                "figure": f"first start {s['ready_first_clone_s']:.2f} s, restart {s['ready_restart_s']:.2f} s",
            }
        )
    if "flood" in results:
        f = results["flood"]
        out.append(
            {
                "target": f"a flood adds ≤ {f['goal_s']:g} s to a real deploy's card and failure reply",
                "status": "MET" if f["met"] else "MISSED",
                "figure": f"+{f['added_card_s']:.2f} s card, +{f['added_reply_s']:.2f} s failure reply "
                f"({f['flood']['webhooks']} webhooks, {f['flood']['answers'].get('429', 0)} answered 429)",
            }
        )
    return out


def show_targets(rows: list[dict[str, str]]) -> str:
    return table("Targets", ["target", "status", "figure"], [[r["target"], r["status"], r["figure"]] for r in rows])


# -- running ------------------------------------------------------------------------------------


def meta(mode: str, redis_description: str, big: repos.BigRepo) -> dict[str, Any]:
    git_version = subprocess.run(["git", "--version"], capture_output=True, text=True, check=False).stdout.strip()
    return {
        "mode": mode,
        "date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
        "python": platform.python_version(),
        "git": git_version,
        "cpus": os.cpu_count(),
        "load_average_at_start": [round(v, 2) for v in os.getloadavg()],
        "platform": platform.platform(),
        "redis": redis_description,
        "big_repo": big.info,
        "baseline": {
            "retry_limit": baseline.RETRY_LIMIT,
            "backoff_base_s": baseline.BACKOFF_BASE,
            "backoff_factor": baseline.BACKOFF_FACTOR,
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="small sizes (checks the benchmarks; targets judged on less)"
    )
    parser.add_argument("--only", metavar="NAME", help=f"comma-separated subset of: {', '.join(BENCHMARKS)}")
    parser.add_argument(
        "--output", type=Path, help="where to write the JSON (default bench/results-latest.json, -quick with --quick)"
    )
    args = parser.parse_args(argv)
    chosen = BENCHMARKS if not args.only else tuple(n.strip() for n in args.only.split(",") if n.strip())
    unknown = [n for n in chosen if n not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")
    mode = "quick" if args.quick else "full"
    sizes = SIZES[mode]
    output = args.output or HERE / ("results-quick.json" if args.quick else LATEST)

    big = repos.big_repo(log=log)
    results: dict[str, Any] = {}
    printed: list[str] = []
    began = time.monotonic()
    with redis_server() as (redis_url, redis_description), tempfile.TemporaryDirectory(prefix="bench-") as folder:
        info = meta(mode, redis_description, big)
        load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
        print(
            f"bench ({mode}) on {os.cpu_count()} CPUs, load average {load} at start; store: {redis_description}",
            flush=True,
        )
        log(
            f"bench ({mode}): big repo {big.info['commits']:,} commits, {big.info['files']} files, "
            f"{big.info['pack_mb']} MB pack; store: {redis_description}"
        )
        steps = {
            "deploys": (
                "1. concurrent deploys",
                lambda: deploys.run(
                    {"big": big.remote(), "small": repos.small_repo(Path(folder) / "small")},
                    sizes["deploy_n"],
                    redis_url,
                    log,
                ),
                show_deploys,
            ),
            "ack": (
                "2. ack latency",
                lambda: ack.run(
                    big.path,
                    redis_url,
                    commands=sizes["ack_commands"],
                    background=sizes["ack_ci"],
                    rounds=sizes["ack_rounds"],
                    log=log,
                ),
                show_ack,
            ),
            "burst": (
                "3. alert burst (paced by Slack's limit: about one second per release)",
                lambda: burst.run(big.path, redis_url, releases=sizes["releases"], log=log),
                show_burst,
            ),
            "startup": (
                "4. start-up and memory",
                lambda: startup.run(
                    big.path,
                    lambda where: repos.small_repo(where).url,
                    redis_url,
                    full_clone=sizes["full_clone"],
                    burst_rss=results.get("burst"),
                    log=log,
                ),
                show_startup,
            ),
            "interference": (
                "5. (extra) a deploy during an alert burst",
                lambda: interference.run(big.path, redis_url, releases=sizes["releases"], log=log),
                show_interference,
            ),
            "audit": (
                "6. audit trail: append, then read one app's last 10",
                lambda: audit.run(redis_url, records=AUDIT_RECORDS[mode], log=log),
                show_audit,
            ),
            "status": (
                "7. /deploy status with Argo CD and GitHub each taking 1 s",
                lambda: status.run(redis_url, commands=STATUS_COMMANDS[mode], log=log),
                show_status,
            ),
            "reconcile": (
                "8. reconciliation pass over 700 apps × 3 environments, and a lost webhook to the card",
                lambda: reconcile.run(redis_url, quick=args.quick, log=log),
                reconcile.show,
            ),
            "ack_record": (
                "9. what recording each request before its ack costs the ack",
                lambda: ack_record.run(redis_url, quick=args.quick, log=log),
                ack_record.show,
            ),
            "flood": (
                "10. a flood of webhooks for made-up releases while 10 real deploys run",
                lambda: flood.run(redis_url, quick=args.quick, log=log),
                flood.show,
            ),
        }
        for name, (title, run, show) in steps.items():  # in this order: startup reads the burst's RSS
            if name in chosen:
                log(title)
                results[name] = run()
                printed.append(show(results[name]))
                print(printed[-1], flush=True)

    previous: dict[str, Any] = {}
    if args.only and output.is_file():
        try:
            previous = json.loads(output.read_text()).get("benchmarks", {})
        except (ValueError, AttributeError):
            previous = {}
    merged = {**previous, **results}
    verdicts = targets(merged)
    print(show_targets(verdicts), flush=True)
    info["seconds"] = round(time.monotonic() - began, 1)
    info["load_average_at_end"] = [round(v, 2) for v in os.getloadavg()]
    output.write_text(json.dumps({"meta": info, "benchmarks": merged, "targets": verdicts}, indent=2) + "\n")
    log(f"\nfigures written to {output.relative_to(Path.cwd()) if output.is_relative_to(Path.cwd()) else output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
