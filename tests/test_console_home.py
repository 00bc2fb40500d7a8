"""`home` and `digest` in `python -m bot console`: the Home tab and the weekly digest as a person reads them."""

from __future__ import annotations

from tests.test_console import run_console


def test_home_shows_your_deploys_freezes_windows_and_a_request_you_can_approve_from_it(tmp_path):
    script = (
        "/deploy whitehall v3232 integration\n"
        "argocd whitehall integration Succeeded\n"
        "/deploy freeze all staging release party\n"
        "home\n"
        "/deploy whitehall v3232 production\n"
        "as reviewer /deploy link\n"
        "as reviewer home\n"
        "as reviewer click 3\n"
        "help\n"
        "quit\n"
    )
    result = run_console(script, tmp_path)
    out = result.stdout
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Traceback" not in out + result.stderr
    mine, theirs = out.split("> as reviewer home")
    # the developer's tab: their deploy in the card's words, the freeze with who and why, each window
    assert "Your Home tab (only visible to you)" in mine
    assert "== Your deploys of the last 24 hours ==" in mine
    assert "whitehall `v3232`" in mine and "integration: synced · deployed by @sandbox-developer" in mine
    assert "every app in staging, frozen by @sandbox-developer" in mine and "release party" in mine
    assert "production: always open" in mine
    assert "You act as GitHub @sandbox-developer" in mine
    # the reviewer's tab: no deploys of theirs, the developer's request with its buttons, numbered
    assert "You have asked for no deploys in the last 24 hours." in theirs
    assert "asks to deploy whitehall `v3232` to production" in theirs
    assert "[3] Approve" in theirs and "[4] Deny" in theirs
    # clicking it there decides it
    assert "You approved whitehall `v3232` to production" in theirs
    assert "home " in out and "digest " in out.split("> help")[1]


def test_digest_prints_last_weeks_figures_against_the_week_before(tmp_path):
    result = run_console(
        "/deploy whitehall v3232 production\nas reviewer /deploy link\nas reviewer click 1\ndigest\nquit\n", tmp_path
    )
    out = result.stdout
    assert result.returncode == 0, result.stderr[-2000:]
    digest = out.split("> digest")[1]
    assert "Weekly delivery digest: deploys to production" in digest
    assert "Deploys: 1 (up from 0)" in digest
    assert "Most deploys: whitehall (1)" in digest
    assert "Slowest to reach production: whitehall `v3232`" in digest
