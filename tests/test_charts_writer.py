"""The image-tag writer (`bot.charts.ChartsRepo`) on its own: a bare charts remote, a working copy
in a temp dir and the cross-process lock in the test's Redis (`bot.store.Store`).
"""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path

import pytest

from bot.gitops.charts import ChartsRepo
from bot.gitops.workdir import ChartsError, split_credentials
from bot.gitops.writer import Change, Outcome
from bot.store import Store
from tests.support.charts import (
    DEFAULT_APPS,
    ENVIRONMENTS,
    IMAGE_TAGS_PATH,
    ChartsRemote,
    commit_symlink,
    git,
    make_charts_remote,
)

AUTHOR = ("govuk-deploy-bot", "govuk-deploy-bot@users.noreply.github.com")
TOKEN = "ghp_s3cr3tTokenValue0123456789"


@pytest.fixture
def store(redis_client, redis_prefix) -> Store:
    return Store(redis_client, redis_prefix)


def make_repo(remote_url: str, workdir: Path, store: Store, cls: type[ChartsRepo] = ChartsRepo, **extra) -> ChartsRepo:
    return cls(
        url=remote_url,
        branch="main",
        workdir=workdir,
        image_tags_path=IMAGE_TAGS_PATH,
        environments=list(ENVIRONMENTS),
        author_name=AUTHOR[0],
        author_email=AUTHOR[1],
        shared_lock=lambda: store.locked("charts-writer", timeout=30, wait=30),
        **extra,
    )


@pytest.fixture
def repo(charts_remote: ChartsRemote, tmp_path: Path, store: Store) -> Iterator[ChartsRepo]:
    charts = make_repo(charts_remote.url, tmp_path / "working-copy", store)
    charts.prepare()
    charts.start()
    try:
        yield charts
    finally:
        charts.stop()


def change(app: str, tag: str, env: str = "integration", **extra) -> Change:
    return Change(
        env=env,
        app=app,
        tag=tag,
        promote_deployment=extra.pop("promote_deployment", False),
        requested_by=extra.pop("requested_by", "octocat (U012AB3CD)"),
        deploy_id=extra.pop("deploy_id", f"test-{app}-{tag}"),
        **extra,
    )


def deploy(charts: ChartsRepo, item: Change) -> Outcome:
    return charts.submit(item).result(timeout=30)


def parent(remote: ChartsRemote, sha: str) -> str:
    return git("rev-parse", f"{sha}^", cwd=remote.path).strip()


# -- one commit per deploy ----------------------------------------------------------------------


def test_a_change_is_one_commit_on_the_remote(repo, charts_remote):
    base = charts_remote.head()
    outcome = deploy(repo, change("whitehall", "v4000"))
    assert outcome.committed, outcome
    sha, subject, body = charts_remote.log(1)[0]
    assert outcome.commit == sha == charts_remote.head()
    assert parent(charts_remote, sha) == base
    assert subject == "Update whitehall image tag to v4000 for integration"
    assert "Requested-by: octocat (U012AB3CD)" in body.splitlines()
    assert charts_remote.author(sha) == AUTHOR
    assert charts_remote.changed_paths(sha) == [f"{IMAGE_TAGS_PATH}/integration/whitehall"]


def test_the_same_tag_is_unchanged_and_commits_nothing(repo, charts_remote):
    count = charts_remote.commit_count()
    outcome = deploy(repo, change("whitehall", "v3232"))
    assert outcome.status == "unchanged"
    assert charts_remote.commit_count() == count


def test_a_missing_file_is_refused(repo, charts_remote):
    count = charts_remote.commit_count()
    outcome = deploy(repo, change("no-such-app", "v1"))
    assert outcome.status == "refused" and not outcome.committed
    assert charts_remote.commit_count() == count


# -- the push race -----------------------------------------------------------------------------


