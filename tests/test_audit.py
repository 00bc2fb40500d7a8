"""The audit trail, `python -m bot audit`, and LOG_FORMAT=json, on a real Redis."""

from __future__ import annotations

import io
import json
import logging
import os
import socket
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from bot.audit import FIRST_PAGE, READ_PAGE, Action, AuditTrail, actor_of
from bot.config import ConfigError, load_settings
from bot.logs import JsonFormatter, configure_logging
from bot.releases.model import CI, Requester
from bot.store import Store, connect
from tests.support.app import ServeProcess
from tests.support.local_servers import free_port

ROOT = Path(__file__).resolve().parents[1]
SPEC_ACTIONS = [
    "deploy_requested",
    "deploy_refused",
    "deploy_committed",
    "deploy_failed",
    "deploy_held",
    "hold_released",
    "promoted",
    "sync_outcome",
    "test_outcome",
    "freeze",
    "unfreeze",
    "override",
    "rollback",
    "linked",
    "unlinked",
    "approval_requested",
    "approved",
    "denied",
    "expired",
]
OCTOCAT = Requester("U012AB3CD", "octocat")
T0 = datetime(2026, 11, 29, 10, 31, 48, 250000, tzinfo=UTC).timestamp()


class Clock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def store(redis_url: str, redis_prefix: str):
    client = connect(redis_url)
    yield Store(client, redis_prefix)
    client.close()


def trail_on(store: Store, max_entries: int = 100_000, clock=None) -> AuditTrail:
    return AuditTrail(store, max_entries, clock=clock or Clock())


# -- the record ---------------------------------------------------------------------------------


def test_a_persons_record_names_their_slack_user_and_github_login_and_only_the_fields_given(store):
    trail = trail_on(store)
    trail.record(
        Action.DEPLOY_COMMITTED,
        actor=OCTOCAT,
        app="whitehall",
        env="staging",
        tag="v3232",
        commit="0123abc",
        deploy_id="d-1",
    )
    [stored] = trail.read()
    assert stored == {
        "at": "2026-11-29T10:31:48.250Z",
        "action": "deploy_committed",
        "actor": {"slack": "U012AB3CD", "github": "octocat"},
        "app": "whitehall",
        "env": "staging",
        "tag": "v3232",
        "deploy_id": "d-1",
        "commit": "0123abc",
    }
    assert datetime.fromisoformat(stored["at"]) == datetime.fromtimestamp(T0, UTC)


def test_cis_record_has_the_actor_CI_and_a_refusal_carries_its_reason(store):
    trail = trail_on(store)
    trail.record("deploy_refused", actor=CI, app="whitehall", env="production", tag="v1", reason="token is for staging")
    [stored] = trail.read()
    assert stored["actor"] == "CI"
    assert stored["reason"] == "token is for staging"
    assert "commit" not in stored and "outcome" not in stored and "deploy_id" not in stored


def test_app_env_and_tag_are_always_present_even_when_a_decision_has_none(store):
    trail = trail_on(store)
    trail.record(Action.LINKED, actor={"slack_user": "U012AB3CD", "login": "octocat"})
    [stored] = trail.read()
    assert {"app": None, "env": None, "tag": None}.items() <= stored.items()
    assert stored["actor"] == {"slack": "U012AB3CD", "github": "octocat"}


@pytest.mark.parametrize(
    ("who", "expected"),
    [
        (Requester("U1", "octocat"), {"slack": "U1", "github": "octocat"}),
        (Requester("U1", None), {"slack": "U1", "github": None}),  # a refused, unlinked person
        (Requester(), "CI"),
        (None, "CI"),
        ("CI", "CI"),
        ({"slack": "U2", "github": "hubot"}, {"slack": "U2", "github": "hubot"}),
        ({"slack_user": "U2", "login": "hubot"}, {"slack": "U2", "github": "hubot"}),
    ],
)
def test_actors_of_every_accepted_shape(who, expected):
    assert actor_of(who) == expected


