"""Looking back in the charts branch: which deploys landed (by their `Deploy-Id` trailer), and the
tags an image-tag file has had (for a rollback).

The working copy is shallow, so this fetches the depth it needs, then returns the tree to the
branch head.
"""

from __future__ import annotations

from bot.gitops import imagetags
from bot.gitops.workdir import WorkingCopy
from bot.names import is_valid_image_tag


def landed(copy: WorkingCopy, deploy_ids: set[str], depth: int = 500) -> dict[str, str]:
    """Those of these deploys among the last `depth` commits of the remote branch, with their commits."""
    with copy.lock:
        ref = f"refs/remotes/origin/{copy.branch}"
        fetch = ("fetch", "--quiet", f"--depth={depth}", "--no-tags", "origin", f"+refs/heads/{copy.branch}:{ref}")
        copy.git(*fetch, timeout=copy.limits.history_timeout)
        log_text = copy.git("log", f"-{depth}", "--format=commit %H%n%B", ref, "--")
    found: dict[str, str] = {}
    commit = ""
    for line in log_text.splitlines():
        if line.startswith("commit "):
            commit = line[len("commit ") :]
        elif line.startswith("Deploy-Id:") and line.split(":", 1)[1].strip() in deploy_ids:
            found[line.split(":", 1)[1].strip()] = commit
    return found


def file_tags(copy: WorkingCopy, env: str, app: str, depth: int = 2000) -> list[str]:
    """The `image_tag` values `env`'s file for `app` has had, newest first, within the branch's last
    `depth` commits (fetching that much history: see the README for what it costs)."""
    path = str(copy.path(env, app).relative_to(copy.workdir))
    with copy.lock:
        ref = f"refs/remotes/origin/{copy.branch}"
        fetch = ("fetch", "--quiet", f"--depth={depth}", "--no-tags", "origin", f"+refs/heads/{copy.branch}:{ref}")
        copy.git(*fetch, timeout=copy.limits.history_timeout)
        patches = copy.git("log", f"-{depth}", "--format=", "--unified=0", "-p", ref, "--", path)
    tags = []
    for line in patches.splitlines():
        if line.startswith("+") and not line.startswith("+++"):
            tag = imagetags.parse(line[1:]).image_tag
            if tag and is_valid_image_tag(tag):
                tags.append(tag)
    return tags
