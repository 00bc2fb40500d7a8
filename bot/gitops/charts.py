"""The charts repository as the rest of the bot sees it: what it says, and a queue to change it.

It puts together the working copy (`workdir`), what it says as of the last fetch or push
(`snapshot`, read with no I/O on the ack path), the writer that turns each deploy into one
pushed commit (`writer`), and looking back in the branch (`history`).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from contextlib import AbstractContextManager
from pathlib import Path

from bot.gitops import history, imagetags
from bot.gitops.snapshot import Snapshot
from bot.gitops.workdir import ChartsError, WorkingCopy
from bot.gitops.writer import Change, ChartsWriter

__all__ = ["ChartsError", "ChartsRepo"]


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
        self.copy = WorkingCopy(
            url=url,
            branch=branch,
            workdir=workdir,
            image_tags_path=image_tags_path,
            author_name=author_name,
            author_email=author_email,
        )
        self.snapshot = Snapshot(environments)
        self.writer = ChartsWriter(self.copy, self.snapshot, shared_lock=shared_lock, owned=owned)

    # -- lifecycle ----------------------------------------------------------------------------------

    def prepare(self) -> None:
        """Reuse the working copy when it is one of ours, otherwise make a shallow clone; then fetch."""
        with self.copy.lock:
            self.copy.prepare()
            self._sync()

    def start(self) -> None:
        self.writer.start()

    def stop(self) -> None:
        self.writer.stop()
        self.copy.close()

    def is_usable(self) -> str | None:
        """None when the working copy can take deploys, else why not."""
        if not self.copy.ready:
            return "the charts working copy is not ready"
        if self.writer.stopped:
            return "the charts writer has stopped"
        return None

    # -- reading -------------------------------------------------------------------------------------

    def _sync(self) -> None:
        self.copy.sync()
        self.snapshot.take(self.copy)

    def refresh(self) -> None:
        with self.copy.lock:
            self._sync()

    def catch_up(self) -> None:
        """Fetch only if the remote branch moved since the snapshot: a burst of readers costs one fetch."""
        remote = self.copy.remote_head()
        if remote is not None and remote != self.snapshot.at:
            with self.copy.lock:
                if remote != self.snapshot.at:
                    self._sync()

    def apps(self, env: str) -> list[str]:
        """Apps with an image-tag file in `env`, as of the last sync (no I/O: safe on the ack path)."""
        return self.snapshot.apps(env)

    def current(self, env: str, app: str) -> imagetags.ImageTags | None:
        """What `env`'s image-tag file for `app` said at the last sync or push (no I/O), or None."""
        return self.snapshot.current(env, app)

    def current_tag(self, env: str, app: str) -> str | None:
        """The tag `env` runs for `app` as of the last sync or push (no I/O), or None when unknown."""
        return self.snapshot.current_tag(env, app)

    def since(self, env: str, app: str) -> float | None:
        """When `env`'s file for `app` got its current tag (no I/O; see Snapshot.since), or None."""
        return self.snapshot.since(env, app)

    def read(self, env: str, app: str, *, fresh: bool = False) -> imagetags.ImageTags | None:
        with self.copy.lock:
            if fresh:
                self._sync()
            return self.copy.read(env, app)

    def landed(self, deploy_ids: set[str]) -> dict[str, str]:
        """Those of these deploys found on the remote branch, with their commits."""
        with self.copy.lock:
            found = history.landed(self.copy, deploy_ids)
            self._sync()
        return found

    def file_history(self, env: str, app: str) -> list[str]:
        """The tags `env`'s file for `app` has had, newest first (fetches history: a rollback's last resort)."""
        with self.copy.lock:
            tags = history.file_tags(self.copy, env, app)
            self._sync()
        return tags

    # -- writing -------------------------------------------------------------------------------------

    def submit(self, change: Change) -> Future:
        """Queue one deploy; the future resolves to its Outcome (never raises)."""
        return self.writer.submit(change)