def test_an_actor_of_another_kind_is_refused():
    with pytest.raises(TypeError):
        actor_of(42)


def test_every_action_of_the_contract_is_accepted_and_stored(store):
    assert sorted(a.value for a in Action) == sorted(SPEC_ACTIONS)
    trail = trail_on(store)
    for name in SPEC_ACTIONS:
        trail.record(name, actor=OCTOCAT, app="whitehall", env="integration", tag="v1")
    assert [r["action"] for r in trail.read()] == SPEC_ACTIONS


@pytest.mark.parametrize("name", ["deployed", "", "DEPLOY_REQUESTED", "deploy-requested"])
def test_an_unknown_action_is_refused_and_nothing_is_stored(store, name):
    trail = trail_on(store)
    with pytest.raises(ValueError, match="unknown audit action"):
        trail.record(name, actor=CI, app="whitehall")
    assert trail.read() == []


def test_an_extra_field_that_would_clash_with_the_log_record_is_refused(store):
    trail = trail_on(store)
    with pytest.raises(ValueError, match="name"):
        trail.record(Action.PROMOTED, actor=CI, name="x")
    assert trail.read() == []


def test_extra_fields_are_stored_after_the_contract_fields(store):
    trail = trail_on(store)
    trail.record(Action.PROMOTED, actor=CI, app="whitehall", env="staging", tag="v2", automatic=True, previous=None)
    [stored] = trail.read()
    assert stored["automatic"] is True
    assert "previous" not in stored


def test_each_record_is_logged_as_one_line_with_its_fields(store, caplog):
    trail = trail_on(store)
    with caplog.at_level(logging.INFO, logger="bot.audit"):
        trail.record(Action.OVERRIDE, actor=OCTOCAT, app="whitehall", env="production", tag="v9", reason="hotfix\nnow")
    [line] = [r for r in caplog.records if r.name == "bot.audit"]
    assert line.levelno == logging.INFO
    assert "\n" not in line.getMessage()
    assert "override" in line.getMessage() and "whitehall" in line.getMessage()
    assert line.action == "override" and line.reason == "hotfix\nnow" and line.actor["github"] == "octocat"


def test_with_the_store_down_record_does_not_raise_and_the_log_says_it_was_not_stored(caplog):
    down = Store(connect(f"redis://127.0.0.1:{free_port()}/0"), "down:")
    trail = trail_on(down)
    with caplog.at_level(logging.INFO, logger="bot.audit"):
        doc = trail.record(Action.DEPLOY_REQUESTED, actor=OCTOCAT, app="whitehall", env="integration", tag="v1")
    assert doc["action"] == "deploy_requested"
    [line] = [r for r in caplog.records if r.name == "bot.audit"]
    assert line.levelno == logging.WARNING
    assert "NOT stored" in line.getMessage()
    assert line.app == "whitehall"


def test_a_deferred_record_is_made_at_once_and_written_in_order_by_the_background_writer(store):
    clock = Clock()
    trail = trail_on(store, clock=clock)
    for number in range(50):
        clock.now = T0 + number
        doc = trail.defer(Action.DEPLOY_REQUESTED, actor=OCTOCAT, app="whitehall", env="integration", tag=f"v{number}")
        assert datetime.fromisoformat(doc["at"]).timestamp() == pytest.approx(T0 + number)
    assert trail.flush(timeout=10)
    stored = trail.read()
    assert tags(stored) == [f"v{n}" for n in range(50)]
    assert stored[7]["at"] == "2026-11-29T10:31:55.250Z"  # the time of the decision, not of the write


def test_defer_checks_its_arguments_at_once(store):
    trail = trail_on(store)
    with pytest.raises(ValueError, match="unknown audit action"):
        trail.defer("deployed", actor=CI)
    with pytest.raises(TypeError):
        trail.defer(Action.LINKED)  # no actor


