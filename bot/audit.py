"""The audit trail: one record per decision, kept in capped Redis streams and logged.

Two streams, each trimmed exactly (`XADD … MAXLEN =`) to the newest AUDIT_MAX_ENTRIES records:
`audit` holds the decisions that changed something (a commit, promotion, hold, freeze, override,
rollback, link, approval…), `audit:other` what anyone may cause without changing anything
(requests, refusals, failures, outcomes). So no number of refusals pushes a decision out of the
trail (SPEC 12). One Slack user's refusals are recorded at most REFUSALS_A_MINUTE a minute; the
rest are counted, and each minute's count becomes one record once the minute is over.

Reads of one app (`/deploy history`, `python -m bot audit --app`) go through its indexes,
`audit:app:<app>` and `audit:app:<app>:other`: streams holding the IDs of the app's entries in each
stream (entries of their own with the same IDs, no data). An app's last 10 records cost a short
read of each and one pipelined lookup, however rare the app and however long the trail; IDs older
than a stream's oldest entry (trimmed away) are never looked up. Every record is appended, with its
index entry and its count, by one Lua script: one atomic step, so any number of replicas can write
the same trail.

Writing a record never blocks a decision: with the store down, the record is still logged, with
a warning that says it was not stored, and the caller goes on.
"""

from __future__ import annotations

import argparse
import heapq
import json
import logging
import os
import queue
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, TextIO

from bot.store import Store, StoreError

log = logging.getLogger("bot.audit")

STREAM = "audit"  # decisions that changed something
OTHER_STREAM = "audit:other"  # requests, refusals, failures and outcomes
INDEX = "audit:app"  # audit:app:<app> and audit:app:<app>:other: the IDs of an app's entries in each stream
LAST_ID = "audit:last-id"  # the last entry ID given, in either stream
EARLIER_INDEXED = "audit:earlier-indexed"  # set once the records from before the index have an index too
REFUSALS_COUNTED = "audit:refused"  # audit:refused:<slack user>:<minute>: that minute's refusals so far
REFUSALS_TO_SUM_UP = "audit:refused:due"  # "<slack user>|<minute>" scored by the minute's end
REFUSALS_A_MINUTE = 10
COUNT_KEPT_SECONDS = 3600  # a minute's count outlives the minute long enough to be summed up
FIELD = "record"
FIRST_PAGE = 50
READ_PAGE = 1000
# Filled only where given, in this order, after the fields every record has.
OPTIONAL_FIELDS = ("outcome", "reason", "deploy_id", "commit")
# Attributes of logging.LogRecord: an extra field with one of these names would break the log call.
_LOG_RECORD_ATTRIBUTES = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class Action(StrEnum):
    DEPLOY_REQUESTED = "deploy_requested"
    DEPLOY_REFUSED = "deploy_refused"
    DEPLOY_COMMITTED = "deploy_committed"
    DEPLOY_FAILED = "deploy_failed"
    DEPLOY_HELD = "deploy_held"
    HOLD_RELEASED = "hold_released"
    PROMOTED = "promoted"
    SYNC_OUTCOME = "sync_outcome"
    TEST_OUTCOME = "test_outcome"
    FREEZE = "freeze"
    UNFREEZE = "unfreeze"
    OVERRIDE = "override"
    ROLLBACK = "rollback"
    LINKED = "linked"
    UNLINKED = "unlinked"
    APPROVAL_REQUESTED = "approval_requested"
    APPROVED = "approved"
    DENIED = "denied"
    EXPIRED = "expired"


# The decisions that changed something: refusals and the like can never push these out (SPEC 12)
CHANGED_SOMETHING = frozenset(
    {
        Action.DEPLOY_COMMITTED,
        Action.DEPLOY_HELD,
        Action.HOLD_RELEASED,
        Action.PROMOTED,
        Action.FREEZE,
        Action.UNFREEZE,
        Action.OVERRIDE,
        Action.ROLLBACK,
        Action.LINKED,
        Action.UNLINKED,
        Action.APPROVAL_REQUESTED,
        Action.APPROVED,
        Action.DENIED,
        Action.EXPIRED,
    }
)

