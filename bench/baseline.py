"""GOV.UK's update step today, re-implemented as plain git subprocesses: the benchmarks' baseline.

NOTES.md: "Today's update step (an Argo Workflow) shallow-clones the repo for every deploy, edits
with `yq`, commits, pushes, and retries the whole step up to 5 times with exponential backoff."

So each deploy, in its own temporary folder: `git clone --depth 1 --branch main file://…`, set
`image_tag` in the image-tag file (the `yq -i '.image_tag = …'` edit: only that line changes),
`git commit`, `git push origin HEAD:main`. Any failure (in practice a push rejected because
another deploy moved the branch) retries the whole step, Argo-style: up to 5 retries after the
first attempt, waiting 1, 2, 4, 8, 16 s (Argo's `retryStrategy: {limit: 5, backoff: {duration:
1s, factor: 2}}`, no jitter; the base of 1 s is the shortest the real workflow's shape allows).
A deploy still failing after the 6th attempt is lost. All N run at once, one thread each.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.charts import git_env

RETRY_LIMIT = 5  # retries after the first attempt
BACKOFF_BASE = 1.0  # seconds; then x2 each retry: 1, 2, 4, 8, 16
BACKOFF_FACTOR = 2.0
IMAGE_TAG_LINE = re.compile(r"^image_tag:.*$", re.M)


@dataclass
class StepResult:
    env: str
    app: str
    tag: str
    landed: bool = False
    attempts: int = 0
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)


def _run(args: list[str], cwd: Path | None, env: dict[str, str]) -> None:
    result = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        lines = result.stderr.strip().splitlines()
        reason = next((line for line in lines if "rejected" in line or line.startswith(("error", "fatal"))), "")
        raise RuntimeError(f"git {args[0]}: {reason.strip() or result.returncode}")


def update_step(url: str, branch: str, path: str, app: str, env_name: str, tag: str, git_environ: dict) -> None:
    """One attempt of the workflow step: shallow clone, edit, commit, push (raises on any failure)."""
    with tempfile.TemporaryDirectory(prefix="clone-per-deploy-") as scratch:
        work = Path(scratch) / "charts"
        _run(["clone", "--quiet", "--depth", "1", "--branch", branch, url, str(work)], None, git_environ)
        target = work / path
        text = target.read_text(encoding="utf-8")
        if IMAGE_TAG_LINE.search(text):
            text = IMAGE_TAG_LINE.sub(f"image_tag: {tag}", text, count=1)
        else:
            text = f"image_tag: {tag}\n" + text
        target.write_text(text, encoding="utf-8")
        _run(["add", "--", path], work, git_environ)
        _run(
            ["commit", "--quiet", "--no-verify", "-m", f"Update {app} image tag to {tag} for {env_name}"],
            work,
            git_environ,
        )
        _run(["push", "--quiet", "origin", f"HEAD:refs/heads/{branch}"], work, git_environ)


def run_deploy(url: str, branch: str, image_tags_path: str, env: str, app: str, tag: str) -> StepResult:
    result = StepResult(env=env, app=app, tag=tag)
    environ = git_env("GOV.UK Production Deploy", "govuk-ci@digital.cabinet-office.gov.uk")
    started = time.monotonic()
    for attempt in range(RETRY_LIMIT + 1):
        if attempt:
            time.sleep(BACKOFF_BASE * BACKOFF_FACTOR ** (attempt - 1))
        result.attempts = attempt + 1
        try:
            update_step(url, branch, f"{image_tags_path}/{env}/{app}", app, env, tag, environ)
        except RuntimeError as error:
            result.errors.append(str(error))
            continue
        result.landed = True
        break
    result.seconds = time.monotonic() - started
    return result


def run_concurrently(
    url: str, branch: str, image_tags_path: str, deploys: list[tuple[str, str, str]]
) -> tuple[float, list[StepResult]]:
    """Every deploy (env, app, tag) at once, one thread each; (seconds until all ended, results)."""
    results: list[StepResult | None] = [None] * len(deploys)
    barrier = threading.Barrier(len(deploys) + 1)

    def work(index: int, env: str, app: str, tag: str) -> None:
        barrier.wait()
        results[index] = run_deploy(url, branch, image_tags_path, env, app, tag)

    threads = [threading.Thread(target=work, args=(i, *d), daemon=True) for i, d in enumerate(deploys)]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.monotonic()
    deadline = started + 600  # 6 attempts of a step plus 31 s of backoff end long before this
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    elapsed = time.monotonic() - started
    done = [
        r if r is not None else StepResult(*d, errors=["did not finish in 600 s"])
        for r, d in zip(results, deploys, strict=True)
    ]
    return elapsed, done
