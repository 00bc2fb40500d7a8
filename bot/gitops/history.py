"""Looking back in the charts branch: which deploys landed (by their `Deploy-Id` trailer).

The working copy is shallow, so this fetches the depth it needs, then returns the tree to the
branch head.
"""

from __future__ import annotations

from bot.gitops.workdir import WorkingCopy


def landed(copy: WorkingCopy, deploy_ids: set[str], depth: int = 500) -> dict[str, str]:
    """Those of these deploys among the last `depth` commits of the remote branch, with their commits."""
    with copy.lock:
        ref = f"refs/remotes/origin/{copy.branch}"
        copy.git("fetch", "--quiet", f"--depth={depth}", "--no-tags", "origin", f"+refs/heads/{copy.branch}:{ref}")
        log_text = copy.git("log", f"-{depth}", "--format=commit %H%n%B", ref, "--")
    found: dict[str, str] = {}
    commit = ""
    for line in log_text.splitlines():
        if line.startswith("commit "):
            commit = line[len("commit ") :]
        elif line.startswith("Deploy-Id:") and line.split(":", 1)[1].strip() in deploy_ids:
            found[line.split(":", 1)[1].strip()] = commit
    return found