# KEYS: stream, its app index or "", refusal count or "", refusals to sum up, the last entry ID given
# ARGV: max entries, refusals a minute, count TTL, due member, due at, fields…
# Entry IDs come from one sequence for both streams (the server's time in ms, then a counter), so
# records of the two streams merge back into the one order in which they were written.
_APPEND = """
if KEYS[6] ~= "" and not redis.call("SET", KEYS[6], "1", "NX", "EX", 2592000) then
  return ""
end
if KEYS[3] ~= "" then
  local count = redis.call("INCR", KEYS[3])
  if count == 1 then redis.call("EXPIRE", KEYS[3], ARGV[3]) end
  if count > tonumber(ARGV[2]) then
    if count == tonumber(ARGV[2]) + 1 then redis.call("ZADD", KEYS[4], ARGV[5], ARGV[4]) end
    return false
  end
end
local now = redis.call("TIME")
local millis = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local sequence = 0
local newest = redis.call("XREVRANGE", KEYS[1], "+", "-", "COUNT", 1)
for _, last in ipairs({redis.call("GET", KEYS[5]), newest[1] and newest[1][1]}) do
  local last_millis, last_sequence = string.match(last or "", "^(%d+)-(%d+)$")
  if last_millis then
    last_millis, last_sequence = tonumber(last_millis), tonumber(last_sequence)
    if millis < last_millis or (millis == last_millis and sequence <= last_sequence) then
      millis, sequence = last_millis, last_sequence + 1
    end
  end
end
local id = string.format("%d-%d", millis, sequence)
redis.call("SET", KEYS[5], id)
redis.call("XADD", KEYS[1], "MAXLEN", "=", ARGV[1], id, unpack(ARGV, 6))
if KEYS[2] ~= "" then
  redis.call("XADD", KEYS[2], "MAXLEN", "=", ARGV[1], id, "p", "")
end
return id
"""


def actor_of(who: Any) -> str | dict[str, str | None]:
    """`"CI"` or `{"slack": …, "github": …}` from a Requester-like object, a dict, None or "CI"."""
    if who is None or who == "CI":
        return "CI"
    if isinstance(who, Mapping):
        slack = who.get("slack", who.get("slack_user"))
        github = who.get("github", who.get("login"))
    elif hasattr(who, "slack_user") or hasattr(who, "login"):
        slack, github = getattr(who, "slack_user", None), getattr(who, "login", None)
    else:
        raise TypeError(f"an audit actor is a Requester, a dict or 'CI', not {type(who).__name__}")
    if slack is None and github is None:
        return "CI"
    return {"slack": slack, "github": github}


