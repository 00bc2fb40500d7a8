"""`python -m bot console` as a person runs it: a subprocess fed a script on stdin.

The console needs no network, no Slack and no Redis; its charts repository is a local bare repo
in a folder it names, which these tests read to check that the deploys really were committed.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.support.charts import ChartsRemote

ROOT = Path(__file__).resolve().parents[1]


def run_console(script: str, tmp_path: Path, timeout: float = 60) -> subprocess.CompletedProcess:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("SLACK_", "REDIS_", "CHARTS_", "GITHUB_", "WEBHOOK_", "BOT_", "DEPLOY_"))
    }
    env.update(
        {"TMPDIR": str(tmp_path), "XDG_CACHE_HOME": str(tmp_path / "cache"), "REDIS_URL": "redis://127.0.0.1:1/0"}
    )
    return subprocess.run(
        [sys.executable, "-m", "bot", "console"],
        cwd=ROOT,
        input=script,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        check=False,
    )


def sandbox_remote(output: str) -> ChartsRemote:
    found = re.search(r"Charts repository: (\S+\.git)", output)
    assert found, output[:500]
    return ChartsRemote(path=Path(found.group(1)))


def test_a_scripted_session_deploys_shows_the_card_and_promotes_with_a_click(tmp_path):
    script = (
        "/deploy whitehall v3232 integration\n"
        "argocd whitehall integration Succeeded\n"
        "smokey whitehall integration Succeeded\n"
        "click 1\n"
        "quit\n"
    )
    result = run_console(script, tmp_path)
    out = result.stdout
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Traceback" not in out + result.stderr

    # the card, as a person reads it
    assert "new deploy card" in out
    assert re.search(r"whitehall\W+v3232", out), out
    assert "integration: requested" in out
    assert "integration: tests passed" in out
    # the button, numbered, and the click that used it
    assert re.search(r"\[1\] Promote to staging", out), out
    assert "promoted to staging" in out
    assert "staging: requested" in out
    # every Slack markup is turned into what a person sees
    assert "<@" not in out and ":hourglass" not in out and "*whitehall*" not in out

    remote = sandbox_remote(out)
    subjects = [subject for _, subject, _ in remote.log()]
    assert subjects[:2] == [
        "Update whitehall image tag to v3232 for staging",
        "Update whitehall image tag to v3232 for integration",
    ], subjects
    for env in ("integration", "staging"):
        assert remote.read(env, "whitehall").startswith("image_tag: v3232\n")
    bodies = [body for _, _, body in remote.log(2)]
    assert all("Requested-by: sandbox-developer (U0SANDBOX)" in body for body in bodies), bodies


def test_the_console_exits_0_at_end_of_input_without_quit(tmp_path):
    result = run_console("/deploy help\n/deploy whitehal v1 integration\n", tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "/deploy <app> <tag> <environment>" in result.stdout
    assert "whitehall" in result.stdout  # the suggestion for the typo
    assert "Traceback" not in result.stdout + result.stderr


def test_console_refusals_and_nonsense_are_answered_not_crashed(tmp_path):
    script = (
        "/deploy whitehall -rf integration\n"
        "/deploy promote whitehall integration\n"
        "argocd nosuchapp integration Succeeded\n"
        "smokey whitehall integration\n"
        "click 7\n"
        "frobnicate\n"
        "help\n"
    )
    result = run_console(script, tmp_path)
    out = result.stdout
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Traceback" not in out + result.stderr
    assert "image tag" in out
    assert "first environment" in out
    assert "No buttons yet" in out or "click" in out
    assert "frobnicate" in out
    remote = sandbox_remote(out)
    assert remote.commit_count() == 1  # only the seed: nothing was deployed


def test_status_history_and_stats_answer_from_the_sandboxs_own_history(tmp_path):
    script = (
        "/deploy whitehall v3300 integration\n"
        "argocd whitehall integration Succeeded\n"
        "smokey whitehall integration Succeeded\n"
        "/deploy status whitehall\n"
        "/deploy history whitehall\n"
        "/deploy stats\n"
        "/deploy status nowhere-app\n"
    )
    result = run_console(script, tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    out = result.stdout
    status = out[out.index("> /deploy status whitehall") : out.index("> /deploy history")]
    assert "• integration: `v3300`" in status
    assert "Deployed by @sandbox-developer on" in status and "tests passed" in status
    assert "Argo CD: not read (the bot has no `ARGOCD_TOKEN_INTEGRATION`)" in status  # no Argo CD in the sandbox
    assert "commits between them not counted (the bot has no `GITHUB_TOKEN`)" in status  # nor GitHub
    assert "• staging: `v3230`" in status and "• production: `v3229`" in status
    history = out[out.index("> /deploy history") : out.index("> /deploy stats")]
    assert "`v3300` to integration by @sandbox-developer on" in history
    assert "committed · synced · tests passed" in history
    stats = out[out.index("> /deploy stats") : out.index("> /deploy status nowhere-app")]
    assert "Delivery figures of every app in production" in stats and "All 4 weeks: 0 deploys" in stats
    assert "There is no app called `nowhere-app` in any environment" in out


def test_the_console_links_a_second_person_who_approves_a_production_deploy(tmp_path):
    script = (
        "/deploy whoami\n"
        "/deploy whitehall v9000 production\n"
        "as reviewer /deploy whoami\n"
        "as reviewer /deploy link\n"
        "as reviewer /deploy whoami\n"
        "click 1\n"
        "as reviewer click 1\n"
        "as nobody /deploy whoami\n"
    )
    result = run_console(script, tmp_path)
    out = result.stdout
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Traceback" not in out + result.stderr
    assert "You act as GitHub @sandbox-developer, from the bot's `users` map (config)." in out
    assert "nothing is committed yet" in out and "[1] Approve" in out and "[2] Deny" in out
    assert "enter the code SAND-0001" in out
    assert "(only visible to @sandbox-reviewer) ✅ Your Slack account is now linked to GitHub @sandbox-reviewer" in out
    assert "You act as GitHub @sandbox-reviewer, from your link" in out
    assert "You cannot approve your own request" in out
    assert "Approved by @sandbox-reviewer" in out
    assert "Usage: as <person> <line>" in out
    [(_, subject, body)] = sandbox_remote(out).log(1)
    assert subject == "Update whitehall image tag to v9000 for production"
    assert "Requested-by: sandbox-developer (U0SANDBOX)\nApproved-by: sandbox-reviewer (U0REVIEWR)" in body
