"""When a tag reached the charts repo (`Snapshot.since`), on a working copy fetched shallow (SPEC 10.1).

A failed operation counts for a tag only when it started after the tag's commit reached the repo.
The bound must never be earlier than that commit (an older failure would be blamed on the new tag)
and, when the copy fetches several commits at once, it must be that commit's time, not the time of
whatever landed after it (a failure of the new tag that started in between would never be told).
"""

from __future__ import annotations

from pathlib import Path

from bot.gitops.snapshot import Snapshot
from bot.gitops.workdir import WorkingCopy
from tests.support.charts import ChartsRemote, git, git_env, make_charts_remote

APPS = {"staging": {"router": "image_tag: v1\n", "frontend": "image_tag: v1\n"}}


def _push(remote: ChartsRemote, app: str, tag: str, when: int, scratch: Path) -> None:
    """One commit by someone else, made at Unix time `when`."""
    env = {**git_env("A. Colleague", "a@x.test"), "GIT_AUTHOR_DATE": f"@{when} +0000", "GIT_COMMITTER_DATE": f"@{when} +0000"}  # fmt: skip
    clone = scratch / f"clone-{app}-{tag}"
    git("clone", "--quiet", "--branch", remote.branch, remote.url, str(clone), env=env)
    (clone / remote.file_path("staging", app)).write_text(f"image_tag: {tag}\n", encoding="utf-8")
    git("commit", "--quiet", "-am", f"Deploy {app} {tag}", cwd=clone, env=env)
    git("push", "--quiet", "origin", f"HEAD:refs/heads/{remote.branch}", cwd=clone, env=env)


def _copy(remote: ChartsRemote, tmp_path: Path) -> tuple[WorkingCopy, Snapshot]:
    copy = WorkingCopy(
        url=remote.url,
        branch=remote.branch,
        workdir=tmp_path / "work",
        image_tags_path=remote.image_tags_path,
        author_name="Deploy Bot",
        author_email="bot@x.test",
    )
    copy.prepare()
    copy.sync()  # as Charts.prepare does
    snapshot = Snapshot(["staging"])
    snapshot.take(copy)
    return copy, snapshot


def test_since_is_the_time_of_the_commit_that_changed_the_file_when_several_arrive_at_once(tmp_path: Path) -> None:
    remote = make_charts_remote(tmp_path, APPS)
    copy, snapshot = _copy(remote, tmp_path)
    _push(remote, "router", "v2", 1_900_000_000, tmp_path)
    _push(remote, "frontend", "v2", 1_900_000_100, tmp_path)  # lands before the bot's next fetch
    copy.sync()
    snapshot.take(copy)
    assert snapshot.current_tag("staging", "router") == "v2"
    assert snapshot.since("staging", "router") == 1_900_000_000
    assert snapshot.since("staging", "frontend") == 1_900_000_100
    _push(remote, "router", "v3", 1_900_000_200, tmp_path)
    copy.sync()
    snapshot.take(copy)
    assert snapshot.since("staging", "router") == 1_900_000_200
    assert snapshot.since("staging", "frontend") == 1_900_000_100  # unchanged: kept


def test_a_merged_pull_request_reached_the_repo_when_it_was_merged_not_when_its_commit_was_made(
    tmp_path: Path,
) -> None:
    """GOV.UK changes charts through pull requests too: the branch's commit is older than the merge,
    and only the merge put the tag on the branch Argo CD follows."""
    remote = make_charts_remote(tmp_path, APPS)
    copy, snapshot = _copy(remote, tmp_path)
    made, merged = 1_900_000_000, 1_900_000_500

    def dated(when: int) -> dict[str, str]:
        return {**git_env("A. Colleague", "a@x.test"), "GIT_AUTHOR_DATE": f"@{when} +0000", "GIT_COMMITTER_DATE": f"@{when} +0000"}  # fmt: skip

    clone = tmp_path / "clone-pr"
    git("clone", "--quiet", "--branch", remote.branch, remote.url, str(clone), env=dated(made))
    git("checkout", "--quiet", "-b", "pr", cwd=clone, env=dated(made))
    (clone / remote.file_path("staging", "router")).write_text("image_tag: v7\n", encoding="utf-8")
    git("commit", "--quiet", "-am", "Deploy router v7", cwd=clone, env=dated(made))
    git("checkout", "--quiet", remote.branch, cwd=clone, env=dated(made + 100))
    (clone / remote.file_path("staging", "frontend")).write_text("image_tag: v7\n", encoding="utf-8")
    git("commit", "--quiet", "-am", "Deploy frontend v7", cwd=clone, env=dated(made + 100))
    git("merge", "--quiet", "--no-ff", "-m", "Merge pull request", "pr", cwd=clone, env=dated(merged))
    git("push", "--quiet", "origin", f"HEAD:refs/heads/{remote.branch}", cwd=clone, env=dated(merged))
    copy.sync()
    snapshot.take(copy)
    assert snapshot.current_tag("staging", "router") == "v7"
    assert snapshot.since("staging", "router") == merged
    assert snapshot.since("staging", "frontend") == made + 100


def test_a_tag_put_back_within_one_fetch_reached_the_repo_when_it_was_put_back(tmp_path: Path) -> None:
    """v1 -> v2 -> v1 (a quick rollback) between two fetches: the file reads as before, but v1 reached
    the branch again only with the rollback; v2's failed operation, started before it, is not v1's."""
    remote = make_charts_remote(tmp_path, APPS)
    copy, snapshot = _copy(remote, tmp_path)
    first = snapshot.since("staging", "router")
    assert first is not None and first < 1_900_000_000
    _push(remote, "router", "v2", 1_900_000_000, tmp_path)
    _push(remote, "router", "v1", 1_900_000_300, tmp_path)
    copy.sync()
    snapshot.take(copy)
    assert snapshot.current_tag("staging", "router") == "v1"
    assert snapshot.since("staging", "router") == 1_900_000_300