def iso_utc(seconds: float) -> str:
    """2026-11-29T10:31:48.123Z"""
    moment = datetime.fromtimestamp(seconds, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_since(value: str | datetime) -> datetime:
    """An aware datetime from an ISO 8601 date or date-time; one without an offset is taken as UTC."""
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(value.strip())
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


class AuditTrail:
    def __init__(self, store: Store, max_entries: int, clock: Callable[[], float] = time.time) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self.store = store
        self.max_entries = max_entries
        self.clock = clock
        self.key = store.key(STREAM)
        self.other_key = store.key(OTHER_STREAM)
        self._append_script = store.client.register_script(_APPEND)
        self._queue: queue.SimpleQueue[dict[str, Any]] = queue.SimpleQueue()
        self._unwritten = 0
        self._idle = threading.Condition()
        self._writer: threading.Thread | None = None

    def record(
        self,
        action: Action | str,
        *,
        actor: Any,
        app: str | None = None,
        env: str | None = None,
        tag: str | None = None,
        outcome: str | None = None,
        reason: str | None = None,
        deploy_id: str | None = None,
        commit: str | None = None,
        once: str | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        """Append one record and log it; return it. Raises only on a programming error (bad action or field).
        With `once` (e.g. a task's id), a second record under the same key is not appended: a step run
        again after a crash is recorded once."""
        doc = self._build(action, actor, app, env, tag, outcome, reason, deploy_id, commit, extra)
        self._append(doc, once)
        return doc

    def record_request(self, action: Action | str, request: Any, **fields: Any) -> dict[str, Any]:
        """`record` for a decision about a deploy request: who asked, for what, and its deploy id."""
        return self.record(
            action,
            actor=request.requester,
            app=request.app,
            env=request.env,
            tag=request.tag,
            deploy_id=request.deploy_id,
            **fields,
        )

    def defer(self, action: Action | str, *, actor: Any, **fields: Any) -> dict[str, Any]:
        """`record` for the ack path: the record is made (and checked) now, appended by a background thread.

        Nothing waits for the store, even a store that does not answer; `flush` waits for the writes.
        """
        doc = self._build(
            action,
            actor,
            *(fields.pop(name, None) for name in ("app", "env", "tag", *OPTIONAL_FIELDS)),
            fields,
        )
        with self._idle:
            self._unwritten += 1
            if self._writer is None:
                self._writer = threading.Thread(target=self._write_deferred, name="audit-writer", daemon=True)
                self._writer.start()
        self._queue.put(doc)
        return doc

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every deferred record has been written (or found the store down); False on timeout."""
        with self._idle:
            return self._idle.wait_for(lambda: self._unwritten == 0, timeout)

    def _write_deferred(self) -> None:
        while True:
            doc = self._queue.get()
            try:
                self._append(doc)
            except Exception:  # the writer must outlive anything one record does
                log.exception("audit record could not be written: %s", summary(doc))
            finally:
                with self._idle:
                    self._unwritten -= 1
                    self._idle.notify_all()

    def _build(
        self,
        action: Action | str,
        actor: Any,
        app: str | None,
        env: str | None,
        tag: str | None,
        outcome: str | None,
        reason: str | None,
        deploy_id: str | None,
        commit: str | None,
        extra: Mapping[str, Any],
    ) -> dict[str, Any]:
        try:
            action = Action(action)
        except ValueError:
            raise ValueError(f"unknown audit action {action!r}") from None
        clashes = sorted(set(extra) & ({"at", "action", "actor"} | _LOG_RECORD_ATTRIBUTES))
        if clashes:
            raise ValueError(f"audit extra field(s) {', '.join(clashes)} clash with reserved names")
        doc: dict[str, Any] = {
            "at": iso_utc(self.clock()),
            "action": action.value,
            "actor": actor_of(actor),
            "app": app,
            "env": env,
            "tag": tag,
        }
        for name, value in zip(OPTIONAL_FIELDS, (outcome, reason, deploy_id, commit), strict=True):
            if value is not None:
                doc[name] = value
        doc.update((name, value) for name, value in extra.items() if value is not None)
        return doc

    def _append(self, doc: dict[str, Any], once: str | None = None) -> None:
        """One script (stream, index, count), then one log line that says what became of the record;
        never raises for the store."""
        encoded = json.dumps(doc, separators=(",", ":"), default=str)
        changed = doc["action"] in CHANGED_SOMETHING
        app = doc["app"] if isinstance(doc["app"], str) else None
        counted_person = _refusing_person(doc)
        minute = int(self.clock() // 60)
        fields = _entry(doc, encoded)
        try:
            entry_id = self._append_script(
                keys=[
                    self.key if changed else self.other_key,
                    self._index_key(app, changed) if app else "",
                    self.store.key(REFUSALS_COUNTED, counted_person, str(minute)) if counted_person else "",
                    self.store.key(REFUSALS_TO_SUM_UP),
                    self.store.key(LAST_ID),
                    self.store.key("audit-once", doc["action"], once) if once else "",
                ],
                args=[
                    self.max_entries,
                    REFUSALS_A_MINUTE,
                    COUNT_KEPT_SECONDS,
                    f"{counted_person}|{minute}",
                    (minute + 1) * 60,
                    *(part for pair in fields.items() for part in pair),
                ],
            )
        except (StoreError, OSError) as error:
            log.warning("audit record NOT stored (state store unavailable: %s): %s", error, summary(doc), extra=doc)
            return
        if entry_id == "":  # recorded already, by an earlier run of the same step
            log.debug("audit record already stored once: %s", summary(doc))
            return
        if entry_id is None:  # counted, to be summed up with the rest of the minute's
            log.debug("audit record counted, not stored (over %s a minute): %s", REFUSALS_A_MINUTE, summary(doc))
        else:
            log.info("audit %s", summary(doc), extra=doc)
        if counted_person:  # a minute that is over is summed up at the next refusal (and by a job)
            try:
                self.summarise()
            except (StoreError, OSError) as error:
                log.warning("counted refusals not summed up yet (state store unavailable: %s)", error)

    def _index_key(self, app: str, changed: bool) -> str:
        return self.store.key(INDEX, app) if changed else self.store.key(INDEX, app, "other")

    def _earlier_index_key(self, app: str) -> str:
        return self.store.key(INDEX, app, "earlier")

    def index_earlier_records(self) -> int:
        """Once per trail, on any one replica: index the records written before per-app indexes existed.

        They are the entries of the `audit` stream (which then held every record) that its app's index
        does not list; each gets an entry with the same ID in `audit:app:<app>:earlier`. How many.
        """
        client = self.store.client
        marker = self.store.key(EARLIER_INDEXED)
        if not client.set(marker, "running", nx=True, ex=600):
            return 0
        indexed = 0
        for page in _pages_of(self._forwards(self.key), READ_PAGE):
            entries = [(order, fields["app"]) for order, fields in page if fields.get("app")]
            with client.pipeline(transaction=False) as pipe:
                for (millis, sequence), app in entries:
                    pipe.xrange(self._index_key(app, True), min=f"{millis}-{sequence}", max=f"{millis}-{sequence}")
                listed = pipe.execute()
            with client.pipeline(transaction=False) as pipe:
                for ((millis, sequence), app), found in zip(entries, listed, strict=True):
                    if not found:
                        pipe.xadd(self._earlier_index_key(app), {"p": ""}, id=f"{millis}-{sequence}")
                        indexed += 1
                pipe.execute(raise_on_error=False)  # an ID already there (a second run cut short) is no harm
            client.expire(marker, 600)
        client.set(marker, "done")
        if indexed:
            log.info("indexed %s audit records written before per-app indexes existed", indexed)
        return indexed

    def summarise(self) -> int:
        """One record for each person's refusals counted and not recorded in a minute that is over; how many.

        Any replica may run it at any time: the first to take a minute off the list writes its record.
        """
        client = self.store.client
        due_key = self.store.key(REFUSALS_TO_SUM_UP)
        written = 0
        for member in client.zrangebyscore(due_key, "-inf", self.clock(), start=0, num=100):
            if not client.zrem(due_key, member):
                continue  # another replica took it
            person, _, minute = member.rpartition("|")
            counted_key = self.store.key(REFUSALS_COUNTED, person, minute)
            extra = int(client.get(counted_key) or 0) - REFUSALS_A_MINUTE
            client.delete(counted_key)
            if extra <= 0:
                continue
            begun = int(minute) * 60
            doc = self._build(
                Action.DEPLOY_REFUSED,
                {"slack": person, "github": None},
                None,
                None,
                None,
                "rate_limited",
                f"{extra} more refusals in the minute from {iso_utc(begun)}, counted but not recorded one by one "
                f"(at most {REFUSALS_A_MINUTE} a minute are)",
                None,
                None,
                {"refusals": extra},
            )
            doc["at"] = iso_utc(begun + 60)
            self._append(doc)
            written += 1
        return written

    def read(
        self,
        app: str | None = None,
        env: str | None = None,
        since: str | datetime | None = None,
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        """Matching records, oldest first; with `limit`, the newest `limit` of them.

        Read newest first and only matches kept: through the app's index when there is an app (its
        last few records cost a few lookups, never the trail), else both streams a page at a time.
        """
        if limit is not None and limit < 0:
            raise ValueError("limit must not be negative")
        start = None if since is None else parse_since(since)
        found: list[dict[str, Any]] = []
        if limit == 0:
            return found
        entries = self._app_newest_first(app) if app is not None else self._newest_first()
        for fields in entries:
            doc = _matching(fields, app, env, start)
            if doc is None:
                continue
            found.append(doc)
            if limit is not None and len(found) >= limit:
                break
        found.reverse()
        return found

    def each(
        self, app: str | None = None, env: str | None = None, since: str | datetime | None = None
    ) -> Iterator[dict[str, Any]]:
        """Matching records, oldest first, read forwards a page at a time: a whole trail without holding it."""
        start = None if since is None else parse_since(since)
        if app is not None:  # one app's records are few enough to hold (at most twice AUDIT_MAX_ENTRIES pointers)
            yield from self.read(app=app, env=env, since=start)
            return
        forwards = [self._forwards(key) for key in (self.key, self.other_key)]
        for _, fields in heapq.merge(*forwards, key=lambda entry: entry[0]):
            doc = _matching(fields, app, env, start)
            if doc is not None:
                yield doc

    def _forwards(self, key: str) -> Iterator[tuple[tuple[int, int], dict[str, str]]]:
        lower = "-"
        while True:
            page = self.store.client.xrange(key, min=lower, max="+", count=READ_PAGE)
            for entry_id, fields in page:
                yield _order(entry_id), fields
            if len(page) < READ_PAGE:
                return
            lower = _after(page[-1][0])

    def _backwards(self, key: str) -> Iterator[tuple[tuple[int, int], dict[str, str]]]:
        """A stream's entries, newest first, in pages that grow: the last few cost one small read."""
        upper, count = "+", FIRST_PAGE
        while True:
            page = self.store.client.xrevrange(key, max=upper, min="-", count=count)
            for entry_id, fields in page:
                yield _order(entry_id), fields
            if len(page) < count:
                return
            upper = _before(page[-1][0])
            if upper is None:
                return
            count = min(count * 2, READ_PAGE)

    def _newest_first(self) -> Iterator[dict[str, str]]:
        """Every entry of both streams, newest first."""
        backwards = [self._backwards(key) for key in (self.key, self.other_key)]
        for _, fields in heapq.merge(*backwards, key=lambda entry: entry[0], reverse=True):
            yield fields

    def _app_newest_first(self, app: str) -> Iterator[dict[str, str]]:
        """One app's entries, newest first, found through its two indexes: a page of IDs looked up at once."""
        indexes = [
            self._pointers(self._index_key(app, True), self.key),
            self._pointers(self._index_key(app, False), self.other_key),
            self._pointers(self._earlier_index_key(app), self.key),
        ]
        page: list[tuple[tuple[int, int], str]] = []
        size = 10
        for entry in heapq.merge(*indexes, key=lambda entry: entry[0], reverse=True):
            page.append(entry)
            if len(page) >= size:
                yield from self._look_up(page)
                page, size = [], min(size * 4, READ_PAGE)
        yield from self._look_up(page)

    def _pointers(self, index: str, stream: str) -> Iterator[tuple[tuple[int, int], str]]:
        """An index's entry IDs in `stream`, newest first, down to the oldest entry the stream still has."""
        oldest = self.store.client.xrange(stream, min="-", max="+", count=1)
        if not oldest:
            return
        kept_from = _order(oldest[0][0])
        for order, _ in self._backwards(index):
            if order < kept_from:
                return  # this and every older ID point at records trimmed away
            yield order, stream

    def _look_up(self, page: list[tuple[tuple[int, int], str]]) -> Iterator[dict[str, str]]:
        if not page:
            return
        with self.store.client.pipeline(transaction=False) as pipe:
            for (millis, sequence), stream in page:
                pipe.xrange(stream, min=f"{millis}-{sequence}", max=f"{millis}-{sequence}")
            found = pipe.execute()
        for entries in found:
            for _, fields in entries:  # none when the record has been trimmed away
                yield fields


def _pages_of(entries: Iterator[Any], size: int) -> Iterator[list[Any]]:
    page: list[Any] = []
    for entry in entries:
        page.append(entry)
        if len(page) >= size:
            yield page
            page = []
    if page:
        yield page


def _order(entry_id: str) -> tuple[int, int]:
    millis, _, sequence = entry_id.partition("-")
    return int(millis), int(sequence or 0)


def _refusing_person(doc: Mapping[str, Any]) -> str | None:
    """The Slack user whose refusal this is, whose refusals are counted; None for anything else."""
    if doc["action"] != Action.DEPLOY_REFUSED or doc.get("outcome") == "rate_limited":
        return None
    actor = doc["actor"]
    slack = actor.get("slack") if isinstance(actor, Mapping) else None
    return slack if isinstance(slack, str) and slack else None


def summary(doc: Mapping[str, Any]) -> str:
    """`deploy_refused app=whitehall env=production tag=v1 actor=octocat/U012AB3CD reason="…"`: one line."""
    parts = [str(doc["action"])]
    for name, value in doc.items():
        if name in ("at", "action") or value is None:
            continue
        if name == "actor" and isinstance(value, Mapping):
            value = "/".join(str(v) for v in (value.get("github"), value.get("slack")) if v) or "unknown"
        text = value if isinstance(value, str) else json.dumps(value, default=str)
        if not text or any(c.isspace() or c in '"=' for c in text):
            text = json.dumps(text)
        parts.append(f"{name}={text}")
    return " ".join(parts)


def _entry(doc: Mapping[str, Any], encoded: str) -> dict[str, str]:
    entry = {name: doc[name] for name in ("app", "env") if isinstance(doc[name], str)}
    entry[FIELD] = encoded
    return entry


def _matching(
    fields: Mapping[str, str], app: str | None, env: str | None, start: datetime | None
) -> dict[str, Any] | None:
    # app and env are fields of their own, so most entries are passed over without parsing
    if app is not None and fields.get("app") != app:
        return None
    if env is not None and fields.get("env") != env:
        return None
    doc = _parse(fields)
    if doc is None or (start is not None and not _at_or_after(doc, start)):
        return None
    return doc


def _parse(fields: Mapping[str, str]) -> dict[str, Any] | None:
    try:
        doc = json.loads(fields[FIELD])
    except (KeyError, TypeError, ValueError):
        log.warning("audit entry is not a record; skipped")
        return None
    return doc if isinstance(doc, dict) else None


def _at_or_after(doc: Mapping[str, Any], start: datetime) -> bool:
    try:
        return parse_since(str(doc["at"])) >= start
    except (KeyError, ValueError):
        return False


def _after(entry_id: str) -> str:
    millis, _, sequence = entry_id.partition("-")
    if int(sequence) < 2**64 - 1:
        return f"{millis}-{int(sequence) + 1}"
    return f"{int(millis) + 1}-0"


def _before(entry_id: str) -> str | None:
    """The greatest stream ID below `entry_id` (XREVRANGE's `(` needs Redis 6.2; this works everywhere)."""
    millis, _, sequence = entry_id.partition("-")
    if int(sequence) > 0:
        return f"{millis}-{int(sequence) - 1}"
    if int(millis) > 0:
        return f"{int(millis) - 1}-18446744073709551615"
    return None


# -- python -m bot audit ------------------------------------------------------------------------


class _BadArguments(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise _BadArguments(message)


def _whole_number(text: str) -> int:
    if not (text.isascii() and text.isdigit()):
        raise argparse.ArgumentTypeError(f"must be a whole number of 0 or more, got {text!r}")
    return int(text)


def _moment(text: str) -> datetime:
    try:
        return parse_since(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"must be an ISO 8601 date or time like 2026-11-29 or 2026-11-29T10:30:00Z, got {text!r}"
        ) from None


def command(argv: list[str], stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    """`python -m bot audit [--app APP] [--env ENV] [--since ISO8601] [--limit N]`: 0 done, 1 store or config, 2 usage."""
    stdout, stderr = stdout or sys.stdout, stderr or sys.stderr
    parser = _Parser(
        prog="python -m bot audit",
        description="Print the audit trail's matching records, oldest first, one JSON object per line.",
    )
    parser.add_argument("--app", help="only records of this app")
    parser.add_argument("--env", help="only records of this environment")
    parser.add_argument("--since", type=_moment, help="only records at or after this ISO 8601 time (UTC if no offset)")
    parser.add_argument("--limit", type=_whole_number, help="keep only the newest N matching records")
    try:
        args = parser.parse_args(argv)
    except _BadArguments as error:
        print(f"python -m bot audit: {error} (see --help)", file=stderr)
        return 2

    from bot.config import ConfigError, load_settings
    from bot.store import StoreUnavailable, connect

    try:
        settings = load_settings(require_serve=False)
    except ConfigError as error:
        for problem in error.problems:
            print(f"config error: {problem}", file=stderr)
        return 1
    if settings.redis_url.reveal().startswith("memory://"):
        print("error: REDIS_URL is memory:// (a store inside one process): set it to the bot's Redis", file=stderr)
        return 1
    store = Store(connect(settings.redis_url.reveal()), settings.redis_prefix)
    trail = AuditTrail(store, settings.audit_max_entries)
    try:
        store.ping()
        if args.limit is None:  # the whole trail may be long: print it as it is read
            records: Iterable[dict[str, Any]] = trail.each(app=args.app, env=args.env, since=args.since)
        else:
            records = trail.read(app=args.app, env=args.env, since=args.since, limit=args.limit)
        for doc in records:
            stdout.write(json.dumps(doc, separators=(",", ":")) + "\n")
        stdout.flush()
    except (StoreUnavailable, StoreError) as error:
        print(f"error: cannot read the audit trail: state store unavailable ({error})", file=stderr)
        return 1
    except BrokenPipeError:  # `| head`: the reader has what it wanted; quiet the flush at exit too
        if stdout is sys.stdout:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    finally:
        store.client.close()
    return 0