def test_defer_never_waits_for_a_store_that_does_not_answer(caplog):
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)  # accepts connections into the backlog and never answers
    client = redis.Redis(
        port=silent.getsockname()[1], socket_timeout=0.3, socket_connect_timeout=0.3, retry=Retry(NoBackoff(), 0)
    )
    trail = trail_on(Store(client, "silent:"))
    try:
        with caplog.at_level(logging.INFO, logger="bot.audit"):
            started = time.monotonic()
            for number in range(3):
                trail.defer(Action.DEPLOY_REFUSED, actor=OCTOCAT, app="whitehall", tag=f"v{number}", reason="x")
            assert time.monotonic() - started < 0.1
            assert trail.flush(timeout=30)
        lines = [r for r in caplog.records if r.name == "bot.audit"]
        assert [r.tag for r in lines] == ["v0", "v1", "v2"]
        assert all(r.levelno == logging.WARNING and "NOT stored" in r.getMessage() for r in lines)
    finally:
        client.close()
        silent.close()


# -- the cap ------------------------------------------------------------------------------------


def test_the_stream_keeps_exactly_the_newest_max_entries(store):
    trail = trail_on(store, max_entries=100)
    for number in range(1000):
        trail.record(Action.SYNC_OUTCOME, actor=CI, app="whitehall", env="integration", tag=f"v{number}")
    assert store.client.xlen(trail.other_key) == 100  # outcomes: what the decisions' stream is kept from
    kept = trail.read()
    assert [r["tag"] for r in kept] == [f"v{n}" for n in range(900, 1000)]


def test_a_cap_of_one_keeps_only_the_last_record(store):
    trail = trail_on(store, max_entries=1)
    for number in range(5):
        trail.record(Action.FREEZE, actor=OCTOCAT, app="whitehall", env="production", tag=f"v{number}")
    assert [r["tag"] for r in trail.read()] == ["v4"]


def test_a_cap_below_one_is_refused(store):
    with pytest.raises(ValueError):
        AuditTrail(store, 0)


# -- reading, filtered --------------------------------------------------------------------------


def history(store: Store) -> AuditTrail:
    """Twelve records an hour apart: apps a/b alternate, envs integration/staging/production in turn."""
    clock = Clock()
    trail = trail_on(store, clock=clock)
    envs = ("integration", "staging", "production")
    for hour in range(12):
        clock.now = T0 + hour * 3600
        trail.record(Action.DEPLOY_COMMITTED, actor=CI, app="ab"[hour % 2], env=envs[hour % 3], tag=f"v{hour}")
    return trail


def tags(records: list[dict]) -> list[str]:
    return [r["tag"] for r in records]


def test_read_with_no_filter_returns_everything_oldest_first(store):
    assert tags(history(store).read()) == [f"v{h}" for h in range(12)]


def test_read_filters_by_app(store):
    assert tags(history(store).read(app="a")) == ["v0", "v2", "v4", "v6", "v8", "v10"]


def test_read_filters_by_env(store):
    assert tags(history(store).read(env="staging")) == ["v1", "v4", "v7", "v10"]


def test_read_filters_by_since_inclusive_in_any_offset(store):
    trail = history(store)
    since = datetime.fromtimestamp(T0 + 9 * 3600, UTC)
    assert tags(trail.read(since=since)) == ["v9", "v10", "v11"]
    in_paris = since.astimezone(timezone(timedelta(hours=1))).isoformat()
    assert "+01:00" in in_paris
    assert tags(trail.read(since=in_paris)) == ["v9", "v10", "v11"]
    assert tags(trail.read(since="2026-11-30")) == []  # a date alone is midnight UTC


def test_limit_keeps_the_newest_n_matches_oldest_first(store):
    trail = history(store)
    assert tags(trail.read(limit=3)) == ["v9", "v10", "v11"]
    assert tags(trail.read(limit=0)) == []
    assert tags(trail.read(limit=100)) == [f"v{h}" for h in range(12)]


