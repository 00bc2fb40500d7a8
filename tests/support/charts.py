"""A local stand-in for govuk-helm-charts: a bare git repository reachable by a file:// URL.

`make_charts_remote(tmp_path)` seeds it with GOV.UK-like image-tag files at
`charts/app-config/image-tags/<env>/<app>`; the returned `ChartsRemote` reads files and history
straight from the bare repository and can push a commit as someone else would.

git runs as subprocesses with an explicit environment (identity, no system or global config),
so a developer's own git configuration neither leaks in nor gets changed.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

IMAGE_TAGS_PATH = "charts/app-config/image-tags"
BRANCH = "main"
ENVIRONMENTS = ("integration", "staging", "production")


def _tags(tag: str, automatic: bool = True, promote: bool = True) -> str:
    return (
        f"image_tag: {tag}\n"
        f"automatic_deploys_enabled: {'true' if automatic else 'false'}\n"
        f"promote_deployment: {'true' if promote else 'false'}\n"
    )


# One file keeps a comment, a trailing comment, a blank line and trailing text, so tests can check
# that an edit leaves every other byte alone.
COMMENTED_FILE = ("production", "frontend")
COMMENTED_TEXT = (
    "# Pinned during the frontend migration: ask #govuk-platform-engineering before changing.\n"
    "image_tag: v1802  # pinned\n"
    "automatic_deploys_enabled: false\n"
    "promote_deployment: false\n"
    "\n"
    "# end of file: keep this note"
)
SHA_TAG = "3c6f0e2b9d4a7f1e8b5c2a9d6e3f0a7b4c1d8e5f"

DEFAULT_APPS: dict[str, dict[str, str]] = {
    "integration": {
        "whitehall": _tags("v3232"),
        "publishing-api": _tags("v2104"),
        "collections": _tags("v1590"),
        "frontend": _tags("v1810"),
        "content-store": _tags(SHA_TAG),
        "router": _tags("v512", automatic=False, promote=False),
        "email-alert-api": _tags("v988"),
        "signon": _tags("v1201"),
    },
    "staging": {
        "whitehall": _tags("v3231"),
        "publishing-api": _tags("v2104"),
        "collections": _tags("v1589"),
        "frontend": _tags("v1805", promote=False),
        "content-store": _tags("v744"),
        "router": _tags("v511", automatic=False, promote=False),
        "email-alert-api": _tags("v987"),
        "signon": _tags("v1200"),
    },
    "production": {
        # some production files carry only image_tag and promote_deployment, as in GOV.UK's repository
        "whitehall": "image_tag: v3230\npromote_deployment: false\n",
        "publishing-api": _tags("v2103", promote=False),
        "collections": _tags("v1589", promote=False),
        "frontend": COMMENTED_TEXT,
        "content-store": "image_tag: v743\npromote_deployment: false\n",
        "router": _tags("v510", automatic=False, promote=False),
        "email-alert-api": _tags("v986", promote=False),
        "signon": _tags("v1199", promote=False),
    },
}

SEED_NAME = "GOV.UK CI"
SEED_EMAIL = "govuk-ci@digital.cabinet-office.gov.uk"


def git_env(name: str = SEED_NAME, email: str = SEED_EMAIL) -> dict[str, str]:
    """The environment for git subprocesses: a fixed identity and no outside configuration."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("GIT_")}
    env.update(
        {
            "GIT_AUTHOR_NAME": name,
            "GIT_AUTHOR_EMAIL": email,
            "GIT_COMMITTER_NAME": name,
            "GIT_COMMITTER_EMAIL": email,
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": os.devnull,
            "GIT_TERMINAL_PROMPT": "0",
            "LC_ALL": "C",
        }
    )
    return env


def git(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None, text: bool = True):
    """Run git, raising with its stderr on failure; returns stdout (str, or bytes if text=False)."""
    result = subprocess.run(["git", *args], cwd=cwd, env=env or git_env(), capture_output=True, text=text, check=False)
    if result.returncode != 0:
        stderr = result.stderr if text else result.stderr.decode("utf-8", "replace")
        raise RuntimeError(f"git {' '.join(args)} failed ({result.returncode}): {stderr.strip()}")
    return result.stdout


