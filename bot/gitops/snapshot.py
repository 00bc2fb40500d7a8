"""What the charts repo says, as of the last fetch or push, for readers that must not wait on git.

Which apps each environment has and what each image-tag file says. Readers on the Slack ack
path use it with no I/O. Only files that changed since the last snapshot are parsed again (a
sync of the real repository would otherwise parse ~240 files each time).
"""

from __future__ import annotations

from bot.gitops import imagetags
from bot.gitops.workdir import ChartsError, WorkingCopy


class Snapshot:
    def __init__(self, environments: list[str]) -> None:
        self.environments = list(environments)
        self.at: str | None = None  # the commit it reflects
        self._apps: dict[str, list[str]] = {}
        self._files: dict[tuple[str, str], imagetags.ImageTags] = {}
        # when each file's tag reached the charts repo (Unix time): the time of the commit that changed
        # it, found in the commits fetched since the previous head; where the history does not reach
        # (the first look, one commit deep), the head's time, never earlier than the change itself
        # (SPEC 10.1 counts a failed operation for a tag only when it started after this).
        self._since: dict[tuple[str, str], float] = {}

    def take(self, copy: WorkingCopy) -> None:
        """Look again at the working tree (call with the copy's lock held, right after a sync or a push)."""
        apps = {env: copy.list_apps(env) for env in self.environments}
        listed = {(env, app) for env, names in apps.items() for app in names}
        stale = listed - set(self._files)
        prefix = copy.image_tags_path + "/"
        # several commits can arrive in one fetch: each file's own last commit, where the history has
        # it (WorkingCopy.sync fetches back to the previous head). A file put back as it was (v1, v2,
        # v1) reads the same but got its tag again with that commit: it is touched all the same.
        touched: dict[tuple[str, str], float] = {}
        if self.at is None:
            stale = listed
        elif self.at != copy.head:
            for path in copy.git("diff", "--name-only", self.at, "HEAD", "--", prefix).splitlines():
                env, _, app = path.removeprefix(prefix).partition("/")
                stale.add((env, app))
            for path, when in _change_times(copy, self.at).items():
                env, _, app = path.removeprefix(prefix).partition("/")
                touched[(env, app)] = when
                stale.add((env, app))
        files = {key: value for key, value in self._files.items() if key in listed}
        since = {key: value for key, value in self._since.items() if key in listed}
        changed: list[tuple[str, str]] = []
        for key in stale & listed:
            before = files.get(key)
            files[key] = copy.read(*key) or imagetags.ImageTags(None, False, False)
            if key in touched or before is None or before.image_tag != files[key].image_tag or key not in since:
                changed.append(key)
        if changed:
            head_time = _commit_time(copy)  # never earlier than any change in it
            for key in changed:
                since[key] = min(touched.get(key, head_time), head_time)
        self._files, self._apps, self._since, self.at = files, apps, since, copy.head

    def apps(self, env: str) -> list[str]:
        return self._apps.get(env, [])

    def current(self, env: str, app: str) -> imagetags.ImageTags | None:
        return self._files.get((env, app))

    def current_tag(self, env: str, app: str) -> str | None:
        known = self._files.get((env, app))
        return known.image_tag if known else None

    def since(self, env: str, app: str) -> float | None:
        """When the file's current tag reached the charts repo (Unix time), or None when unknown."""
        return self._since.get((env, app))


def _change_times(copy: WorkingCopy, previous: str) -> dict[str, float]:
    """Each image-tag path changed after `previous`: the time of the newest commit that changed it.

    A commit at the fetched history's shallow edge has no parents here and lists every file, so
    its files are left out: the caller gives those the head's time, never earlier than the change.
    """
    try:
        # the branch's own line only: a merged pull request's commits are older than the merge that
        # put them on the branch, and the merge, compared with its first parent, names their files
        text = copy.git(
            "log",
            "--first-parent",
            "--diff-merges=first-parent",
            "--format=%x01%ct %P",
            "--name-only",
            f"{previous}..HEAD",
            "--",
            copy.image_tags_path,
        )
    except ChartsError:
        return {}
    times: dict[str, float] = {}
    when: float | None = None
    for line in text.splitlines():
        if line.startswith("\x01"):
            stamp, _, parents = line[1:].strip().partition(" ")
            try:
                # the shallow edge has no parents here and lists every file: it tells nothing
                when = float(stamp) if parents.strip() else None
            except ValueError:
                when = None
        elif line.strip() and when is not None:
            times.setdefault(line.strip(), when)  # newest first: the first commit seen is the last change
    return times


def _commit_time(copy: WorkingCopy) -> float:
    try:
        return float(copy.git("log", "-1", "--format=%ct", "HEAD").strip())
    except (ValueError, ChartsError):  # unknown: 0, so every operation counts, as before the bot knew
        return 0.0