def test_filters_combine(store):
    trail = history(store)
    # app a is the even hours, production every third from hour 2: hours 2 and 8; since hour 3 leaves 8
    assert tags(trail.read(app="a", env="production")) == ["v2", "v8"]
    assert tags(trail.read(app="a", env="production", since=datetime.fromtimestamp(T0 + 3 * 3600, UTC))) == ["v8"]
    assert tags(trail.read(app="b", since=datetime.fromtimestamp(T0 + 4 * 3600, UTC), limit=2)) == ["v9", "v11"]
    assert trail.read(app="nobody") == []


def test_a_negative_limit_is_refused(store):
    with pytest.raises(ValueError):
        trail_on(store).read(limit=-1)


def test_reading_without_an_app_fetches_pages_from_the_end_and_each_reads_forwards(store):
    trail = trail_on(store)
    for number in range(2500):
        trail.record(Action.PROMOTED, actor=CI, app="busy", env="production", tag=str(number))
        trail.record(Action.SYNC_OUTCOME, actor=CI, app="busy", env="staging", tag=f"s{number}")
    fetched = []
    real = store.client.xrevrange

    def counting(*args, **kwargs):
        page = real(*args, **kwargs)
        fetched.append(len(page))
        return page

    store.client.xrevrange = counting
    assert tags(trail.read(limit=3)) == ["2498", "s2498", "2499", "s2499"][-3:]
    assert sum(fetched) <= 2 * FIRST_PAGE, fetched  # a small page of each stream, not 5,000 entries
    fetched.clear()
    assert tags(trail.read(env="production", limit=2)) == ["2498", "2499"]
    assert len(trail.read(env="production")) == 2500
    assert max(fetched) <= READ_PAGE
    everything = list(trail.each())
    assert len(everything) == 5000
    assert tags(everything[:3]) == ["0", "s0", "1"] and tags(everything[-2:]) == ["2499", "s2499"]


def test_each_streams_the_same_matches_as_read_oldest_first(store):
    trail = history(store)
    since = datetime.fromtimestamp(T0 + 3 * 3600, UTC)
    for filters in ({}, {"app": "a"}, {"env": "staging"}, {"app": "b", "env": "integration", "since": since}):
        assert list(trail.each(**filters)) == trail.read(**filters), filters


def test_an_entry_that_is_not_a_record_is_skipped(store):
    trail = trail_on(store)
    trail.record(Action.LINKED, actor=OCTOCAT)
    store.client.xadd(trail.key, {"record": "not json"})
    store.client.xadd(trail.key, {"other": "field"})
    trail.record(Action.UNLINKED, actor=OCTOCAT)  # and after the junk, the trail goes on
    assert [r["action"] for r in trail.read()] == ["linked", "unlinked"]


# -- two replicas -------------------------------------------------------------------------------


def test_two_writers_on_two_connections_lose_nothing_and_keep_each_ones_order(redis_url, redis_prefix):
    per_writer = 400
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def write(name: str) -> None:
        client = connect(redis_url)
        try:
            trail = AuditTrail(Store(client, redis_prefix), 100_000)
            barrier.wait()
            for number in range(per_writer):
                trail.record(Action.TEST_OUTCOME, actor=CI, app=name, env="integration", tag=f"{name}{number}")
        except BaseException as error:  # reported below, in the test's thread
            errors.append(error)
        finally:
            client.close()

    threads = [threading.Thread(target=write, args=(name,)) for name in ("first", "second")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors
    client = connect(redis_url)
    try:
        records = AuditTrail(Store(client, redis_prefix), 100_000).read()
    finally:
        client.close()
    assert len(records) == 2 * per_writer
    for name in ("first", "second"):
        assert tags([r for r in records if r["app"] == name]) == [f"{name}{n}" for n in range(per_writer)]
    interleaved = sum(1 for a, b in zip(records, records[1:], strict=False) if a["app"] != b["app"])
    assert interleaved > 1  # both wrote at the same time, not one after the other


# -- python -m bot audit ------------------------------------------------------------------------


def cli_env(tmp_path: Path, **settings: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("SLACK_", "REDIS_", "CHARTS_", "GITHUB_", "WEBHOOK_", "BOT_", "LOG_", "AUDIT_"))
    }
    env["XDG_CACHE_HOME"] = str(tmp_path / "cache")
    env.update(settings)
    return env


