"""Benchmark 6: the audit trail at its full length, and reading the last 10 records of one app.

N records (100,000 = the default AUDIT_MAX_ENTRIES) are appended one at a time through
`AuditTrail.record`, one script call each (the record, its app's index entry), as the bot writes
them, to a throwaway key prefix on a real Redis; 60 apps take turns (one in 60 records is the busy
app's), after a rare app's 10 records, the oldest of all. Then the last 10 records of each are read
two ways, each timed (best of 3, without tracemalloc, which slows Python down) and measured for
peak Python memory (tracemalloc, a separate run):

- bot: `AuditTrail.read(app=…, limit=10)`: the app's index, read from its newest end, and one
  pipelined lookup of those entries: the same few reads for a busy app and for a rare one;
- baseline: the naive read: one XRANGE of the whole stream, every entry parsed, then filtered.

(Before the index, the bot paged the stream backwards until it had 10 of the app's: 16 ms for the
busy app, but 3.0 s for the rare one, whose records are the oldest: the whole stream was read.)

    .venv/bin/python -m bench.audit [--records N]   # this benchmark alone, on a throwaway Redis
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import sys
import time
import tracemalloc
import uuid
from collections.abc import Callable
from typing import Any

from bot.audit import FIELD, Action, AuditTrail
from bot.releases.model import Requester
from bot.store import Store, connect

APPS = 60
LAST = 10
BUSY_APP = "app-07"
RARE_APP = "rare-app"
REPEATS = 3


def naive_last(trail: AuditTrail, app: str, limit: int) -> list[dict[str, Any]]:
    """What a reader without paging does: the whole stream at once, then filter."""
    everything = [json.loads(fields[FIELD]) for _, fields in trail.store.client.xrange(trail.key)]
    return [doc for doc in everything if doc.get("app") == app][-limit:]


def measure(read: Callable[[], list[dict[str, Any]]]) -> dict[str, Any]:
    seconds = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        found = read()
        seconds.append(time.perf_counter() - started)
    gc.collect()
    tracemalloc.start()
    try:
        read()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return {"ms": round(min(seconds) * 1000, 1), "peak_kib": round(peak / 1024, 1), "found": len(found)}


def run(redis_url: str, *, records: int = 100_000, log: Callable[[str], None] = print) -> dict[str, Any]:
    client = connect(redis_url)
    store = Store(client, f"bench:audit:{uuid.uuid4().hex}:")
    trail = AuditTrail(store, max_entries=records)
    audit_log = logging.getLogger("bot.audit")
    was_disabled, audit_log.disabled = audit_log.disabled, True  # 100,000 log lines would time the terminal
    person = Requester("U012AB3CD", "octocat")
    try:
        log(f"  appending {records:,} audit records one script call at a time ...")
        started = time.perf_counter()
        for number in range(records):
            app = RARE_APP if number < LAST else f"app-{number % APPS:02d}"
            trail.record(
                Action.DEPLOY_COMMITTED,
                actor=person if number % 3 else "CI",
                app=app,
                env=("integration", "staging", "production")[number % 3],
                tag=f"v{number}",
                deploy_id=uuid.UUID(int=number).hex,
                commit=f"{number:040x}",
            )
        append_seconds = time.perf_counter() - started
        stream_mb = (client.memory_usage(trail.key) or 0) / 1e6
        index_mb = sum((client.memory_usage(key) or 0) for key in client.scan_iter(store.key("audit:app:*"))) / 1e6
        rows = []
        for label, app in (
            (f"last {LAST} of a busy app (1 in {APPS})", BUSY_APP),
            (f"a rare app's {LAST}, the oldest", RARE_APP),
        ):
            log(f"  reading {label} ...")
            bot = measure(lambda app=app: trail.read(app=app, limit=LAST))
            baseline = measure(lambda app=app: naive_last(trail, app, LAST))
            if bot["found"] != LAST or baseline["found"] != LAST:
                raise AssertionError(f"{label}: found {bot['found']} (bot), {baseline['found']} (baseline)")
            rows.append(
                {
                    "read": label,
                    "bot": bot,
                    "baseline": baseline,
                    "speedup": round(baseline["ms"] / bot["ms"], 1) if bot["ms"] else None,
                    "memory_ratio": round(baseline["peak_kib"] / bot["peak_kib"], 1) if bot["peak_kib"] else None,
                }
            )
        return {
            "records": records,
            "kept": client.xlen(trail.key),
            "append_seconds": round(append_seconds, 2),
            "appends_per_second": round(records / append_seconds),
            "stream_mb": round(stream_mb, 1),
            "index_mb": round(index_mb, 1),
            "rows": rows,
        }
    finally:
        audit_log.disabled = was_disabled
        for key in client.scan_iter(store.key("*")):
            client.delete(key)
        client.close()


def main(argv: list[str] | None = None) -> int:
    from bench.harness import redis_server

    parser = argparse.ArgumentParser(prog="python -m bench.audit", description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    args = parser.parse_args(argv)
    with redis_server() as (redis_url, description):
        print(f"store: {description}", file=sys.stderr)
        result = run(redis_url, records=args.records, log=lambda m: print(m, file=sys.stderr, flush=True))
    from bench.__main__ import show_audit

    print(show_audit(result))
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
