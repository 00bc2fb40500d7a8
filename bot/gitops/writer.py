"""The image-tag writer: every deploy becomes exactly one commit on the charts branch.

One writer thread takes every request waiting in its queue, commits each on the freshly fetched
head and pushes them together; a push rejected because the branch moved is redone on the new
head. Across replicas a lock in the store keeps writers from racing each other needlessly. A
push whose fate git could not tell is checked against the remote, never reported as "nothing
was committed" while it may have landed.
"""

from __future__ import annotations

import logging
import queue
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from contextlib import AbstractContextManager
from dataclasses import dataclass, field

from bot.gitops import history, imagetags
from bot.gitops.snapshot import Snapshot
from bot.gitops.workdir import ChartsError, GitFailed, GitTimedOut, WorkingCopy
from bot.names import is_valid_image_tag
from bot.store import LockNotAcquired, StoreError

log = logging.getLogger(__name__)

MAX_BATCH = 100
MAX_PUSH_ATTEMPTS = 10


@dataclass(frozen=True)
class Change:
    """One requested deploy: `app` in `env` to `tag`, or to what `source_env` runs when tag is None."""

    env: str
    app: str
    tag: str | None
    promote_deployment: bool
    requested_by: str
    deploy_id: str
    source_env: str | None = None
    expected_source_tag: str | None = None
    approved_by: str | None = None  # `<login> (<slack id>)` of the second pair of eyes, where one was asked
    rollback_of: str | None = None  # a rollback: the tag it replaces, in a `Rollback-of:` trailer


@dataclass(frozen=True)
class Outcome:
    # committed | unchanged | refused | failed; unknown: pushed, but whether it landed could not be told;
    # taken_over: another replica owns this deploy now (this one was paused past its heartbeat)
    status: str
    tag: str | None = None
    commit: str | None = None
    reason: str = ""
    made_at: float | None = None  # when the commit was made, before the push: any outcome of it comes later

    @property
    def committed(self) -> bool:
        return self.status == "committed"


class PushRejected(ChartsError):
    """The branch moved under us; redo the batch on the new head."""


class PushFateUnknown(ChartsError):
    """git failed without saying what became of the push: the remote may have taken it."""


@dataclass
class _Pending:
    change: Change
    future: Future = field(default_factory=Future)