def audit_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "bot", "audit", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_cli_prints_matching_records_oldest_first_one_json_object_per_line(
    tmp_path, store, redis_url, redis_prefix
):
    history(store)
    env = cli_env(tmp_path, REDIS_URL=redis_url, REDIS_PREFIX=redis_prefix)
    result = audit_cli("--app", "a", "--env", "production", env=env)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert [json.loads(line)["tag"] for line in lines] == ["v2", "v8"]
    result = audit_cli("--since", "2026-11-29T18:31:48.250Z", "--limit", "2", env=env)
    assert result.returncode == 0, result.stderr
    assert [json.loads(line)["tag"] for line in result.stdout.splitlines()] == ["v10", "v11"]
    result = audit_cli(env=env)
    assert len(result.stdout.splitlines()) == 12
    assert result.stderr == ""


def test_the_cli_reads_only_its_own_prefix(tmp_path, store, redis_url, redis_prefix):
    history(store)
    result = audit_cli(env=cli_env(tmp_path, REDIS_URL=redis_url, REDIS_PREFIX=redis_prefix + "other:"))
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""


def test_the_cli_needs_no_slack_settings_and_honours_a_bad_config_as_a_config_error(tmp_path, redis_url, redis_prefix):
    result = audit_cli(env=cli_env(tmp_path, REDIS_URL=redis_url, REDIS_PREFIX=redis_prefix, AUDIT_MAX_ENTRIES="0"))
    assert result.returncode == 1
    assert "AUDIT_MAX_ENTRIES" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (("--since", "yesterday"), "--since"),
        (("--since", "2026-13-01"), "--since"),
        (("--limit", "-1"), "--limit"),
        (("--limit", "ten"), "--limit"),
        (("--frobnicate",), "--frobnicate"),
        (("--app",), "--app"),
        (("extra",), "extra"),
    ],
)
def test_the_cli_answers_a_bad_argument_with_one_line_and_exit_2(tmp_path, redis_url, redis_prefix, args, named):
    result = audit_cli(*args, env=cli_env(tmp_path, REDIS_URL=redis_url, REDIS_PREFIX=redis_prefix))
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, lines
    assert named in lines[0] and "Traceback" not in result.stderr


def test_the_cli_with_the_store_unreachable_says_so_in_one_line_and_exits_1(tmp_path):
    env = cli_env(tmp_path, REDIS_URL=f"redis://:secret-pass-4242@127.0.0.1:{free_port()}/0")
    result = audit_cli(env=env)
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert len(lines) == 1, lines
    assert "unavailable" in lines[0]
    assert "secret-pass-4242" not in result.stderr and "Traceback" not in result.stderr


def test_the_cli_refuses_memory_store_which_no_other_process_can_see(tmp_path):
    result = audit_cli(env=cli_env(tmp_path, REDIS_URL="memory://"))
    assert result.returncode == 1
    assert "memory://" in result.stderr and len(result.stderr.splitlines()) == 1


# -- settings -----------------------------------------------------------------------------------


def test_audit_max_entries_and_log_format_default_and_parse():
    settings = load_settings({}, require_serve=False)
    assert settings.audit_max_entries == 100_000 and settings.log_format == "text"
    settings = load_settings({"AUDIT_MAX_ENTRIES": "500", "LOG_FORMAT": " JSON "}, require_serve=False)
    assert settings.audit_max_entries == 500 and settings.log_format == "json"


