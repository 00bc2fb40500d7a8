"""An app's last deploys and how each ended (`/deploy history`), from the audit trail.

A deploy is one request that ended: an audit record `deploy_committed`, `deploy_failed`,
`deploy_refused` or `deploy_held` (every accepted request ends in exactly one of them; a
refusal on the ack path, such as an unknown environment, is one too). How it ended:

- committed: the last sync or test outcome recorded for that release in that environment after
  the commit and before the next commit of the app there (`tests passed`, `tests failed`,
  `synced`, `sync failed`, `degraded`, `syncing`; the trail records only outcomes that moved the
  release on, so the last is the furthest), else `committed` (no outcome yet). Draft stacks'
  outcomes are not the release's and are passed over;
- failed (with the reason), refused (with the reason; "already running" when the environment
  already ran the tag), held.

Why the audit trail and not a list of its own: the trail already holds every one of these
records, written by every replica in one atomic append, capped, and read by app through its
per-app index (`AuditTrail.read(app=…, limit=…)`: a few lookups, however rare the app). The index
holds only entry IDs, written by the same atomic append as the record, so it cannot disagree with
the trail; a second list of deploys, written at other moments, could after a crash.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

LIMIT = 10
ENDINGS = ("deploy_committed", "deploy_failed", "deploy_refused", "deploy_held")
OUTCOMES = ("sync_outcome", "test_outcome")
FIRST_READ = 200  # records; doubled until LIMIT deploys are found or the trail has no more
MAX_READ = 50_000


@dataclass(frozen=True)
class PastDeploy:
    at: str  # ISO 8601 UTC, as recorded
    app: str
    env: str | None
    tag: str | None
    actor: Any  # "CI" or {"slack": …, "github": …}
    ended: str  # committed, synced, syncing, sync_failed, degraded, tests_passed, tests_failed, failed, refused, unchanged, held
    reason: str | None = None
    commit: str | None = None


def past_deploys(records: Iterable[Mapping[str, Any]], limit: int = LIMIT) -> list[PastDeploy]:
    """The newest `limit` deploys among `records` (oldest first, as `AuditTrail.read` gives them), newest first."""
    found: list[PastDeploy] = []
    # (app, env, tag) -> the last outcome recorded after the record at hand and before any newer commit there
    latest_outcome: dict[tuple[str, str, str], str] = {}
    for doc in reversed(list(records)):
        action, app, env, tag = doc.get("action"), doc.get("app"), doc.get("env"), doc.get("tag")
        if not isinstance(app, str):
            continue
        if action in OUTCOMES and isinstance(env, str) and isinstance(tag, str) and not _draft(doc, app):
            latest_outcome.setdefault((app, env, tag), str(doc.get("outcome")))  # newest first: the last one wins
            continue
        if action not in ENDINGS:
            continue
        ended, reason = _ending(doc)
        if action == "deploy_committed" and isinstance(env, str) and isinstance(tag, str):
            ended = latest_outcome.get((app, env, tag), "committed")
            # the outcomes kept so far came after this commit: any older one belongs to an older deploy
            for key in [k for k in latest_outcome if k[0] == app and k[1] == env]:
                del latest_outcome[key]
        if len(found) < limit:
            found.append(
                PastDeploy(
                    at=str(doc.get("at") or ""),
                    app=app,
                    env=env if isinstance(env, str) else None,
                    tag=tag if isinstance(tag, str) else None,
                    actor=doc.get("actor"),
                    ended=ended,
                    reason=reason,
                    commit=doc.get("commit") if isinstance(doc.get("commit"), str) else None,
                )
            )
        if len(found) >= limit:
            break
    return found


def _ending(doc: Mapping[str, Any]) -> tuple[str, str | None]:
    reason = doc.get("reason") if isinstance(doc.get("reason"), str) else None
    match doc.get("action"):
        case "deploy_failed":
            return "failed", reason
        case "deploy_refused":
            return ("unchanged", None) if doc.get("outcome") == "unchanged" else ("refused", reason)
        case "deploy_held":
            return "held", reason
    return "committed", None


def _draft(doc: Mapping[str, Any], app: str) -> bool:
    application = doc.get("application")
    return isinstance(application, str) and application.startswith("draft-") and application != app


Read = Callable[[int], list[dict[str, Any]]]  # limit -> the newest `limit` matching records, oldest first


def read_history(read: Read, limit: int = LIMIT) -> list[PastDeploy]:
    """The last `limit` deploys, reading the trail's newest records first and more only when needed."""
    count = FIRST_READ
    while True:
        records = read(count)
        found = past_deploys(records, limit)
        if len(found) >= limit or len(records) < count or count >= MAX_READ:
            return found
        count = min(count * 4, MAX_READ)