@dataclass
class ChartsRemote:
    path: Path  # the bare repository
    branch: str = BRANCH
    image_tags_path: str = IMAGE_TAGS_PATH

    @property
    def url(self) -> str:
        return self.path.as_uri()

    def file_path(self, env: str, app: str) -> str:
        return f"{self.image_tags_path}/{env}/{app}"

    def read_bytes(self, env: str, app: str, ref: str | None = None) -> bytes:
        return git("show", f"{ref or self.branch}:{self.file_path(env, app)}", cwd=self.path, text=False)

    def read(self, env: str, app: str, ref: str | None = None) -> str:
        """The file's text at `ref` (default: the branch head), byte for byte."""
        return self.read_bytes(env, app, ref).decode("utf-8")

    def exists(self, env: str, app: str, ref: str | None = None) -> bool:
        try:
            git("cat-file", "-e", f"{ref or self.branch}:{self.file_path(env, app)}", cwd=self.path)
        except RuntimeError:
            return False
        return True

    def apps(self, env: str, ref: str | None = None) -> list[str]:
        out = git("ls-tree", "--name-only", f"{ref or self.branch}:{self.image_tags_path}/{env}", cwd=self.path)
        return sorted(out.split())

    def head(self) -> str:
        return git("rev-parse", f"refs/heads/{self.branch}", cwd=self.path).strip()

    def log(self, n: int | None = None) -> list[tuple[str, str, str]]:
        """(sha, subject, body) of the branch's commits, newest first."""
        args = ["log", "--format=%H%x1f%s%x1f%b%x1e"]
        if n is not None:
            args.append(f"-n{n}")
        out = git(*args, self.branch, cwd=self.path)
        entries = []
        for record in out.split("\x1e"):
            record = record.strip("\n")
            if not record:
                continue
            sha, subject, body = record.split("\x1f", 2)
            entries.append((sha, subject, body.strip()))
        return entries

    def commit_count(self) -> int:
        return int(git("rev-list", "--count", self.branch, cwd=self.path).strip())

    def changed_paths(self, sha: str) -> list[str]:
        """Paths a commit changed, compared with its first parent."""
        out = git("diff-tree", "--no-commit-id", "--name-only", "-r", "--root", sha, cwd=self.path)
        return out.split()

    def author(self, sha: str) -> tuple[str, str]:
        name, email = git("show", "-s", "--format=%an%x1f%ae", sha, cwd=self.path).strip().split("\x1f")
        return name, email

    def commit_directly(
        self, env: str, app: str, text: str, message: str, *, author: tuple[str, str] = ("A. Colleague", "a@x.test")
    ) -> str:
        """Push one commit that sets the file to `text`, as another person or CI would; returns its sha."""
        identity = git_env(*author)
        with tempfile.TemporaryDirectory(prefix="charts-other-") as scratch:
            clone = Path(scratch) / "clone"
            git("clone", "--quiet", "--branch", self.branch, self.url, str(clone), env=identity)
            target = clone / self.file_path(env, app)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(text.encode("utf-8"))
            git("add", "--", self.file_path(env, app), cwd=clone, env=identity)
            git("commit", "--quiet", "--no-verify", "--allow-empty", "-m", message, cwd=clone, env=identity)
            git("push", "--quiet", "origin", f"HEAD:refs/heads/{self.branch}", cwd=clone, env=identity)
            return git("rev-parse", "HEAD", cwd=clone, env=identity).strip()


def commit_symlink(remote: ChartsRemote, path: str, target: str) -> str:
    """Push one commit that adds a symbolic link at `path` pointing to `target`, as a merged PR might."""
    identity = git_env("A. Colleague", "a@x.test")
    with tempfile.TemporaryDirectory(prefix="charts-link-") as scratch:
        clone = Path(scratch) / "clone"
        git("clone", "--quiet", "--branch", remote.branch, remote.url, str(clone), env=identity)
        link = clone / path
        link.parent.mkdir(parents=True, exist_ok=True)
        if link.is_dir() and not link.is_symlink():
            git("rm", "-r", "--quiet", "--", path, cwd=clone, env=identity)
        link.symlink_to(target)
        git("add", "--", path, cwd=clone, env=identity)
        git("commit", "--quiet", "--no-verify", "-m", f"Link {path}", cwd=clone, env=identity)
        git("push", "--quiet", "origin", f"HEAD:refs/heads/{remote.branch}", cwd=clone, env=identity)
        return git("rev-parse", "HEAD", cwd=clone, env=identity).strip()


CharsRemote = ChartsRemote  # the name the harness brief used


_SEEDED: dict[str, Path] = {}  # seed (as JSON) -> a bare repository to copy, never handed out itself


def make_charts_remote(
    tmp_path: Path,
    apps: dict[str, dict[str, str]] | None = None,
    *,
    branch: str = BRANCH,
    image_tags_path: str = IMAGE_TAGS_PATH,
) -> ChartsRemote:
    """A bare repository under `tmp_path` whose `branch` holds one seed commit with `apps`.

    `apps` maps environment -> app -> exact file text (default: DEFAULT_APPS); an environment
    mapped to an empty dict gets an empty folder kept by a `.keep` file.

    Each distinct seed is built once per process and copied (a tenth of the time of the git
    commands): every test still gets a repository of its own.
    """
    apps = DEFAULT_APPS if apps is None else apps
    key = json.dumps([apps, branch, image_tags_path], sort_keys=True)
    template = _SEEDED.get(key)
    if template is None:
        folder = Path(tempfile.mkdtemp(prefix="charts-template-"))
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        template = _seed(folder, apps, branch, image_tags_path)
        _SEEDED[key] = template
    bare = Path(tmp_path) / "govuk-helm-charts.git"
    shutil.copytree(template, bare, symlinks=True)
    return ChartsRemote(path=bare, branch=branch, image_tags_path=image_tags_path)


def _seed(folder: Path, apps: dict[str, dict[str, str]], branch: str, image_tags_path: str) -> Path:
    bare = folder / "govuk-helm-charts.git"
    git("init", "--quiet", "--bare", f"--initial-branch={branch}", str(bare))
    with tempfile.TemporaryDirectory(prefix="charts-seed-", dir=folder) as scratch:
        work = Path(scratch)
        git("init", "--quiet", f"--initial-branch={branch}", str(work))
        (work / "README.md").write_text("# govuk-helm-charts (test copy)\n", encoding="utf-8")
        for env, files in apps.items():
            env_folder = work / image_tags_path / env
            env_folder.mkdir(parents=True, exist_ok=True)
            if not files:
                (env_folder / ".keep").write_bytes(b"")
            for app, text in files.items():
                (env_folder / app).write_bytes(text.encode("utf-8"))
        git("add", "--all", cwd=work)
        git("commit", "--quiet", "--no-verify", "-m", "Seed image tags", cwd=work)
        git("push", "--quiet", bare.as_uri(), f"HEAD:refs/heads/{branch}", cwd=work)
    return bare