@pytest.mark.parametrize(
    ("name", "value"), [("AUDIT_MAX_ENTRIES", "0"), ("AUDIT_MAX_ENTRIES", "many"), ("LOG_FORMAT", "xml")]
)
def test_a_bad_audit_or_log_setting_is_named_in_plain_words(name, value):
    with pytest.raises(ConfigError) as raised:
        load_settings({name: value}, require_serve=False)
    [problem] = raised.value.problems
    assert name in problem and repr(value) in problem


def test_check_config_reports_a_bad_log_format_without_a_traceback(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "bot", "check-config"],
        cwd=ROOT,
        env=cli_env(tmp_path, LOG_FORMAT="yaml"),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert [line for line in result.stderr.splitlines() if "LOG_FORMAT" in line] == [
        "config error: LOG_FORMAT must be text or json, got 'yaml'."
    ]
    assert "Traceback" not in result.stderr


# -- LOG_FORMAT=json ----------------------------------------------------------------------------


def json_logger(name: str) -> tuple[logging.Logger, io.StringIO]:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger(name)
    logger.handlers = [handler]
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    return logger, out


def test_a_json_log_line_has_time_level_logger_message_and_the_extra_fields():
    logger, out = json_logger("tests.json_fields")
    logger.info("deploy %s landed", "v1", extra={"app": "whitehall", "actor": {"slack": "U1"}, "level": "x"})
    [line] = out.getvalue().splitlines()
    doc = json.loads(line)
    assert doc["level"] == "INFO" and doc["logger"] == "tests.json_fields" and doc["message"] == "deploy v1 landed"
    assert doc["app"] == "whitehall" and doc["actor"] == {"slack": "U1"}
    assert doc["extra_level"] == "x"  # an extra field never overwrites the line's own
    assert datetime.fromisoformat(doc["time"]).tzinfo is not None


def test_an_exception_is_one_field_of_one_line_not_a_multi_line_traceback():
    logger, out = json_logger("tests.json_exception")
    try:
        raise RuntimeError("push rejected\nby the remote")
    except RuntimeError:
        logger.exception("deploy failed")
    [line] = out.getvalue().splitlines()
    doc = json.loads(line)
    assert doc["message"] == "deploy failed"
    assert doc["exception_type"] == "RuntimeError"
    assert "Traceback" in doc["exception"] and "push rejected" in doc["exception"]


def test_text_log_format_is_unchanged_by_default():
    out = io.StringIO()
    root = logging.getLogger()
    saved = root.handlers[:]
    root.handlers = []
    try:
        configure_logging({}, stream=out)
        logging.getLogger("tests.text").warning("plain %s", "words")
    finally:
        root.handlers = saved
    assert out.getvalue().rstrip().endswith("WARNING tests.text: plain words")


def test_serve_with_log_format_json_writes_only_json_lines(bot_env, tmp_path):
    log_path = tmp_path / "serve.log"
    process = ServeProcess({**bot_env, "LOG_FORMAT": "json"}, log_path=log_path)
    try:
        answer = process.http.post("/webhooks/argocd", content=b"{not json", headers={"Authorization": "Bearer wrong"})
        assert answer.status_code == 401
    finally:
        process.stop()
    lines = [line for line in log_path.read_text().splitlines() if line.strip()]
    assert lines, "serve logged nothing"
    docs = [json.loads(line) for line in lines]
    assert all({"time", "level", "logger", "message"} <= doc.keys() for doc in docs)
    assert any("listening" in doc["message"] for doc in docs)


# -- refusals cannot erase the trail (SPEC 12) -----------------------------------------------------

CHANGES = [Action.DEPLOY_COMMITTED, Action.PROMOTED, Action.DEPLOY_HELD, Action.FREEZE, Action.OVERRIDE]
CHANGES += [Action.ROLLBACK, Action.LINKED, Action.APPROVED]