def test_a_commit_made_on_the_remote_after_prepare_is_built_upon(repo, charts_remote):
    theirs = charts_remote.commit_directly(
        "staging", "router", "image_tag: v600\n", "Update router image tag to v600 for staging"
    )
    outcome = deploy(repo, change("whitehall", "v4001"))
    assert outcome.committed, outcome
    assert charts_remote.head() == outcome.commit
    assert parent(charts_remote, outcome.commit) == theirs
    assert charts_remote.read("staging", "router") == "image_tag: v600\n"


class RacedCharts(ChartsRepo):
    """ChartsRepo whose first commit is preceded by someone else's push: after our fetch, before our push."""

    def __init__(self, *args, race: Callable[[], None], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.race: Callable[[], None] | None = race
        self.applied = 0
        apply = self.writer._apply

        def raced(item: Change) -> Outcome:
            self.applied += 1
            race, self.race = self.race, None
            if race is not None:
                race()
            return apply(item)

        self.writer._apply = raced


def test_a_push_rejected_because_the_branch_moved_is_redone_on_the_new_head(
    charts_remote, tmp_path, store, redis_client
):
    seen: dict[str, object] = {}

    def someone_else_pushes() -> None:
        seen["lock held"] = redis_client.exists(store.key("lock", "charts-writer"))
        seen["theirs"] = charts_remote.commit_directly(
            "integration", "signon", "image_tag: v1250\n", "Update signon image tag to v1250 for integration"
        )

    charts = make_repo(charts_remote.url, tmp_path / "wc", store, cls=RacedCharts, race=someone_else_pushes)
    charts.prepare()
    charts.start()
    try:
        count = charts_remote.commit_count()
        outcome = deploy(charts, change("whitehall", "v4002"))
    finally:
        charts.stop()
    assert seen["lock held"] == 1, "the writer pushed without holding the store lock"
    assert outcome.committed, outcome
    assert charts.applied == 2, "the rejected push was not redone"
    assert charts_remote.commit_count() == count + 2  # theirs and exactly one of ours
    assert charts_remote.head() == outcome.commit
    assert parent(charts_remote, outcome.commit) == seen["theirs"]
    assert charts_remote.read("integration", "signon") == "image_tag: v1250\n"
    assert charts_remote.read("integration", "whitehall").startswith("image_tag: v4002\n")


def test_a_race_on_the_same_file_keeps_their_edit_and_applies_ours_on_top(charts_remote, tmp_path, store):
    theirs_text = "image_tag: v3300  # CI\nautomatic_deploys_enabled: true\npromote_deployment: true\n"

    def someone_else_pushes() -> None:
        charts_remote.commit_directly("integration", "whitehall", theirs_text, "CI bumps whitehall")

    charts = make_repo(charts_remote.url, tmp_path / "wc", store, cls=RacedCharts, race=someone_else_pushes)
    charts.prepare()
    charts.start()
    try:
        outcome = deploy(charts, change("whitehall", "v4003"))
    finally:
        charts.stop()
    assert outcome.committed, outcome
    assert charts_remote.read("integration", "whitehall") == (
        "image_tag: v4003  # CI\nautomatic_deploys_enabled: true\npromote_deployment: false\n"
    )


def test_two_writers_on_one_remote_lose_nothing(charts_remote, tmp_path, store):
    """Two replicas (two working copies, one store lock) deploying at the same time."""
    first = make_repo(charts_remote.url, tmp_path / "one", store)
    second = make_repo(charts_remote.url, tmp_path / "two", store)
    for charts in (first, second):
        charts.prepare()
        charts.start()
    count = charts_remote.commit_count()
    try:
        combos = [(app, env) for env in ENVIRONMENTS for app in sorted(DEFAULT_APPS[env])][:8]
        futures = []
        for n, (app, env) in enumerate(combos):
            writer = first if n % 2 else second
            futures.append(writer.submit(change(app, f"v5{n:03d}", env)))
        outcomes = [f.result(timeout=60) for f in futures]
    finally:
        first.stop()
        second.stop()
    assert all(o.committed for o in outcomes), outcomes
    assert charts_remote.commit_count() == count + len(combos)
    for n, (app, env) in enumerate(combos):
        assert f"image_tag: v5{n:03d}" in charts_remote.read(env, app)


def test_the_store_lock_holds_writes_back_across_processes(repo, charts_remote, store):
    count = charts_remote.commit_count()
    with store.locked("charts-writer", timeout=30, wait=5):  # another replica is writing
        pending = repo.submit(change("whitehall", "v4004"))
        with pytest.raises(FutureTimeout):
            pending.result(timeout=0.5)
        assert charts_remote.commit_count() == count
    assert pending.result(timeout=30).committed
    assert charts_remote.commit_count() == count + 1


# -- the working copy ---------------------------------------------------------------------------


def test_the_working_copy_is_shallow_and_reused_after_a_restart(charts_remote, tmp_path, store):
    for n in range(4):
        charts_remote.commit_directly("staging", "router", f"image_tag: v70{n}\n", f"Router v70{n}")
    workdir = tmp_path / "wc"
    first = make_repo(charts_remote.url, workdir, store)
    first.prepare()
    first.start()
    try:
        assert git("rev-parse", "--is-shallow-repository", cwd=workdir).strip() == "true"
        assert git("rev-list", "--count", "HEAD", cwd=workdir).strip() == "1"
        assert deploy(first, change("whitehall", "v4005")).committed
    finally:
        first.stop()
    marker = workdir / ".git" / "reuse-marker"
    marker.write_text("here before the restart\n", encoding="utf-8")
    inode = (workdir / ".git" / "objects").stat().st_ino

    second = make_repo(charts_remote.url, workdir, store)
    second.prepare()
    second.start()
    try:
        assert marker.exists(), "the working copy was cloned again"
        assert (workdir / ".git" / "objects").stat().st_ino == inode
        assert second.copy.head == charts_remote.head()
        assert git("rev-parse", "--is-shallow-repository", cwd=workdir).strip() == "true"
        assert deploy(second, change("whitehall", "v4006")).committed
        assert git("rev-parse", "--is-shallow-repository", cwd=workdir).strip() == "true"
    finally:
        second.stop()
    assert charts_remote.read("integration", "whitehall").startswith("image_tag: v4006\n")


def other_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "other"
    folder.mkdir(exist_ok=True)
    return folder


def test_a_working_copy_the_bot_made_of_another_repository_is_replaced(charts_remote, tmp_path, store):
    other = make_charts_remote(other_folder(tmp_path), {"integration": {"stray-app": "image_tag: v1\n"}})
    workdir = tmp_path / "wc"
    earlier = make_repo(other.url, workdir, store)  # the bot, when CHARTS_REPO_URL pointed elsewhere
    earlier.prepare()
    earlier.stop()
    charts = make_repo(charts_remote.url, workdir, store)
    charts.prepare()
    try:
        assert charts.apps("integration") == sorted(DEFAULT_APPS["integration"])
    finally:
        charts.stop()


def test_a_folder_the_bot_did_not_make_is_never_deleted(charts_remote, tmp_path, store):
    workdir = tmp_path / "wc"
    workdir.mkdir()
    git("init", "--quiet", str(workdir))
    (workdir / "stray").write_text("not the charts repo\n", encoding="utf-8")
    charts = make_repo(charts_remote.url, workdir, store)
    with pytest.raises(ChartsError, match="CHARTS_WORKDIR") as refused:
        charts.prepare()
    charts.stop()
    assert str(workdir) in str(refused.value)
    assert (workdir / "stray").read_text(encoding="utf-8") == "not the charts repo\n"
    assert (workdir / ".git").is_dir()


def test_an_empty_folder_is_fine(charts_remote, tmp_path, store):
    workdir = tmp_path / "wc"
    workdir.mkdir()
    charts = make_repo(charts_remote.url, workdir, store)
    charts.prepare()
    try:
        assert charts.apps("integration") == sorted(DEFAULT_APPS["integration"])
    finally:
        charts.stop()


def test_a_clone_made_by_an_older_bot_is_adopted_not_recloned(charts_remote, tmp_path, store):
    workdir = tmp_path / "wc"
    git("clone", "--quiet", "--depth=1", charts_remote.url, str(workdir))  # no marker: an older bot's clone
    (workdir / ".git" / "kept").write_text("same clone\n", encoding="utf-8")
    charts = make_repo(charts_remote.url, workdir, store)
    charts.prepare()
    charts.stop()
    assert (workdir / ".git" / "kept").exists()
    # adopted: from now on it is the bot's, even once it points elsewhere
    other = make_charts_remote(other_folder(tmp_path), {"integration": {"other-app": "image_tag: v1\n"}})
    moved = make_repo(other.url, workdir, store)
    moved.prepare()
    try:
        assert moved.apps("integration") == ["other-app"]
    finally:
        moved.stop()


# -- names that must never become git options or paths ------------------------------------------


HOSTILE = [
    ("--upload-pack=touch pwned", "integration"),
    ("-f", "integration"),
    ("--help", "integration"),
    ("../../../README.md", "integration"),
    ("whitehall", "../integration"),
    ("whitehall", "--git-dir=x"),
]


def test_an_app_or_environment_argument_never_becomes_a_git_option(repo, charts_remote, tmp_path):
    head = charts_remote.head()
    for app, env in HOSTILE:
        outcome = deploy(repo, change(app, "v1", env))
        assert not outcome.committed, (app, env, outcome)
        assert charts_remote.head() == head
        assert git("status", "--porcelain", cwd=repo.copy.workdir).strip() == ""
    assert not (Path.cwd() / "pwned").exists() and not (tmp_path / "pwned").exists()
    assert not (repo.copy.workdir / "pwned").exists()
    # and the writer still works afterwards
    assert deploy(repo, change("collections", "v1600")).committed


def test_a_file_named_like_an_option_in_the_remote_is_not_an_app(charts_remote, tmp_path, store):
    charts_remote.commit_directly("integration", "--force", "image_tag: v1\n", "A file with an awkward name")
    charts = make_repo(charts_remote.url, tmp_path / "wc", store)
    charts.prepare()
    try:
        assert "--force" not in charts.apps("integration")
        assert "whitehall" in charts.apps("integration")
    finally:
        charts.stop()


# -- credentials --------------------------------------------------------------------------------


def test_split_credentials_moves_user_and_token_into_a_header():
    clean, env = split_credentials(f"https://x-access-token:{TOKEN}@github.com/alphagov/govuk-helm-charts.git")
    assert clean == "https://github.com/alphagov/govuk-helm-charts.git"
    assert TOKEN not in clean
    assert env["GIT_CONFIG_KEY_0"] == "http.extraheader"
    header = env["GIT_CONFIG_VALUE_0"]
    scheme, _, encoded = header.removeprefix("Authorization: ").partition(" ")
    assert scheme == "Basic"
    assert base64.b64decode(encoded).decode() == f"x-access-token:{TOKEN}"


def test_split_credentials_with_a_bare_token_and_escapes():
    clean, env = split_credentials("https://ghp%2Fabc%40def@github.example:8443/org/repo.git?x=1")
    assert clean == "https://github.example:8443/org/repo.git?x=1"
    encoded = env["GIT_CONFIG_VALUE_0"].split(" ")[-1]
    assert base64.b64decode(encoded).decode() == "x-access-token:ghp/abc@def"


@pytest.mark.parametrize(
    "url",
    [
        "file:///srv/charts.git",
        "https://github.com/alphagov/govuk-helm-charts.git",
        "git@github.com:alphagov/govuk-helm-charts.git",
        "ssh://git@github.com/alphagov/govuk-helm-charts.git",
    ],
)
def test_split_credentials_leaves_urls_without_credentials_alone(url):
    assert split_credentials(url) == (url, {})


def test_error_messages_are_scrubbed_of_the_token(store, tmp_path):
    url = f"https://x-access-token:{TOKEN}@github.example/alphagov/govuk-helm-charts.git"
    charts = make_repo(url, tmp_path / "wc", store)
    scrubbed = charts.copy.scrub(f"fatal: unable to access '{url}': Could not resolve host; token {TOKEN}")
    assert TOKEN not in scrubbed  # (whether parts of it survive depends on the hash seed: see below)
    assert "Could not resolve host" in scrubbed
    assert charts.copy.url == "https://github.example/alphagov/govuk-helm-charts.git"


def test_scrubbing_leaves_everything_but_the_secret_alone(store, tmp_path):
    """Only the credentials are masked: digits, addresses and git words in a failure reason
    (which is shown to the requester and on the card) stay readable."""
    charts = make_repo(f"https://x-access-token:{TOKEN}@github.example/org/repo.git", tmp_path / "wc", store)
    message = "push to 10.0.0.1 failed at commit 1a2b3c1 (attempt 1 of 10); http.extraheader was set"
    assert charts.copy.scrub(message) == message


SCRUB_SCRIPT = """
import contextlib, sys
from pathlib import Path
from bot.gitops.charts import ChartsRepo
token = sys.argv[1]
url = "https://x-access-token:" + token + "@github.example/alphagov/govuk-helm-charts.git"
charts = ChartsRepo(url=url, branch="main", workdir=Path("unused"), image_tags_path="x", environments=[],
                    author_name="a", author_email="b", shared_lock=contextlib.nullcontext)
print(charts.copy.scrub("the token is " + token))
"""


@pytest.mark.parametrize("hash_seed", ["0", "2", "3"])
def test_the_token_is_masked_whole_whatever_the_hash_seed(hash_seed):
    """The secrets to mask are kept in a set; whatever order Python's string hashing gives them,
    no part of the token may survive (pinned seeds keep this test deterministic)."""
    result = subprocess.run(
        [sys.executable, "-c", SCRUB_SCRIPT, TOKEN],
        cwd=Path(__file__).resolve().parents[1],
        env={**os.environ, "PYTHONHASHSEED": hash_seed},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    shown = result.stdout.strip()
    assert shown.startswith("the token is ")
    for start in range(len(TOKEN) - 6):
        assert TOKEN[start : start + 6] not in shown, shown


def test_a_failed_clone_over_https_does_not_reveal_the_token(store, tmp_path):
    url = f"https://x-access-token:{TOKEN}@127.0.0.1:9/alphagov/govuk-helm-charts.git"
    charts = make_repo(url, tmp_path / "wc", store)
    with pytest.raises(Exception) as raised:
        charts.prepare()
    assert TOKEN not in str(raised.value)
    assert "127.0.0.1" in str(raised.value) or "clone" in str(raised.value)
    git_config = tmp_path / "wc" / ".git" / "config"
    assert not git_config.exists() or TOKEN not in git_config.read_text()


def test_the_token_never_lands_in_the_working_copys_git_config(charts_remote, tmp_path, store, monkeypatch):
    """An https URL with a token, redirected to the local bare remote by git's own `insteadOf`:
    the clone, fetch and push all run, and `.git/config` holds only the clean URL."""
    public = "https://github.example/alphagov/govuk-helm-charts.git"
    global_config = tmp_path / "gitconfig"
    global_config.write_text(f'[url "{charts_remote.url}"]\n\tinsteadOf = {public}\n', encoding="utf-8")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(global_config))
    url = public.replace("https://", f"https://x-access-token:{TOKEN}@")
    charts = make_repo(url, tmp_path / "wc", store)
    charts.prepare()
    charts.start()
    try:
        outcome = deploy(charts, change("whitehall", "v4007"))
    finally:
        charts.stop()
    assert outcome.committed, outcome
    assert charts_remote.head() == outcome.commit
    config = (tmp_path / "wc" / ".git" / "config").read_text(encoding="utf-8")
    assert public in config
    assert TOKEN not in config
    encoded = base64.b64encode(f"x-access-token:{TOKEN}".encode()).decode()
    for path in (tmp_path / "wc" / ".git").rglob("*"):
        if path.is_file() and path.stat().st_size < 1_000_000 and "objects" not in path.parts:
            data = path.read_bytes()
            assert TOKEN.encode() not in data and encoded.encode() not in data, path


def test_concurrent_submits_from_many_threads_all_resolve(repo, charts_remote):
    count = charts_remote.commit_count()
    results: list[Outcome] = []
    lock = threading.Lock()

    def submit(n: int) -> None:
        outcome = deploy(repo, change("whitehall", f"v90{n:02d}", deploy_id=f"t{n}"))
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=submit, args=(n,)) for n in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(results) == 10 and all(o.committed for o in results), results
    assert charts_remote.commit_count() == count + 10
    assert len({o.commit for o in results}) == 10


