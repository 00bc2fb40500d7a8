"""Embedded defaults for the console sandbox: a local charts repository and a user in every team."""

from __future__ import annotations

import os
import subprocess
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

from bot.identity.device_flow import DeviceCode
from bot.teams import Membership

SANDBOX_USER = "U0SANDBOX"
SANDBOX_LOGIN = "sandbox-developer"
SANDBOX_REVIEWER = "U0REVIEWR"  # a second person, for approvals: not in `users`, they link first
SANDBOX_REVIEWER_LOGIN = "sandbox-reviewer"
SANDBOX_PEOPLE = {"developer": (SANDBOX_USER, SANDBOX_LOGIN), "reviewer": (SANDBOX_REVIEWER, SANDBOX_REVIEWER_LOGIN)}
SANDBOX_APPS = {
    # app: (tag, automatic_deploys_enabled, promote_deployment)
    "whitehall": ("v3231", True, False),
    "publishing-api": ("v1907", True, True),
    "collections": ("v842", True, True),
    "frontend": ("v1200", True, False),
    "content-store": ("v633", True, True),
    "router": ("v210", False, False),
}
ENVIRONMENTS = ("integration", "staging", "production")
IMAGE_TAGS_PATH = "charts/app-config/image-tags"


class SandboxTeams:
    """The sandbox people belong to every team; anyone else belongs to none."""

    def check(self, login: str, team: str) -> Membership:
        if login in (SANDBOX_LOGIN, SANDBOX_REVIEWER_LOGIN):
            return Membership(True)
        return Membership(False, f"@{login} is not a member of {team} in the sandbox")


class SandboxDeviceFlow:
    """The console's GitHub: a code that is approved at once, as whoever `acting` says is typing."""

    def __init__(self, acting: Callable[[], str]) -> None:
        self.acting = acting  # () -> the Slack user ID of the person typing now
        self._count = 0
        self._lock = threading.Lock()

    def request_code(self, timeout: float | None = None) -> DeviceCode:
        login = next((login for user, login in SANDBOX_PEOPLE.values() if user == self.acting()), "sandbox-stranger")
        with self._lock:
            self._count += 1
            count = self._count
        return DeviceCode(f"sandbox:{login}", f"SAND-{count:04d}", "https://github.com/login/device", 900, 0)

    def wait_for_login(self, code: DeviceCode, still_wanted: Callable[[], bool] = lambda: True) -> str:
        return code.device_code.removeprefix("sandbox:")


def _git(*args: str, cwd: Path) -> None:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "sandbox",
        "GIT_AUTHOR_EMAIL": "sandbox@example.invalid",
        "GIT_COMMITTER_NAME": "sandbox",
        "GIT_COMMITTER_EMAIL": "sandbox@example.invalid",
        "GIT_CONFIG_NOSYSTEM": "1",
    }
    subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True)


def seed_charts_repo(folder: Path | None = None) -> Path:
    """A bare charts repository with a few GOV.UK-like apps in every environment; returns its path."""
    folder = Path(folder or tempfile.mkdtemp(prefix="govuk-deploy-bot-sandbox-"))
    bare, seed = folder / "govuk-helm-charts.git", folder / "seed"
    _git("init", "--quiet", "--bare", "--initial-branch=main", str(bare), cwd=folder)
    _git("init", "--quiet", "--initial-branch=main", str(seed), cwd=folder)
    for age, env in enumerate(ENVIRONMENTS):
        for app, (tag, automatic, promote) in SANDBOX_APPS.items():
            path = seed / IMAGE_TAGS_PATH / env / app
            path.parent.mkdir(parents=True, exist_ok=True)
            lines = [f"image_tag: v{int(tag[1:]) - age}"]  # later environments run older releases
            if env != "production":
                lines.append(f"automatic_deploys_enabled: {str(automatic).lower()}")
            lines.append(f"promote_deployment: {str(promote and env != 'production').lower()}")
            path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    _git("add", ".", cwd=seed)
    _git("commit", "--quiet", "-m", "Seed the sandbox charts repository", cwd=seed)
    _git("push", "--quiet", str(bare), "main", cwd=seed)
    return bare