class ChartsWriter:
    def __init__(
        self,
        copy: WorkingCopy,
        snapshot: Snapshot,
        *,
        shared_lock: Callable[[], AbstractContextManager],
        owned: Callable[[list[str]], set[str]] = set,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.copy = copy
        self.clock = clock
        self.snapshot = snapshot
        self._shared_lock = shared_lock
        self._owned = owned  # which deploys this replica still owns (none taken over while it was paused)
        self._queue: queue.Queue[_Pending | None] = queue.Queue()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._write_forever, name="charts-writer", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=30)
            self._thread = None

    @property
    def stopped(self) -> bool:
        return self._thread is not None and not self._thread.is_alive()

    def submit(self, change: Change) -> Future:
        """Queue one deploy; the future resolves to its Outcome (never raises)."""
        pending = _Pending(change)
        self._queue.put(pending)
        return pending.future

    def _write_forever(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < MAX_BATCH:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    self._queue.put(None)
                    break
                batch.append(item)
            outcomes = self._write_batch([p.change for p in batch])
            for pending, outcome in zip(batch, outcomes, strict=True):
                pending.future.set_result(outcome)

    def _write_batch(self, changes: list[Change]) -> list[Outcome]:
        copy = self.copy
        try:
            with self._shared_lock(), copy.lock:
                for attempt in range(1, MAX_PUSH_ATTEMPTS + 1):
                    copy.sync()
                    self.snapshot.take(copy)
                    # checked before each attempt: a deploy taken over by another replica is theirs to push
                    owned = self._owned([change.deploy_id for change in changes])
                    outcomes = [
                        self._apply(change) if change.deploy_id in owned else Outcome("taken_over", change.tag)
                        for change in changes
                    ]
                    if not any(o.committed for o in outcomes):
                        return outcomes
                    if self._owned([c.deploy_id for c in changes]) != owned:
                        # taken over since the check above (this replica was paused): the batch is redone
                        # without it (the next attempt starts from the remote head again), so only the
                        # replica that owns a deploy ever pushes it
                        continue
                    try:
                        self._push()
                    except PushRejected:
                        log.info("push rejected (branch moved); redoing %d deploys, attempt %d", len(changes), attempt)
                        time.sleep(min(1.0, 0.05 * 2**attempt) * random.uniform(0.5, 1.0))
                        continue
                    except PushFateUnknown as unknown:
                        landed = self._landed_after(unknown)
                        if landed is None:
                            self._discard_local_commits()
                            return [_fate_unknown(outcome, unknown) for outcome in outcomes]
                        if not landed:
                            raise
                    copy.head = copy.git("rev-parse", "HEAD")
                    self.snapshot.take(copy)  # our own commits, so readers see them without a fetch
                    return outcomes
                raise ChartsError(f"the branch kept moving; gave up after {MAX_PUSH_ATTEMPTS} attempts")
        except (StoreError, LockNotAcquired):
            reason = "the state store is unavailable, so the charts repository could not be locked"
            log.error("deploy batch of %d failed: %s", len(changes), reason)
            return [Outcome(status="failed", tag=c.tag, reason=reason) for c in changes]
        except Exception as error:  # every accepted deploy must hear back, whatever went wrong
            reason = copy.describe(error)
            log.error("deploy batch of %d failed: %s", len(changes), reason)
            self._discard_local_commits()
            return [Outcome(status="failed", tag=c.tag, reason=reason) for c in changes]

    def _landed_after(self, unknown: PushFateUnknown) -> bool | None:
        """After a push whose fate is unknown: True if the remote has our head, False if it still has
        the head we built on, None when that cannot be told now."""
        log.warning("push ended without a result (%s); asking the remote what it has", unknown)
        remote = self.copy.remote_head()
        if remote is None:
            return None
        if remote == self.copy.git("rev-parse", "HEAD"):
            return True
        return False if remote == self.copy.base else None

    def _apply(self, change: Change) -> Outcome:
        copy = self.copy
        try:
            path = copy.safe_file(change.env, change.app)
        except ValueError:
            return Outcome("refused", change.tag, reason="that is not a safe app or environment name")
        if path is None:
            return Outcome("refused", change.tag, reason=f"{change.app} has no image-tag file in {change.env}")
        tag = change.tag
        if change.source_env is not None:
            source = copy.read(change.source_env, change.app)
            source_tag = source.image_tag if source else None
            if not source_tag or not is_valid_image_tag(source_tag):
                return Outcome("refused", tag, reason=f"{change.app} has no image tag in {change.source_env}")
            if change.expected_source_tag is not None and source_tag != change.expected_source_tag:
                return Outcome(
                    "refused",
                    change.expected_source_tag,
                    reason=f"superseded: {change.source_env} now runs {source_tag}",
                )
            tag = source_tag
        assert tag is not None
        try:
            text = path.read_bytes().decode("utf-8")  # bytes, so line endings stay exactly as they are
        except UnicodeDecodeError:
            return Outcome("refused", tag, reason=f"the image-tag file of {change.app} in {change.env} is not UTF-8")
        if imagetags.parse(text).image_tag == tag:
            # a replica that owned this deploy before (and was paused or died) may have pushed it: its commit
            # says so in its Deploy-Id trailer, and then this deploy is committed, not "already runs"
            earlier = history.landed(copy, {change.deploy_id}, depth=50).get(change.deploy_id)
            if earlier is not None:
                return Outcome("committed", tag, commit=earlier)
            return Outcome("unchanged", tag)
        edited = imagetags.with_values(text, image_tag=tag, promote_deployment=change.promote_deployment)
        path.write_bytes(edited.encode("utf-8"))
        relative = str(path.relative_to(copy.workdir))
        copy.git("add", "--", relative)
        message = (
            f"Update {change.app} image tag to {tag} for {change.env}\n\n"
            f"Requested-by: {change.requested_by}\n"
            + (f"Approved-by: {change.approved_by}\n" if change.approved_by else "")
            + (f"Rollback-of: {change.rollback_of}\n" if change.rollback_of else "")
            + f"Deploy-Id: {change.deploy_id}\n"
        )
        copy.git("commit", "--quiet", "--no-verify", "-m", message, "--", relative)
        return Outcome("committed", tag, commit=copy.git("rev-parse", "HEAD"), made_at=self.clock())

    def _push(self) -> None:
        """`git push --porcelain`, read line by line (git-push(1), OUTPUT): a flag, the refs, a summary."""
        copy = self.copy
        target = f"refs/heads/{copy.branch}"
        try:
            result = copy.run(
                ["push", "--porcelain", "origin", f"HEAD:{target}"], cwd=copy.workdir, timeout=copy.limits.timeout
            )
            stdout, stderr = result.stdout, ""
        except GitTimedOut as timed_out:
            raise PushFateUnknown(f"push failed: {timed_out}") from None
        except GitFailed as error:  # git exits 1 when a ref is rejected; what it printed says which
            stdout, stderr = error.stdout, str(error)
        line = next((line for line in stdout.splitlines() if _pushed_ref(line) == target), None)
        if line is None:
            raise PushFateUnknown(f"push failed: {copy.scrub(stderr) or 'git reported nothing'}")
        flag, summary = line[0], line.split("\t")[2].strip() if line.count("\t") >= 2 else ""
        if flag != "!":
            return  # " " fast-forward, "+" forced, "*" new, "=" up to date
        if summary.startswith("[rejected]"):
            raise PushRejected(summary)
        if self._branch_moved():  # lost a race inside the server ("cannot lock ref")
            raise PushRejected(summary)
        raise ChartsError(f"push refused by the charts repository: {copy.scrub(summary)}")

    def _branch_moved(self) -> bool:
        """Whether the remote branch is no longer the head this batch was built on."""
        remote = self.copy.remote_head()
        return remote is not None and remote != self.copy.base

    def _discard_local_commits(self) -> None:
        try:
            with self.copy.lock:
                self.copy.sync()
                self.snapshot.take(self.copy)
        except Exception as error:  # the next batch syncs again; nothing half-done is kept
            log.warning("could not reset the working copy: %s", self.copy.describe(error))


def _pushed_ref(line: str) -> str | None:
    """The remote ref of one porcelain line `<flag>\t<from>:<to>\t<summary>`; None for any other line."""
    parts = line.split("\t")
    if len(parts) < 3 or len(parts[0]) != 1:
        return None
    return parts[1].rpartition(":")[2]


def _fate_unknown(outcome: Outcome, unknown: PushFateUnknown) -> Outcome:
    if not outcome.committed:
        return outcome
    return Outcome("unknown", outcome.tag, reason=str(unknown), made_at=outcome.made_at)
