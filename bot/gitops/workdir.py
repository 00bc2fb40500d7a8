"""The shallow working copy of govuk-helm-charts: made once, then only fetched.

The real repository has ~250k commits and a 206 MB pack, so the bot clones `--depth 1` once and
reuses the copy across restarts. git runs as subprocesses through GitPython's command wrapper
(no persistent `cat-file` helpers, which GitPython documents as leaking in long-running
processes). Credentials in the charts URL go to git as an `http.extraheader` through the
environment, so they never land in `.git/config`, and are scrubbed from every message.

The bot deletes and reclones only a folder it made itself (a marker beside it), and treats a
symbolic link in the image-tags folder, or a path resolving outside it, as absent.
"""

from __future__ import annotations

import base64
import fcntl
import logging
import shutil
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO
from urllib.parse import unquote, urlsplit, urlunsplit

import git

from bot.gitops import imagetags
from bot.names import is_valid_app_name

log = logging.getLogger(__name__)


class ChartsError(Exception):
    pass


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


class WorkingCopy:
    def __init__(
        self, *, url: str, branch: str, workdir: Path, image_tags_path: str, author_name: str, author_email: str
    ) -> None:
        self.url, credential_env = split_credentials(url)
        header = credential_env.get("GIT_CONFIG_VALUE_0", "")
        candidates = {url, header, header.removeprefix("Authorization: Basic "), *_url_secrets(url)}
        # longest first, so a secret is masked whole before any shorter one inside it is
        self._secrets = sorted((s for s in candidates if len(s) >= 4 and s != self.url), key=len, reverse=True)
        self.branch = branch
        self.workdir = Path(workdir)
        self.image_tags_path = image_tags_path.strip("/")
        self._git_env = {
            **credential_env,
            "GIT_TERMINAL_PROMPT": "0",
            "GIT_AUTHOR_NAME": author_name,
            "GIT_AUTHOR_EMAIL": author_email,
            "GIT_COMMITTER_NAME": author_name,
            "GIT_COMMITTER_EMAIL": author_email,
            "GIT_CONFIG_NOSYSTEM": "1",
        }
        self.lock = threading.RLock()  # one git command sequence at a time on this tree
        self._repo: git.Repo | None = None
        self.head: str | None = None
        self.base: str | None = None  # the remote head the tree was last reset to
        self._workdir_lock: TextIO | None = None

    # -- making it ready ----------------------------------------------------------------------------

    def prepare(self) -> None:
        """Reuse the working copy when it is one of ours, otherwise make a shallow clone."""
        with self.lock:
            self._claim_workdir()
            if not self._reusable():
                self._clone()

    @property
    def ready(self) -> bool:
        return self._repo is not None and (self.workdir / ".git").is_dir()

    def close(self) -> None:
        if self._repo is not None:
            self._repo.close()
        if self._workdir_lock is not None:
            self._workdir_lock.close()
            self._workdir_lock = None

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
        self._check_ownership()
        git_dir = self.workdir / ".git"
        if git_dir.is_dir():
            for stale in [*git_dir.glob("*.lock"), *git_dir.glob("refs/**/*.lock")]:
                log.warning("removing %s, left by a git command that did not finish", stale.name)
                stale.unlink(missing_ok=True)

    @property
    def _marker(self) -> Path:
        """Beside the working copy, so that neither `git clean` nor a half-finished clone can lose it."""
        return self.workdir.parent / f".{self.workdir.name}.govuk-deploy-bot"

    def _check_ownership(self) -> None:
        """The bot deletes and reclones only a folder it made itself: a mis-set CHARTS_WORKDIR (a home
        folder, say) must never be wiped. A clone of the charts repo made by an older bot is adopted."""
        if self._marker.is_file():
            return
        if self.workdir.is_dir():
            if not any(self.workdir.iterdir()) or self._is_clone_of_charts():
                self._write_marker()
                return
        elif not self.workdir.exists() and not self.workdir.is_symlink():  # a dangling link is not "missing"
            self._write_marker()
            return
        raise ChartsError(
            f"CHARTS_WORKDIR {self.workdir} is not empty and is not a working copy the bot made; refusing to "
            "touch it. Point CHARTS_WORKDIR at a new or empty folder"
        )

    def _is_clone_of_charts(self) -> bool:
        if not (self.workdir / ".git").is_dir():
            return False
        try:
            with git.Repo(self.workdir) as repo:
                return repo.git.config("--get", "remote.origin.url") == self.url
        except git.GitError:
            return False

    def _write_marker(self) -> None:
        self._marker.write_text(
            f"{self.workdir.resolve()}\nmade by govuk-deploy-bot: it may delete and reclone that folder\n",
            encoding="utf-8",
        )

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
        if self.workdir.is_dir() and any(self.workdir.iterdir()):
            shutil.rmtree(self.workdir)  # only ever a folder the bot made (_check_ownership)
        self.workdir.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._repo = git.Repo.clone_from(
                self.url,
                self.workdir,
                env=self._git_env,
                multi_options=["--depth=1", f"--branch={self.branch}", "--single-branch", "--no-tags"],
            )
        except git.GitCommandError as error:
            raise ChartsError(f"cannot clone the charts repository: {self.describe(error)}") from None
        self._repo.git.update_environment(**self._git_env)
        self.git("config", "core.hooksPath", "/dev/null")
        self.git("config", "commit.gpgsign", "false")

    # -- git ------------------------------------------------------------------------------------------

    @property
    def repo(self) -> git.Repo:
        assert self._repo is not None
        return self._repo

    def git(self, *args: str) -> str:
        try:
            return self.repo.git.execute(["git", *args])
        except git.GitCommandError as error:
            raise ChartsError(self.describe(error)) from None

    def sync(self) -> str:
        """Make the working tree exactly the remote branch head (fetched shallow); returns that head."""
        ref = f"refs/remotes/origin/{self.branch}"
        refspec = f"+refs/heads/{self.branch}:{ref}"
        try:
            # back to the previous head, so that each image-tag file's own commit (and its time) is
            # known however many commits arrived since (Snapshot.since); a few commits, not history
            if not self.head:
                raise ChartsError("no previous head")
            # from the previous head's own time (it is kept: git keeps commits at or after the date);
            # a later commit whose clock ran behind may cut the history short, and then
            # Snapshot.since falls back to the head's time for what it cannot place
            since = int(self.git("log", "-1", "--format=%ct", self.head).strip())
            stamp = datetime.fromtimestamp(since, UTC).isoformat()
            self.git("fetch", "--quiet", f"--shallow-since={stamp}", "--no-tags", "origin", refspec)
        except (ChartsError, ValueError):  # first fetch, or nothing newer than that: one commit deep, as ever
            self.git("fetch", "--quiet", "--depth=1", "--no-tags", "origin", refspec)
        self.git("reset", "--quiet", "--hard", ref)
        self.git("clean", "--quiet", "-fdx")
        self.head = self.base = self.git("rev-parse", "HEAD")
        return self.head

    def remote_head(self) -> str | None:
        """The remote branch's head, asked with `ls-remote` (moves no objects, takes no lock); None if unknown."""
        try:
            words = self.git("ls-remote", "origin", f"refs/heads/{self.branch}").split()
        except ChartsError:
            return None
        return words[0] if words else None

    def describe(self, error: BaseException | None) -> str:
        if isinstance(error, git.GitCommandError):
            text = (error.stderr or error.stdout or str(error)).strip()
            text = text.replace("stderr:", "").strip().strip("'").strip()
        else:
            text = str(error)
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        return self.scrub(" ".join(lines[-3:]) if lines else type(error).__name__)

    def scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "**********")
        return text

    # -- the image-tag files ------------------------------------------------------------------------------

    def list_apps(self, env: str) -> list[str]:
        if not is_valid_app_name(env):
            return []
        folder = self.workdir / self.image_tags_path / env
        if not folder.is_dir() or folder.resolve() != self._tags_root() / env:
            return []  # a linked environment folder is absent, wherever it points
        return sorted(p.name for p in folder.iterdir() if is_valid_app_name(p.name) and self.safe_file(env, p.name))

    def _tags_root(self) -> Path:
        """Where image-tag files must really be: the working copy's IMAGE_TAGS_PATH, through no link."""
        return self.workdir.resolve() / self.image_tags_path

    def path(self, env: str, app: str) -> Path:
        if not (is_valid_app_name(env) and is_valid_app_name(app)):
            raise ValueError("unsafe environment or app name")
        return self.workdir / self.image_tags_path / env / app

    def safe_file(self, env: str, app: str) -> Path | None:
        """The image-tag file of `app` in `env`, or None when it is absent, a symbolic link, or anywhere
        but where it should be (a linked folder on the way): a merged link must not let a deploy read or
        write a file outside the charts repository."""
        path = self.path(env, app)
        try:
            if path.is_symlink() or not path.is_file() or path.resolve(strict=True) != self._tags_root() / env / app:
                return None
        except (OSError, RuntimeError):  # a loop of links, or a folder that vanished
            return None
        return path

    def read(self, env: str, app: str) -> imagetags.ImageTags | None:
        path = self.safe_file(env, app)
        return imagetags.parse(path.read_bytes().decode("utf-8", "replace")) if path is not None else None


def _url_secrets(url: str) -> list[str]:
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return []
    userinfo = parts.netloc.rpartition("@")[0]
    user, _, password = userinfo.partition(":")
    return [s for s in (password or user, unquote(password or user)) if len(s) >= 4]
