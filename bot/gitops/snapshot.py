"""What the charts repo says, as of the last fetch or push, for readers that must not wait on git.

Which apps each environment has and what each image-tag file says. Readers on the Slack ack
path use it with no I/O. Only files that changed since the last snapshot are parsed again (a
sync of the real repository would otherwise parse ~240 files each time).
"""

from __future__ import annotations

from bot.gitops import imagetags
from bot.gitops.workdir import WorkingCopy


class Snapshot:
    def __init__(self, environments: list[str]) -> None:
        self.environments = list(environments)
        self.at: str | None = None  # the commit it reflects
        self._apps: dict[str, list[str]] = {}
        self._files: dict[tuple[str, str], imagetags.ImageTags] = {}

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
        for env, app in stale & listed:
            files[(env, app)] = copy.read(env, app) or imagetags.ImageTags(None, False, False)
        self._files, self._apps, self.at = files, apps, copy.head

    def apps(self, env: str) -> list[str]:
        return self._apps.get(env, [])

    def current(self, env: str, app: str) -> imagetags.ImageTags | None:
        return self._files.get((env, app))

    def current_tag(self, env: str, app: str) -> str | None:
        known = self._files.get((env, app))
        return known.image_tag if known else None
