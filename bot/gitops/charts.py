"""The govuk-helm-charts working copy and the image-tag writer.

One shallow working copy per process, made once and then only fetched (the real repository has
~250k commits and a 206 MB pack). Every deploy becomes exactly one commit. Deploys are written
by one writer thread that takes every request waiting in its queue, commits each on the fresh
head and pushes them together; a push rejected because the branch moved is redone on the new
head. Across replicas a lock in the store keeps writers from racing each other needlessly.

git runs as subprocesses through GitPython's command wrapper (no persistent `cat-file`
helpers, which GitPython documents as leaking in long-running processes). Credentials in the
charts URL are moved into an `http.extraheader` passed through the environment, so they never
land in `.git/config`, and are scrubbed from every message that leaves this module.
"""

from __future__ import annotations

import base64
import fcntl
import logging
import queue
import random
import shutil
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO
from urllib.parse import unquote, urlsplit, urlunsplit

import git
from git.remote import PushInfo

from bot.gitops import imagetags
from bot.names import is_valid_app_name, is_valid_image_tag
from bot.store import LockNotAcquired, StoreError

log = logging.getLogger(__name__)

MAX_BATCH = 100
MAX_PUSH_ATTEMPTS = 10
PUSH_FAILED = PushInfo.ERROR | PushInfo.REJECTED | PushInfo.REMOTE_REJECTED | PushInfo.REMOTE_FAILURE


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
    rollback_of: str | None = None  # a rollback: the tag it replaces, in a `Rollback-of:` trailer


@dataclass(frozen=True)
class Outcome:
    # committed | unchanged | refused | failed; unknown: pushed, but whether it landed could not be told;
    # taken_over: another replica owns this deploy now (this one was paused past its heartbeat)
    status: str
    tag: str | None = None
    commit: str | None = None
    reason: str = ""

    @property
    def committed(self) -> bool:
        return self.status == "committed"


class ChartsError(Exception):
    pass


class PushRejected(ChartsError):
    """The branch moved under us; redo the batch on the new head."""


class PushFateUnknown(ChartsError):
    """git failed without saying what became of the push: the remote may have taken it."""


@dataclass
class _Pending:
    change: Change
    future: Future = field(default_factory=Future)


