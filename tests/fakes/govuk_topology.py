"""GOV.UK's real Argo CD topology, for the fakes: which Applications exist per environment and
which tag files each follows (`tests/fixtures/govuk/applications.json`, taken from
govuk-helm-charts `charts/app-config/values-<env>.yaml` and `image-tags/<env>/`).

`topology(env)` reads it; `populate(argocd, env, tags)` fills a `FakeArgoCD` with every
Application of that environment, each running the tag its files hold in `tags`, plus a few
Applications of another project (`datagovuk`) sharing the server; `tag_files(env, tags)` gives
the image-tag files to seed a charts repository with.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

SOURCE = Path(__file__).parent.parent / "fixtures" / "govuk" / "applications.json"
OTHER_PROJECT = "datagovuk"
OTHER_PROJECT_APPS = ("ckan", "datagovuk-find", "datagovuk-publish")  # share a file name with no GOV.UK app


@dataclass(frozen=True)
class Application:
    name: str
    repo_name: str
    image_values: tuple[str, ...]
    post_sync: str  # "true" / "false"
    namespace: str

    @property
    def files(self) -> tuple[str, ...]:
        """The tag files it runs images of: its imageValues, else its repoName."""
        return self.image_values or (self.repo_name,)


@dataclass(frozen=True)
class Topology:
    applications: tuple[Application, ...]
    tag_files: tuple[str, ...]
    unfollowed: tuple[str, ...]  # tag files no Application follows

    def following(self, tag_file: str) -> list[Application]:
        return [a for a in self.applications if tag_file in a.files or a.repo_name == tag_file]


@cache
def _raw() -> dict[str, Any]:
    return json.loads(SOURCE.read_text(encoding="utf-8"))


def environments() -> list[str]:
    return list(_raw()["environments"])


def topology(env: str) -> Topology:
    raw = _raw()["environments"][env]
    applications = tuple(
        Application(
            name=a["name"],
            repo_name=a.get("repoName") or a["name"],
            image_values=tuple(a.get("imageValues") or ()),
            post_sync=str(a.get("postSyncWorkflowEnabled", "true")),
            namespace=a.get("namespace") or "apps",
        )
        for a in raw["applications"]
    )
    return Topology(applications, tuple(raw["tag_files"]), tuple(raw["tag_files_no_application_follows"]))


def scaled(env: str, count: int) -> Topology:
    """GOV.UK's topology of `env` grown to `count` Applications (the benchmark's 700): the real ones,
    then copies of them (`whitehall-admin-2` follows `whitehall-2`, `licensify-2` runs
    `licensify-feed-2`, …), each copy with tag files of its own, the real shape kept throughout."""
    real = topology(env)
    applications = list(real.applications)
    files = list(real.tag_files)
    copy = 2
    while len(applications) < count:
        for app in real.applications:
            if len(applications) >= count:
                break
            values = tuple(f"{value}-{copy}" for value in app.image_values)
            applications.append(
                Application(f"{app.name}-{copy}", f"{app.repo_name}-{copy}", values, app.post_sync, app.namespace)
            )
            for file in values or (f"{app.repo_name}-{copy}",):
                if file.removesuffix(f"-{copy}") in real.tag_files and file not in files:
                    files.append(file)
        copy += 1
    return Topology(tuple(applications), tuple(files), real.unfollowed)


def tag_files(env: str, tags: dict[str, str] | None = None, default: str = "v100") -> dict[str, str]:
    """Every tag file of `env` as file text, each holding `tags[file]` (or `default`)."""
    tags = tags or {}
    return {
        file: f"image_tag: {tags.get(file, default)}\nautomatic_deploys_enabled: true\npromote_deployment: true\n"
        for file in topology(env).tag_files
    }


def populate(
    argocd: Any, env: str | Topology, tags: dict[str, str] | None = None, default: str = "v100", **fields: Any
) -> None:
    """Every Application of `env`, synced and healthy on the tag its files hold, plus another project's.

    `fields` (as `FakeArgoCD.set_app` takes them) apply to every GOV.UK Application; its start
    time defaults to long ago, so that a release deployed after this reads as not started yet.
    """
    tags = tags or {}
    fields.setdefault("started_at", "2024-01-01T00:00:00Z")
    from tests.fakes.argocd import NGINX_IMAGE, image  # argocd imports nothing from here; kept local all the same

    shape = topology(env) if isinstance(env, str) else env
    for app in shape.applications:
        if app.image_values:
            images = [image(file, tags.get(file, default)) for file in app.image_values] + [NGINX_IMAGE]
            tag = None
        else:
            tag = tags.get(app.repo_name, default)
            images = None
        argocd.set_app(
            app.name,
            image_tag=tag,
            repo_name=app.repo_name,
            post_sync=app.post_sync,
            namespace="cluster-services",
            images=images,
            image_values=list(app.image_values) or None,
            **fields,
        )
    for name in OTHER_PROJECT_APPS:  # another project on the same server: never the bot's business
        argocd.set_app(name, image_tag="v1", project=OTHER_PROJECT, phase="Failed", health="Degraded")