# -- symbolic links in the image-tags folder are absent -----------------------------------


def test_a_linked_image_tag_file_is_not_an_app_and_its_target_is_never_read_or_written(charts_remote, tmp_path, store):
    outside = tmp_path / "outside-file"
    outside.write_text("image_tag: precious\n", encoding="utf-8")
    commit_symlink(charts_remote, f"{IMAGE_TAGS_PATH}/integration/x", str(outside))
    commit_symlink(charts_remote, f"{IMAGE_TAGS_PATH}/integration/inside-link", "whitehall")
    charts = make_repo(charts_remote.url, tmp_path / "wc", store)
    charts.prepare()
    charts.start()
    try:
        assert "x" not in charts.apps("integration") and "inside-link" not in charts.apps("integration")
        assert "whitehall" in charts.apps("integration")
        assert charts.read("integration", "x") is None
        head = charts_remote.head()
        for app in ("x", "inside-link"):
            outcome = deploy(charts, change(app, "v1"))
            assert outcome.status == "refused" and "no image-tag file" in outcome.reason, outcome
        assert charts_remote.head() == head
    finally:
        charts.stop()
    assert outside.read_text(encoding="utf-8") == "image_tag: precious\n"


def test_a_linked_environment_folder_is_absent(tmp_path, store):
    outside = tmp_path / "outside-folder"
    outside.mkdir()
    (outside / "whitehall").write_text("image_tag: precious\n", encoding="utf-8")
    remote = make_charts_remote(other_folder(tmp_path), {"integration": {"whitehall": "image_tag: v1\n"}})
    commit_symlink(remote, f"{IMAGE_TAGS_PATH}/staging", str(outside))
    commit_symlink(remote, f"{IMAGE_TAGS_PATH}/production", "integration")
    charts = make_repo(remote.url, tmp_path / "wc", store)
    charts.prepare()
    charts.start()
    try:
        assert charts.apps("staging") == [] and charts.apps("production") == []
        assert charts.read("staging", "whitehall") is None and charts.read("production", "whitehall") is None
        for env in ("staging", "production"):
            outcome = deploy(charts, change("whitehall", "v2", env))
            assert outcome.status == "refused", outcome
        promoted = deploy(charts, change("whitehall", None, "integration", source_env="production"))
        assert promoted.status == "refused", promoted
    finally:
        charts.stop()
    assert (outside / "whitehall").read_text(encoding="utf-8") == "image_tag: precious\n"
    assert remote.read("integration", "whitehall") == "image_tag: v1\n"


def test_a_charts_workdir_that_links_to_an_empty_folder_is_fine(charts_remote, tmp_path, store):
    target = tmp_path / "big-disk" / "charts"
    target.mkdir(parents=True)
    workdir = tmp_path / "wc"
    workdir.symlink_to(target)
    charts = make_repo(charts_remote.url, workdir, store)
    charts.prepare()
    try:
        assert charts.apps("integration") == sorted(DEFAULT_APPS["integration"])
        assert (target / ".git").is_dir()
    finally:
        charts.stop()