def split_credentials(url: str) -> tuple[str, dict[str, str]]:
    """The URL without user:password, and git environment that sends them as a header instead."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or "@" not in parts.netloc:
        return url, {}
    userinfo, _, host = parts.netloc.rpartition("@")
    user, _, password = userinfo.partition(":")
    if not password:
        user, password = "x-access-token", user
    token = base64.b64encode(f"{unquote(user)}:{unquote(password)}".encode()).decode()
    clean = urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))
    return clean, {
        "GIT_CONFIG_COUNT": "1",
        "GIT_CONFIG_KEY_0": "http.extraheader",
        "GIT_CONFIG_VALUE_0": f"Authorization: Basic {token}",
    }


class ChartsRepo:
    def __init__(
        self,
        *,
        url: str,
        branch: str,
        workdir: Path,
        image_tags_path: str,
        environments: list[str],
        author_name: str,
        author_email: str,
        shared_lock: Callable[[], AbstractContextManager],
        owned: Callable[[list[str]], set[str]] = set,
    ) -> None:
        self.url, credential_env = split_credentials(url)
        header = credential_env.get("GIT_CONFIG_VALUE_0", "")
        candidates = {url, header, header.removeprefix("Authorization: Basic "), *_url_secrets(url)}
        # longest first, so a secret is masked whole before any shorter one inside it is
        self._secrets = sorted((s for s in candidates if len(s) >= 4 and s != self.url), key=len, reverse=True)
        self.branch = branch
        self.workdir = Path(workdir)
        self.image_tags_path = image_tags_path.strip("/")
        self.environments = list(environments)
        self._shared_lock = shared_lock
        self._owned = owned  # which deploys this replica still owns (none taken over while it was paused)
        self._git_env = {
            **credential_env,
            "GIT_TERMINAL_PROMPT": "0",
            "GIT_AUTHOR_NAME": author_name,
            "GIT_AUTHOR_EMAIL": author_email,
            "GIT_COMMITTER_NAME": author_name,
            "GIT_COMMITTER_EMAIL": author_email,
            "GIT_CONFIG_NOSYSTEM": "1",
        }
        self._tree_lock = threading.RLock()
        self._apps: dict[str, list[str]] = {}
        self._files: dict[tuple[str, str], imagetags.ImageTags] = {}
        self._snapshot_at: str | None = None  # the commit the snapshot reflects
        self._queue: queue.Queue[_Pending | None] = queue.Queue()
        self._writer: threading.Thread | None = None
        self._repo: git.Repo | None = None
        self.head: str | None = None
        self._base: str | None = None  # the remote head the current batch is built on
        self._workdir_lock: TextIO | None = None

    # -- working copy ---------------------------------------------------------------------

    def prepare(self) -> None:
        """Reuse the working copy when it is one of ours, otherwise make a shallow clone."""
        with self._tree_lock:
            self._claim_workdir()
            if not self._reusable():
                self._clone()
            self._sync()

    def _claim_workdir(self) -> None:
        """One process per working copy; a git command killed mid-way may have left lock files behind."""
        if self._workdir_lock is None:
            self.workdir.parent.mkdir(parents=True, exist_ok=True)
            handle = open(self.workdir.parent / f".{self.workdir.name}.lock", "w")  # noqa: SIM115 - held for life
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                handle.close()
                raise ChartsError(
                    f"CHARTS_WORKDIR {self.workdir} is in use by another process; give each replica its own"
                ) from None
            self._workdir_lock = handle
        git_dir = self.workdir / ".git"
        if git_dir.is_dir():
            for stale in [*git_dir.glob("*.lock"), *git_dir.glob("refs/**/*.lock")]:
                log.warning("removing %s, left by a git command that did not finish", stale.name)
                stale.unlink(missing_ok=True)

    def _reusable(self) -> bool:
        if not (self.workdir / ".git").is_dir():
            return False
        try:
            repo = git.Repo(self.workdir)
            repo.git.update_environment(**self._git_env)
            same = repo.git.config("--get", "remote.origin.url") == self.url
        except git.GitError:
            same = False
        if same:
            self._repo = repo
            return True
        log.warning("working copy at %s is not a clone of the charts repo; making a new one", self.workdir)
        return False

    def _clone(self) -> None:
        if self.workdir.exists():
            shutil.rmtree(self.workdir)
        self.workdir.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._repo = git.Repo.clone_from(
                self.url,
                self.workdir,
                env=self._git_env,
                multi_options=["--depth=1", f"--branch={self.branch}", "--single-branch", "--no-tags"],
            )
        except git.GitCommandError as error:
            raise ChartsError(f"cannot clone the charts repository: {self._describe(error)}") from None
        self._repo.git.update_environment(**self._git_env)
        self._git("config", "core.hooksPath", "/dev/null")
        self._git("config", "commit.gpgsign", "false")

    def _git(self, *args: str) -> str:
        assert self._repo is not None
        try:
            return self._repo.git.execute(["git", *args])
        except git.GitCommandError as error:
            raise ChartsError(self._describe(error)) from None

    def _sync(self) -> None:
        """Make the working tree exactly the remote branch head (fetched shallow)."""
        ref = f"refs/remotes/origin/{self.branch}"
        self._git("fetch", "--quiet", "--depth=1", "--no-tags", "origin", f"+refs/heads/{self.branch}:{ref}")
        self._git("reset", "--quiet", "--hard", ref)
        self._git("clean", "--quiet", "-fdx")
        self.head = self._base = self._git("rev-parse", "HEAD")
        self._take_snapshot()

    def _take_snapshot(self) -> None:
        """Which apps each environment has and what each file says, for readers that must not wait on git.

        Only files that changed since the last snapshot are parsed again (a sync of the real repo
        would otherwise parse ~240 files each time).
        """
        apps = {env: self._list_apps(env) for env in self.environments}
        listed = {(env, app) for env, names in apps.items() for app in names}
        stale = listed - set(self._files)
        if self._snapshot_at is None:
            stale = listed
        elif self._snapshot_at != self.head:
            prefix = self.image_tags_path + "/"
            for path in self._git("diff", "--name-only", self._snapshot_at, "HEAD", "--", prefix).splitlines():
                env, _, app = path.removeprefix(prefix).partition("/")
                stale.add((env, app))
        files = {key: value for key, value in self._files.items() if key in listed}
        for env, app in stale & listed:
            files[(env, app)] = self._read(env, app) or imagetags.ImageTags(None, False, False)
        self._files, self._apps, self._snapshot_at = files, apps, self.head

    def _list_apps(self, env: str) -> list[str]:
        folder = self.workdir / self.image_tags_path / env
        if not folder.is_dir():
            return []
        return sorted(p.name for p in folder.iterdir() if p.is_file() and is_valid_app_name(p.name))

    def refresh(self) -> None:
        with self._tree_lock:
            self._sync()

    def catch_up(self) -> None:
        """Fetch only if the remote branch moved since the snapshot: `ls-remote` moves no objects and
        takes no lock, so a burst of readers costs one fetch, not one each."""
        remote = self._remote_head()
        if remote is not None and remote != self._snapshot_at:
            with self._tree_lock:
                if remote != self._snapshot_at:
                    self._sync()

    def apps(self, env: str) -> list[str]:
        """Apps with an image-tag file in `env`, as of the last sync (no I/O: safe on the ack path)."""
        return self._apps.get(env, [])

    def current(self, env: str, app: str) -> imagetags.ImageTags | None:
        """What `env`'s image-tag file for `app` said at the last sync or push (no I/O), or None."""
        return self._files.get((env, app))

    def current_tag(self, env: str, app: str) -> str | None:
        """The tag `env` runs for `app` as of the last sync or push (no I/O), or None when unknown."""
        known = self._files.get((env, app))
        return known.image_tag if known else None

    def read(self, env: str, app: str, *, fresh: bool = False) -> imagetags.ImageTags | None:
        with self._tree_lock:
            if fresh:
                self._sync()
            return self._read(env, app)

    def _path(self, env: str, app: str) -> Path:
        if not (is_valid_app_name(env) and is_valid_app_name(app)):
            raise ValueError("unsafe environment or app name")
        return self.workdir / self.image_tags_path / env / app

    def _read(self, env: str, app: str) -> imagetags.ImageTags | None:
        path = self._path(env, app)
        return imagetags.parse(path.read_bytes().decode("utf-8", "replace")) if path.is_file() else None

    def landed(self, deploy_ids: set[str], depth: int = 500) -> dict[str, str]:
        """Those of these deploys among the last `depth` commits of the remote branch, with their commits."""
        with self._tree_lock:
            ref = f"refs/remotes/origin/{self.branch}"
            self._git("fetch", "--quiet", f"--depth={depth}", "--no-tags", "origin", f"+refs/heads/{self.branch}:{ref}")
            log_text = self._git("log", f"-{depth}", "--format=commit %H%n%B", ref, "--")
            self._sync()
        found: dict[str, str] = {}
        commit = ""
        for line in log_text.splitlines():
            if line.startswith("commit "):
                commit = line[len("commit ") :]
            elif line.startswith("Deploy-Id:") and line.split(":", 1)[1].strip() in deploy_ids:
                found[line.split(":", 1)[1].strip()] = commit
        return found

    def file_history(self, env: str, app: str, depth: int = 2000) -> list[str]:
        """The `image_tag` values `env`'s file for `app` has had, newest first, within the branch's last
        `depth` commits. The working copy is shallow: this fetches that much history, then goes back
        to one commit (see the README for what it costs)."""
        path = str(self._path(env, app).relative_to(self.workdir))
        with self._tree_lock:
            ref = f"refs/remotes/origin/{self.branch}"
            self._git("fetch", "--quiet", f"--depth={depth}", "--no-tags", "origin", f"+refs/heads/{self.branch}:{ref}")
            patches = self._git("log", f"-{depth}", "--format=", "--unified=0", "-p", ref, "--", path)
            self._sync()
        tags = []
        for line in patches.splitlines():
            if line.startswith("+") and not line.startswith("+++"):
                tag = imagetags.parse(line[1:]).image_tag
                if tag and is_valid_image_tag(tag):
                    tags.append(tag)
        return tags

    def is_usable(self) -> str | None:
        """None when the working copy can take deploys, else why not."""
        if self._repo is None or not (self.workdir / ".git").is_dir():
            return "the charts working copy is not ready"
        if self._writer is not None and not self._writer.is_alive():
            return "the charts writer has stopped"
        return None

    # -- the writer -----------------------------------------------------------------------

    def start(self) -> None:
        if self._writer is None:
            self._writer = threading.Thread(target=self._write_forever, name="charts-writer", daemon=True)
            self._writer.start()

    def stop(self) -> None:
        if self._writer is not None:
            self._queue.put(None)
            self._writer.join(timeout=30)
            self._writer = None
        if self._repo is not None:
            self._repo.close()
        if self._workdir_lock is not None:
            self._workdir_lock.close()
            self._workdir_lock = None

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
        try:
            with self._shared_lock(), self._tree_lock:
                for attempt in range(1, MAX_PUSH_ATTEMPTS + 1):
                    self._sync()
                    # checked before each attempt: a deploy taken over by another replica is theirs to push
                    owned = self._owned([change.deploy_id for change in changes])
                    outcomes = [
                        self._apply(change) if change.deploy_id in owned else Outcome("taken_over", change.tag)
                        for change in changes
                    ]
                    if not any(o.committed for o in outcomes):
                        return outcomes
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
                    self.head = self._git("rev-parse", "HEAD")
                    self._take_snapshot()  # our own commits, so readers see them without a fetch
                    return outcomes
                raise ChartsError(f"the branch kept moving; gave up after {MAX_PUSH_ATTEMPTS} attempts")
        except (StoreError, LockNotAcquired):
            reason = "the state store is unavailable, so the charts repository could not be locked"
            log.error("deploy batch of %d failed: %s", len(changes), reason)
            return [Outcome(status="failed", tag=c.tag, reason=reason) for c in changes]
        except Exception as error:  # every accepted deploy must hear back, whatever went wrong
            reason = self._describe(error)
            log.error("deploy batch of %d failed: %s", len(changes), reason)
            self._discard_local_commits()
            return [Outcome(status="failed", tag=c.tag, reason=reason) for c in changes]

    def _landed_after(self, unknown: PushFateUnknown) -> bool | None:
        """After a push whose fate is unknown: True if the remote has our head, False if it still has
        the head we built on, None when that cannot be told now."""
        log.warning("push ended without a result (%s); asking the remote what it has", unknown)
        remote = self._remote_head()
        if remote is None:
            return None
        if remote == self._git("rev-parse", "HEAD"):
            return True
        return False if remote == self._base else None

    def _apply(self, change: Change) -> Outcome:
        try:
            path = self._path(change.env, change.app)
        except ValueError:
            return Outcome("refused", change.tag, reason="that is not a safe app or environment name")
        if not path.is_file():
            return Outcome("refused", change.tag, reason=f"{change.app} has no image-tag file in {change.env}")
        tag = change.tag
        if change.source_env is not None:
            source = self._read(change.source_env, change.app)
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
        current = imagetags.parse(text).image_tag
        if current == tag:
            return Outcome("unchanged", tag)
        edited = imagetags.with_values(text, image_tag=tag, promote_deployment=change.promote_deployment)
        path.write_bytes(edited.encode("utf-8"))
        relative = str(path.relative_to(self.workdir))
        self._git("add", "--", relative)
        message = (
            f"Update {change.app} image tag to {tag} for {change.env}\n\n"
            f"Requested-by: {change.requested_by}\n"
            + (f"Rollback-of: {change.rollback_of}\n" if change.rollback_of else "")
            + f"Deploy-Id: {change.deploy_id}\n"
        )
        self._git("commit", "--quiet", "--no-verify", "-m", message, "--", relative)
        return Outcome("committed", tag, commit=self._git("rev-parse", "HEAD"))

    def _push(self) -> None:
        assert self._repo is not None
        try:
            infos = self._repo.remote("origin").push(refspec=f"HEAD:refs/heads/{self.branch}")
        except git.GitCommandError as error:
            raise PushFateUnknown(f"push failed: {self._describe(error)}") from None
        error = getattr(infos, "error", None)
        if not infos:
            raise PushFateUnknown(f"push failed: {self._describe(error) if error else 'git reported nothing'}")
        for info in infos:
            if info.flags & PushInfo.REJECTED:
                raise PushRejected(info.summary.strip())
            if info.flags & PUSH_FAILED:
                if self._branch_moved():  # lost a race inside the server ("cannot lock ref")
                    raise PushRejected(info.summary.strip())
                raise ChartsError(f"push refused by the charts repository: {self._scrub(info.summary.strip())}")

    def _branch_moved(self) -> bool:
        """Whether the remote branch is no longer the head this batch was built on."""
        remote = self._remote_head()
        return remote is not None and remote != self._base

    def _remote_head(self) -> str | None:
        try:
            words = self._git("ls-remote", "origin", f"refs/heads/{self.branch}").split()
        except ChartsError:
            return None
        return words[0] if words else None

    def _discard_local_commits(self) -> None:
        try:
            with self._tree_lock:
                self._sync()
        except Exception as error:  # the next batch syncs again; nothing half-done is kept
            log.warning("could not reset the working copy: %s", self._describe(error))

    def _describe(self, error: BaseException | None) -> str:
        if isinstance(error, git.GitCommandError):
            text = (error.stderr or error.stdout or str(error)).strip()
            text = text.replace("stderr:", "").strip().strip("'").strip()
        else:
            text = str(error)
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        return self._scrub(" ".join(lines[-3:]) if lines else type(error).__name__)

    def _scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "**********")
        return text


def _fate_unknown(outcome: Outcome, unknown: PushFateUnknown) -> Outcome:
    if not outcome.committed:
        return outcome
    return Outcome("unknown", outcome.tag, reason=str(unknown))


def _url_secrets(url: str) -> list[str]:
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return []
    userinfo = parts.netloc.rpartition("@")[0]
    user, _, password = userinfo.partition(":")
    return [s for s in (password or user, unquote(password or user)) if len(s) >= 4]