def test_refusals_never_push_a_decision_that_changed_something_out_of_the_trail(store):
    clock = Clock()
    trail = trail_on(store, max_entries=300, clock=clock)
    for number, action in enumerate(CHANGES):
        trail.record(action, actor=OCTOCAT, app="whitehall", env="production", tag=f"v{number}", commit="abc")
    for number in range(2000):  # many people, many minutes: nothing held back by the per-person limit
        clock.now = T0 + number * 7
        refuser = {"slack": f"U{number % 97:08d}", "github": None}
        trail.record(Action.DEPLOY_REFUSED, actor=refuser, app="whitehall", env="production", reason="no")
    kept = trail.read(app="whitehall")
    assert [r["action"] for r in kept if r["action"] != "deploy_refused"] == [a.value for a in CHANGES]
    assert len([r for r in kept if r["action"] == "deploy_refused"]) <= 300
    assert [r["action"] for r in trail.read(app="whitehall", limit=400)][: len(CHANGES)] == [a.value for a in CHANGES]


def test_the_newest_max_entries_decisions_stay_and_refusals_keep_their_own_newest(store):
    trail = trail_on(store, max_entries=50)
    for number in range(80):
        trail.record(Action.DEPLOY_COMMITTED, actor=CI, app="a", env="integration", tag=f"c{number}")
        trail.record(Action.DEPLOY_REFUSED, actor=CI, app="a", env="integration", tag=f"r{number}", reason="no")
    kept = trail.read()
    assert tags([r for r in kept if r["action"] == "deploy_committed"]) == [f"c{n}" for n in range(30, 80)]
    assert tags([r for r in kept if r["action"] == "deploy_refused"]) == [f"r{n}" for n in range(30, 80)]
    assert tags(kept[-4:]) == ["c78", "r78", "c79", "r79"]  # one trail, in the order things happened


def test_one_persons_refusals_are_recorded_ten_a_minute_and_the_rest_counted_in_one_record(store):
    clock = Clock(T0 - T0 % 60)  # the start of a minute
    trail = trail_on(store, clock=clock)
    person, other = {"slack": "U0FLOOD01", "github": None}, {"slack": "U0CALM001", "github": "calm"}
    for number in range(245):
        clock.now += 0.2
        trail.record(Action.DEPLOY_REFUSED, actor=person, app="whitehall", env="production", reason="not linked")
        if number % 50 == 0:
            trail.record(Action.DEPLOY_REFUSED, actor=other, app="router", env="staging", reason="frozen")
    assert len([r for r in trail.read() if r["actor"] == person]) == 10
    assert len([r for r in trail.read() if r["actor"] == other]) == 5  # someone else is not held back
    clock.now += 60  # the next minute: the minute that ended is summed up, once
    trail.record(Action.DEPLOY_REFUSED, actor=person, app="whitehall", env="production", reason="not linked")
    trail.summarise()
    mine = [r for r in trail.read() if r["actor"] == person]
    [counted] = [r for r in mine if r.get("outcome") == "rate_limited"]
    assert counted["action"] == "deploy_refused" and counted["refusals"] == 235
    assert counted["at"].endswith(":00.000Z") and "235" in counted["reason"]
    assert len(mine) == 12  # ten, the count, and the first of the new minute
    trail.summarise()
    assert len([r for r in trail.read() if r["actor"] == person]) == 12


