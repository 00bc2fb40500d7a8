"""Charts repositories for the benchmarks: one at GOV.UK's real scale (cached) and a small one.

The big one imitates govuk-helm-charts as NOTES.md describes it: ~720 files, image-tag files at
`charts/app-config/image-tags/{integration,staging,production,test}/<app>`, and a long history in
which nearly every commit is `Update <app> image tag to <tag> for <env>` changing one image-tag
file. It is written in one pass with `git fast-import` (a few seconds per 100k commits) and kept
under bench/.cache/, rebuilt only when missing or built with other parameters.

Every benchmark run gets its own copy of a remote (`fresh_copy`): a hard-linked copy of the bare
repository, so the 200 MB pack is shared and nothing a run pushes reaches the cache.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from tests.support.charts import ChartsRemote, git, git_env, make_charts_remote

CACHE = Path(__file__).resolve().parent / ".cache"
IMAGE_TAGS = "charts/app-config/image-tags"
BRANCH = "main"
BOT_ENVS = ("integration", "staging", "production")  # the bot's default environments
ALL_ENVS = (*BOT_ENVS, "test")
APPS_PER_ENV = {"integration": 60, "staging": 60, "production": 60, "test": 40}
BIG_COMMITS = 250_000  # NOTES.md: about 250,000 commits
TOTAL_FILES = 720
BIG_VERSION = 3  # bump when the layout below changes, to rebuild the cache

_WORDS = [
    "whitehall",
    "publishing-api",
    "content-store",
    "collections",
    "frontend",
    "router",
    "router-api",
    "email-alert-api",
    "email-alert-frontend",
    "email-alert-service",
    "signon",
    "search-api",
    "search-admin",
    "finder-frontend",
    "government-frontend",
    "static",
    "asset-manager",
    "authenticating-proxy",
    "bouncer",
    "calendars",
    "collections-publisher",
    "contacts-admin",
    "content-data-admin",
    "content-data-api",
    "content-publisher",
    "content-tagger",
    "feedback",
    "hmrc-manuals-api",
    "info-frontend",
    "licensing",
    "link-checker-api",
    "local-links-manager",
    "locations-api",
    "manuals-publisher",
    "maslow",
    "publisher",
    "release",
    "service-manual-publisher",
    "short-url-manager",
    "smart-answers",
    "specialist-publisher",
    "support",
    "support-api",
    "transition",
    "travel-advice-publisher",
    "account-api",
    "places-manager",
    "search-v2-evaluator",
    "datagovuk-publish",
    "ckan",
    "chat",
    "govuk-developer-docs",
    "static-assets",
    "content-block-manager",
    "govuk-graphql",
    "seal",
    "imminence",
    "mapit",
]


def app_names(count: int = 60) -> list[str]:
    """`count` distinct GOV.UK-like app names (valid for the bot: `[a-z0-9][a-z0-9-]*`).

    None starts with `draft-`: GOV.UK's draft stacks are Argo CD applications named `draft-<repo>`
    that share their repo's image-tag file, and the bot shows their outcomes apart from the card.
    """
    names = list(dict.fromkeys(_WORDS))
    serial = 1
    while len(names) < count:
        names.append(f"service-{serial:02d}")
        serial += 1
    return names[:count]


def apps_by_env() -> dict[str, list[str]]:
    names = app_names(max(APPS_PER_ENV.values()))
    return {env: names[: APPS_PER_ENV[env]] for env in ALL_ENVS}


def tag_file(tag: str, env: str, index: int) -> str:
    """An image-tag file as GOV.UK's look: some production files lack automatic_deploys_enabled."""
    if env == "production" and index % 4 == 0:
        return f"image_tag: {tag}\npromote_deployment: false\n"
    promote = "true" if env in ("integration", "staging") and index % 3 else "false"
    return f"image_tag: {tag}\nautomatic_deploys_enabled: true\npromote_deployment: {promote}\n"


