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
        # when each file's tag reached the charts repo (Unix time): the commit time of the head that
        # first showed it. The working copy is fetched one commit deep, so that head is the best
        # bound there is: never earlier than the change itself (SPEC 10.1 counts a failed
        # operation for a tag only when it started after this).
        self._since: dict[tuple[str, str], float] = {}

    def take(self, copy: WorkingCopy) -> None:
        """Look again at the working tree (call with the copy's lock held, right after a sync or a push)."""
        apps = {env: copy.list_apps(env) for env in self.environments}
        listed = {(env, app) for env, names in apps.items() for app in names}
        stale = listed - set(self._files)
        if self.at is None:
            stale = listed
        elif self.at != copy.head:
            prefix = copy.image_tags_path + "/"
            for path in copy.git("diff", "--name-only", self.at, "HEAD", "--", prefix).splitlines():
                env, _, app = path.removeprefix(prefix).partition("/")
                stale.add((env, app))
        files = {key: value for key, value in self._files.items() if key in listed}
        since = {key: value for key, value in self._since.items() if key in listed}
        head_time: float | None = None
        for env, app in stale & listed:
            before = files.get((env, app))
            files[(env, app)] = copy.read(env, app) or imagetags.ImageTags(None, False, False)
            if before is None or before.image_tag != files[(env, app)].image_tag or (env, app) not in since:
                if head_time is None:
                    head_time = _commit_time(copy)
                since[(env, app)] = head_time
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


def _commit_time(copy: WorkingCopy) -> float:
    try:
        return float(copy.git("log", "-1", "--format=%ct", "HEAD").strip())
    except (ValueError, ChartsError):  # unknown: 0, so every operation counts, as before the bot knew
        return 0.0