def test_any_apps_last_ten_are_read_without_reading_the_trail(store):
    trail = trail_on(store)
    for number in range(10):
        trail.record(Action.DEPLOY_COMMITTED, actor=CI, app="rare", env="production", tag=f"r{number}")
    with store.client.pipeline(transaction=False) as pipe:  # 5,000 records of a busy app, as fast as Redis takes them
        for number in range(5000):
            trail.record(Action.DEPLOY_COMMITTED, actor=CI, app="busy", env="production", tag=f"b{number}")
        pipe.execute()
    fetched: list[int] = []
    for name in ("xrevrange", "xrange"):
        real = getattr(store.client, name)

        def counting(*args, real=real, **kwargs):
            page = real(*args, **kwargs)
            fetched.append(len(page))
            return page

        setattr(store.client, name, counting)
    assert tags(trail.read(app="rare", limit=10)) == [f"r{n}" for n in range(10)]
    assert sum(fetched) <= 50, fetched  # the rare app's own, not 5,010 entries
    fetched.clear()
    assert tags(trail.read(app="busy", limit=10)) == [f"b{n}" for n in range(4990, 5000)]
    assert sum(fetched) <= 100, fetched
    assert tags(trail.read(app="rare", env="production", since=datetime.fromtimestamp(T0, UTC))) == [
        f"r{n}" for n in range(10)
    ]
    assert tags(trail.each(app="rare")) == [f"r{n}" for n in range(10)]


def test_four_hundred_refused_deploys_by_an_unlinked_user_leave_the_committed_deploy_in_the_trail(
    bot_env, fake_slack, tmp_path, redis_url, redis_prefix
):
    from tests.support.app import MEMBER, UNLINKED, BotHarness

    bot = BotHarness({**bot_env, "AUDIT_MAX_ENTRIES": "300"})
    try:
        bot.slash("whitehall v8100 integration", user=MEMBER, response_url=fake_slack.response_url("deploy"))
        assert "Committed" in fake_slack.wait_for_response("deploy", timeout=30)[0]["text"]
        for _ in range(400):
            assert bot.slash("whitehall v8101 integration", user=UNLINKED).status_code == 200
        bot.settle()
        assert bot.services.audit.flush(timeout=30)
    finally:
        bot.stop()
    result = audit_cli("--app", "whitehall", env=cli_env(tmp_path, REDIS_URL=redis_url, REDIS_PREFIX=redis_prefix))
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["tag"] for r in records if r["action"] == "deploy_committed"] == ["v8100"]
    refused = [r for r in records if r["action"] == "deploy_refused" and r["actor"]["slack"] == UNLINKED]
    assert 10 <= len(refused) <= 10 + 2 * 10  # ten a minute (the loop may span a minute or two), no more


def test_an_apps_index_entries_for_records_trimmed_away_are_not_looked_up(store):
    trail = trail_on(store, max_entries=100)
    for number in range(100):
        trail.record(Action.DEPLOY_COMMITTED, actor=CI, app="gone", env="production", tag=f"g{number}")
    for number in range(100):
        trail.record(Action.DEPLOY_COMMITTED, actor=CI, app="busy", env="production", tag=f"b{number}")
    looked_up: list[int] = []
    real = store.client.pipeline

    def counting(*args, **kwargs):
        pipe = real(*args, **kwargs)
        execute = pipe.execute

        def counted():
            found = execute()
            looked_up.append(len(found))
            return found

        pipe.execute = counted
        return pipe

    store.client.pipeline = counting
    assert trail.read(app="gone", limit=10) == []  # all 100 trimmed away by busy's records
    assert sum(looked_up) == 0, looked_up


def test_records_written_before_the_per_app_index_are_indexed_once_and_read_in_order(store):
    trail = trail_on(store)
    for number in range(30):  # as the trail was written before: every record in one stream, no index
        doc = {
            "at": "2026-11-29T10:00:00.000Z",
            "action": "deploy_refused",
            "actor": "CI",
            "app": "old",
            "tag": f"o{number}",
        }
        store.client.xadd(trail.key, {"app": "old", "record": json.dumps(doc)})
    trail.record(Action.DEPLOY_COMMITTED, actor=CI, app="old", env="production", tag="new")
    assert tags(trail.read(app="old")) == ["new"]
    assert trail.index_earlier_records() == 30
    assert tags(trail.read(app="old", limit=3)) == ["o28", "o29", "new"]
    assert tags(trail.read(app="old")) == [f"o{n}" for n in range(30)] + ["new"]
    assert trail.index_earlier_records() == 0  # once
