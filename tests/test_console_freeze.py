"""The console speaks freezes, held deploys and rollback: `make demo` can show all of it."""

from __future__ import annotations

from tests.test_console import run_console, sandbox_remote

SCRIPT = """\
/deploy freeze all staging release day
argocd publishing-api integration Succeeded
smokey publishing-api integration Succeeded
/deploy publishing-api v2000 staging
/deploy unfreeze all staging
click 3
/deploy rollback publishing-api staging
/deploy publishing-api v2001 staging
"""


def test_a_freeze_holds_an_automatic_promotion_and_the_unfreeze_offers_it(tmp_path):
    done = run_console(SCRIPT, tmp_path)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "❄️ @sandbox-developer froze deploys of every app in staging: release day" in out
    assert "⏸️ CI (automatic promotion)'s deploy of v1907 to staging is held, not lost" in out
    assert "⛔ publishing-api is frozen in staging, so nothing was done." in out
    assert "[3] Deploy held v1907 to staging" in out
    assert "✅ Committed publishing-api `v1907` to staging" in out
    assert "✅ Committed publishing-api `v1906` to staging" in out  # the rollback
    assert "⏪ @sandbox-developer rolled staging back from v1907 to v1906." in out
    assert out.count("⛔ publishing-api is frozen in staging") == 2  # frozen after the rollback
    assert "rolled back from v1907" in out
    remote = sandbox_remote(out)
    subjects = [subject for _, subject, _ in remote.log(2)]
    assert subjects == [
        "Update publishing-api image tag to v1906 for staging",
        "Update publishing-api image tag to v1907 for staging",
    ]
    assert "Rollback-of: v1907" in remote.log(1)[0][2]