def _chart_files(count: int, rng: random.Random) -> dict[str, str]:
    """Helm chart files (templates, values) up to `count`, with varied, not very compressible text."""
    files: dict[str, str] = {
        "README.md": "# govuk-helm-charts (benchmark copy)\n",
        "charts/app-config/Chart.yaml": "apiVersion: v2\nname: app-config\nversion: 0.1.0\n",
    }
    for env in BOT_ENVS:
        files[f"charts/app-config/values-{env}.yaml"] = "".join(
            f"  {name}:\n    replicas: {rng.randint(1, 6)}\n    memory: {rng.choice((512, 1024, 2048))}Mi\n"
            for name in app_names()
        )
    kinds = ("deployment", "service", "ingress", "configmap", "hpa", "pdb", "cronjob", "serviceaccount", "secret")
    chart = 0
    while len(files) < count:
        name = f"charts/{rng.choice(_WORDS)}-{chart:02d}"
        files[f"{name}/Chart.yaml"] = f"apiVersion: v2\nname: chart-{chart}\nversion: 1.{chart}.0\n"
        files[f"{name}/values.yaml"] = "".join(
            f"key{k}: {rng.getrandbits(64):016x}\n" for k in range(rng.randint(10, 60))
        )
        for kind in kinds:
            if len(files) >= count:
                break
            body = "".join(f'      - name: ENV_{k}\n        value: "{rng.getrandbits(48):x}"\n' for k in range(20))
            files[f"{name}/templates/{kind}.yaml"] = f"apiVersion: v1\nkind: {kind.title()}\nspec:\n{body}"
        chart += 1
    return dict(list(files.items())[:count])


def _blob(text: str) -> bytes:
    data = text.encode("utf-8")
    return b"data %d\n" % len(data) + data + b"\n"


def _write_history(stream, commits: int, seed: int = 20241129) -> int:  # type: ignore[no-untyped-def]
    """The fast-import stream: a seed commit with every file, then `commits - 1` image-tag updates."""
    rng = random.Random(seed)
    envs = apps_by_env()
    image_tag_count = sum(len(v) for v in envs.values())
    files = _chart_files(TOTAL_FILES - image_tag_count, rng)
    when = 1_500_000_000
    versions: dict[tuple[str, str], int] = {}
    seed_lines = []
    for env, names in envs.items():
        for index, app in enumerate(names):
            if env == "test" and index % 8 == 0:
                text = ""  # some test files are empty, as in GOV.UK's repository
            else:
                versions[(env, app)] = 1
                text = tag_file("v1", env, index)
            seed_lines.append(f"M 100644 inline {IMAGE_TAGS}/{env}/{app}\n".encode() + _blob(text))
    for path, text in files.items():
        seed_lines.append(f"M 100644 inline {path}\n".encode() + _blob(text))
    ident = "GOV.UK Production Deploy <govuk-ci@digital.cabinet-office.gov.uk>"
    stream.write(f"commit refs/heads/{BRANCH}\ncommitter {ident} {when} +0000\n".encode())
    stream.write(_blob("Initial charts"))
    stream.write(b"".join(seed_lines) + b"\n")
    keys = list(versions)
    chart_paths = [p for p in files if "/templates/" in p]
    for number in range(1, commits):
        when += rng.randint(20, 200)
        if number % 997 == 0:  # now and then a person changes a chart
            path = rng.choice(chart_paths)
            message = f"Tweak {path.split('/')[1]}"
            change = f"M 100644 inline {path}\n".encode() + _blob(files[path] + f"# {number}\n")
            author = "A. Developer <developer@digital.cabinet-office.gov.uk>"
        else:
            env, app = rng.choice(keys)
            versions[(env, app)] += 1
            index = envs[env].index(app)
            tag = f"{rng.getrandbits(160):040x}" if index % 5 == 0 else f"v{versions[(env, app)]}"
            message = f"Update {app} image tag to {tag} for {env}"
            change = f"M 100644 inline {IMAGE_TAGS}/{env}/{app}\n".encode() + _blob(tag_file(tag, env, index))
            author = ident
        stream.write(f"commit refs/heads/{BRANCH}\ncommitter {author} {when} +0000\n".encode())
        stream.write(_blob(message))
        stream.write(change + b"\n")
    return len(files) + image_tag_count


@dataclass
class BigRepo:
    path: Path
    info: dict

    def remote(self) -> ChartsRemote:
        return ChartsRemote(path=self.path, branch=BRANCH, image_tags_path=IMAGE_TAGS)


def big_repo(log=print, commits: int = BIG_COMMITS) -> BigRepo:  # type: ignore[no-untyped-def]
    """The cached real-scale charts repository, built now if missing."""
    path = CACHE / "govuk-helm-charts-big.git"
    marker = CACHE / "govuk-helm-charts-big.json"
    wanted = {"version": BIG_VERSION, "commits": commits, "files": TOTAL_FILES}
    if path.is_dir() and marker.is_file():
        info = json.loads(marker.read_text())
        if all(info.get(k) == v for k, v in wanted.items()):
            return BigRepo(path, info)
    shutil.rmtree(path, ignore_errors=True)
    CACHE.mkdir(parents=True, exist_ok=True)
    log(f"building the real-scale charts repository ({commits:,} commits) in {path} (once; cached) ...")
    started = time.monotonic()
    git("init", "--quiet", "--bare", f"--initial-branch={BRANCH}", str(path))
    # GitHub does not run `gc --auto` after pushes; neither should a shared cache copy mid-benchmark.
    git("config", "receive.autogc", "false", cwd=path)
    git("config", "gc.auto", "0", cwd=path)
    importer = subprocess.Popen(
        ["git", "fast-import", "--quiet", "--done"], cwd=path, env=git_env(), stdin=subprocess.PIPE
    )
    assert importer.stdin is not None
    files = _write_history(importer.stdin, commits)
    importer.stdin.write(b"done\n")
    importer.stdin.close()
    if importer.wait() != 0:
        shutil.rmtree(path, ignore_errors=True)
        raise RuntimeError("git fast-import failed")
    imported = time.monotonic() - started
    # A serving host keeps a commit-graph (GitHub does); it makes history walks on the remote cheap.
    git("commit-graph", "write", "--reachable", cwd=path)
    pack_bytes = sum(p.stat().st_size for p in (path / "objects" / "pack").glob("*.pack"))
    count = int(git("rev-list", "--count", BRANCH, cwd=path).strip())
    tracked = len(git("ls-tree", "-r", "--name-only", BRANCH, cwd=path).split())
    info = {
        **wanted,
        "commits": count,
        "files": tracked,
        "generated_files": files,
        "pack_mb": round(pack_bytes / 1e6, 1),
        "build_seconds": round(time.monotonic() - started, 1),
        "fast_import_seconds": round(imported, 1),
    }
    marker.write_text(json.dumps(info, indent=2))
    log(
        f"built in {info['build_seconds']} s: {count:,} commits, {tracked} files, {info['pack_mb']} MB pack "
        f"(fast-import {info['fast_import_seconds']} s)"
    )
    return BigRepo(path, info)


def fresh_copy(source: Path, dest: Path) -> ChartsRemote:
    """A copy of bare repository `source` whose pushes never touch it (pack files hard-linked).

    git never rewrites a file in place (it writes a temporary file and renames it), so sharing
    the immutable pack files by hard link is safe and makes a 200 MB copy take milliseconds.
    """

    def link_or_copy(src: str, dst: str) -> None:
        if "/objects/" in src:
            try:
                os.link(src, dst)
                return
            except OSError:
                pass
        shutil.copy2(src, dst)

    shutil.copytree(source, dest, copy_function=link_or_copy)
    return ChartsRemote(path=dest, branch=BRANCH, image_tags_path=IMAGE_TAGS)


def small_repo(folder: Path) -> ChartsRemote:
    """A small charts remote (one seed commit) with the same apps as the big one, so N=50 fits."""
    apps = {
        env: {app: tag_file("v1", env, index) for index, app in enumerate(names)}
        for env, names in apps_by_env().items()
    }
    folder.mkdir(parents=True, exist_ok=True)
    return make_charts_remote(folder, apps=apps)
