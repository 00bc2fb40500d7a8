"""`/webhooks/argocd`, `/webhooks/smokey` and `/update-image-tag` from outside (tokens: test_security).

Everything goes through the real HTTP app on loopback: bearer-token auth, the 64 KiB limit, every
kind of bad body (each a 400 with `{"ok": false, "error": ...}` that never reaches Slack or the
charts repository), booleans in both spellings, a Hypothesis fuzz that no body yields a 5xx, and
CI's deploy call committing through the same writer as `/deploy`.
"""

from __future__ import annotations

import base64
import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fakes import FakeSlack
from tests.support.app import WEBHOOK_TOKEN, BotHarness, shared_bot
from tests.support.charts import ChartsRemote

ARGO = "/webhooks/argocd"
SMOKEY = "/webhooks/smokey"
CI = "/update-image-tag"
ENDPOINTS = (ARGO, SMOKEY, CI)
MAX_BODY = 64 * 1024
ALLOWED_STATUSES = {200, 202, 400, 401, 403, 413}  # 403: a token used beyond its rights
_tags = itertools.count(1)


def fresh_tag() -> str:
    """A tag no other request in this module used, so no event is a duplicate by accident."""
    return f"v{900000 + next(_tags)}"


def valid_body(endpoint: str, tag: str | None = None) -> dict[str, Any]:
    tag = tag or fresh_tag()
    if endpoint == "/webhooks/argocd":
        return {
            "application": "whitehall-admin",
            "repoName": "whitehall",
            "environment": "integration",
            "state": "Succeeded",
            "health": "Healthy",
            "imageTag": tag,
            "revision": "0123abc",
            "message": "successfully synced",
            "promoteDeployment": "false",
            "automaticDeploysEnabled": "true",
        }
    if endpoint == "/webhooks/smokey":
        return {
            "application": "whitehall-admin",
            "repoName": "whitehall",
            "environment": "integration",
            "imageTag": tag,
            "status": "Succeeded",
            "suite": "smokey",
            "workflowName": "post-sync-x7k2p",
            "workflowUrl": "https://argo-workflows.eks.integration.govuk.digital/workflows/apps/post-sync-x7k2p",
            "failures": [],
        }
    # /update-image-tag: an app that does not exist, so a body that slips through commits nothing
    return {"environment": "integration", "repoName": "no-such-app", "imageTag": tag, "promoteDeployment": "false"}


# -- one bot for the whole module: bad bodies change nothing, so they can share it ----------------


@dataclass
class Shared:
    bot: BotHarness
    slack: FakeSlack
    charts: ChartsRemote

    def snapshot(self, endpoint: str = CI) -> tuple[int, int]:
        """(Slack calls so far, commits on the charts branch), after everything in flight has ended.

        Only `/update-image-tag` can commit, so the (slower) commit count is read for it alone.
        """
        self.bot.settle()
        return len(self.slack.calls), self.charts.commit_count() if endpoint == CI else 0


@pytest.fixture(scope="module")
def shared(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shared]:
    with shared_bot(tmp_path_factory.mktemp("webhooks"), redis_url) as one:
        yield Shared(one.bot, one.fake_slack, one.remote)


def post(bot: BotHarness, path: str, content: bytes, headers: dict[str, str] | None = None) -> httpx.Response:
    return bot.http.post(path, content=content, headers={"Content-Type": "application/json", **(headers or {})})


def assert_refused(response: httpx.Response, word: str | None = None) -> str:
    assert response.status_code == 400, (response.status_code, response.text)
    body = response.json()
    assert body["ok"] is False, body
    assert isinstance(body["error"], str) and body["error"].strip(), body
    assert set(body) == {"ok", "error"}, body
    if word is not None:
        assert word.lower() in body["error"].lower(), body
    return body["error"]


# -- auth -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "Bearer wrong-token",
        "Bearer",
        "Bearer " + WEBHOOK_TOKEN + "x",
        "Bearer " + WEBHOOK_TOKEN[:-1],
        "Basic " + base64.b64encode(f"user:{WEBHOOK_TOKEN}".encode()).decode(),
        "Basic " + WEBHOOK_TOKEN,
        "Token " + WEBHOOK_TOKEN,
        WEBHOOK_TOKEN,
    ],
    ids=["none", "wrong", "empty", "longer", "shorter", "basic-b64", "basic-raw", "token-scheme", "no-scheme"],
)
def test_without_the_right_bearer_token_the_answer_is_401_and_nothing_happens(
    shared: Shared, endpoint: str, authorization: str | None
) -> None:
    before = shared.snapshot(endpoint)
    body = valid_body(endpoint)
    if endpoint == "/update-image-tag":
        body["repoName"] = "whitehall"  # a body that would deploy, were it authorised
    headers = {"Authorization": authorization} if authorization is not None else {}
    response = post(shared.bot, endpoint, json.dumps(body).encode(), headers)
    assert response.status_code == 401, response.text
    assert shared.snapshot(endpoint) == before


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_the_right_token_is_accepted(shared: Shared, endpoint: str) -> None:
    body = valid_body(endpoint)
    response = shared.bot.webhook(endpoint, body)
    if endpoint == "/update-image-tag":
        assert_refused(response, "no-such-app")  # authorised, then refused for the unknown app
    else:
        assert response.status_code == 202, response.text
        assert response.json() == {"ok": True}


# -- size -------------------------------------------------------------------------------------------


def padded(body: dict[str, Any], size: int) -> bytes:
    """`body` as JSON padded with trailing whitespace to exactly `size` bytes (still valid JSON)."""
    raw = json.dumps(body).encode()
    assert len(raw) <= size
    return raw + b" " * (size - len(raw))


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_a_body_over_64_kib_is_413(shared: Shared, endpoint: str) -> None:
    before = shared.snapshot()
    response = shared.bot.webhook(endpoint, padded(valid_body(endpoint), MAX_BODY + 1))
    assert response.status_code == 413, response.text
    response = shared.bot.webhook(endpoint, b"{" + b'"a": "' + b"x" * (MAX_BODY * 4) + b'"}')
    assert response.status_code == 413, response.text
    assert shared.snapshot() == before


def test_a_chunked_body_over_64_kib_is_413(shared: Shared) -> None:
    before = shared.snapshot()
    chunk = b" " * 8192

    def chunks() -> Iterator[bytes]:
        yield json.dumps(valid_body("/webhooks/argocd")).encode()
        for _ in range(MAX_BODY // len(chunk) + 1):
            yield chunk

    response = shared.bot.http.post(
        "/webhooks/argocd",
        content=chunks(),
        headers={"Authorization": f"Bearer {WEBHOOK_TOKEN}", "Content-Type": "application/json"},
    )
    assert response.status_code == 413, response.text
    assert shared.snapshot() == before


def test_a_body_of_exactly_64_kib_is_accepted(shared: Shared) -> None:
    response = shared.bot.webhook("/webhooks/argocd", padded(valid_body("/webhooks/argocd"), MAX_BODY))
    assert response.status_code == 202, response.text


# -- bodies that are not a JSON object ---------------------------------------------------------------


NOT_AN_OBJECT = {
    "empty": b"",
    "text": b"not json",
    "truncated": b'{"application": "whitehall"',
    "latin-1": '{"application": "caf\xe9"}'.encode("latin-1"),
    "binary": b"\xff\xfe\x00\x01",
    "array": b'[{"application": "whitehall-admin"}]',
    "empty-array": b"[]",
    "string": b'"hello"',
    "number": b"42",
    "null": b"null",
    "true": b"true",
    "form": b"application=whitehall&environment=integration",
}


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize("raw", list(NOT_AN_OBJECT.values()), ids=list(NOT_AN_OBJECT))
def test_a_body_that_is_not_a_json_object_is_400(shared: Shared, endpoint: str, raw: bytes) -> None:
    before = shared.snapshot(endpoint)
    error = assert_refused(shared.bot.webhook(endpoint, raw))
    assert "json" in error.lower()
    assert shared.snapshot(endpoint) == before


@pytest.mark.parametrize(("endpoint", "opener"), [(ARGO, b"["), (SMOKEY, b'{"a":')], ids=["arrays", "objects"])
def test_deeply_nested_json_is_400_not_an_error(shared: Shared, endpoint: str, opener: bytes) -> None:
    """JSON nested deeper than Python's recursion limit still fits in 64 KiB: it is a bad body, not a crash."""
    before = shared.snapshot()
    raw = opener * (MAX_BODY // len(opener) - 1)
    assert len(raw) <= MAX_BODY
    response = shared.bot.webhook(endpoint, raw)
    assert response.status_code == 400, (response.status_code, response.text)
    assert response.json()["ok"] is False
    assert shared.snapshot() == before


# -- bodies with a bad field -------------------------------------------------------------------------


def without(body: dict[str, Any], name: str) -> dict[str, Any]:
    return {key: value for key, value in body.items() if key != name}


def with_(body: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {**body, **fields}


def bad_cases() -> list[Any]:
    """(endpoint, body, a word the error must contain), one per rule of the contract and the issue."""
    argo, smoke = valid_body(ARGO, "v1"), valid_body(SMOKEY, "v1")
    ci = with_(valid_body(CI, "v1"), repoName="whitehall")
    cases: list[tuple[str, str, dict[str, Any], str]] = []
    for endpoint, body, required in (
        (ARGO, argo, ("application", "environment", "state", "imageTag")),
        (SMOKEY, smoke, ("application", "environment", "imageTag", "status")),
        (CI, ci, ("environment", "repoName", "imageTag")),
    ):
        for name in required:
            cases.append((f"{endpoint}-missing-{name}", endpoint, without(body, name), name))
            cases.append((f"{endpoint}-empty-{name}", endpoint, with_(body, **{name: ""}), name))
            cases.append((f"{endpoint}-blank-{name}", endpoint, with_(body, **{name: "   "}), name))
            cases.append((f"{endpoint}-null-{name}", endpoint, with_(body, **{name: None}), name))
        for env in ("prod", "Integration", "integration/../staging", "INTEGRATION", "x" * 500):
            cases.append((f"{endpoint}-env-{env[:20]}", endpoint, with_(body, environment=env), "environment"))
        for name in ("../x", "A", "Whitehall", "a/b", "-x", "white hall", "white\nhall", "café", "x" * 300):
            field = "repoName"
            cases.append((f"{endpoint}-repoName-{name[:20]!r}", endpoint, with_(body, **{field: name}), field))
        for tag in ("-x", "--upload-pack=touch", "a/b", "v 1", ".v1", "v1:latest", "x" * 129, "v\n1", "ü"):
            cases.append((f"{endpoint}-tag-{tag[:20]!r}", endpoint, with_(body, imageTag=tag), "imageTag"))
        for value in (3232, 1.5, True, ["v1"], {"v": 1}):
            cases.append((f"{endpoint}-tag-type-{value!r}", endpoint, with_(body, imageTag=value), "imageTag"))
            cases.append((f"{endpoint}-env-type-{value!r}", endpoint, with_(body, environment=value), "environment"))
    for endpoint, body in ((ARGO, argo), (SMOKEY, smoke)):
        for name in ("../x", "A", "Whitehall-Admin", "a/b", "-x", ".."):
            cases.append((f"{endpoint}-application-{name!r}", endpoint, with_(body, application=name), "application"))
        cases.append((f"{endpoint}-application-type", endpoint, with_(body, application=5), "application"))
        cases.append((f"{endpoint}-application-missing", endpoint, without(body, "application"), "application"))
    for state in ("Synced", "succeeded", "SUCCEEDED", "Unknown", "OutOfSync", "Healthy"):
        cases.append((f"argo-state-{state}", ARGO, with_(argo, state=state), "state"))
    for health in ("Sick", "healthy", "Synced", "Running"):
        cases.append((f"argo-health-{health}", ARGO, with_(argo, health=health), "health"))
    cases.append(("argo-health-type", ARGO, with_(argo, health=["Healthy"]), "health"))
    cases.append(("argo-message-type", ARGO, with_(argo, message={"text": "x"}), "message"))
    cases.append(("argo-message-long", ARGO, with_(argo, message="x" * 5000), "message"))
    for status in ("Passed", "succeeded", "Running", "Skipped"):
        cases.append((f"smokey-status-{status}", SMOKEY, with_(smoke, status=status), "status"))
    for failures in ("one failure", [1, 2], [None], {"a": "b"}, [["nested"]]):
        cases.append((f"smokey-failures-{failures!r}", SMOKEY, with_(smoke, failures=failures), "failures"))
    for url in ("javascript:alert(1)", "ftp://x", "argo-workflows/post-sync", 5):
        cases.append((f"smokey-workflowUrl-{url!r}", SMOKEY, with_(smoke, workflowUrl=url), "workflowUrl"))
    # booleans: JSON booleans and "true"/"false" only
    for value in ("yes", "no", "1", "0", 1, 0, "on", "truthy", [], {}, ["true"], 1.0):
        for endpoint, body, flag in (
            (ARGO, argo, "promoteDeployment"),
            (ARGO, argo, "automaticDeploysEnabled"),
            (CI, ci, "promoteDeployment"),
        ):
            cases.append((f"{endpoint}-{flag}-{value!r}", endpoint, with_(body, **{flag: value}), flag))
    return [pytest.param(endpoint, body, word, id=case_id) for case_id, endpoint, body, word in cases]


@pytest.mark.parametrize(("endpoint", "body", "word"), bad_cases())
def test_a_bad_field_is_400_naming_it_and_reaches_neither_slack_nor_git(
    shared: Shared, endpoint: str, body: dict[str, Any], word: str
) -> None:
    before = shared.snapshot(endpoint)
    assert_refused(shared.bot.webhook(endpoint, body), word)
    assert shared.snapshot(endpoint) == before


def test_update_image_tag_for_an_app_that_does_not_exist_is_400(shared: Shared) -> None:
    before = shared.snapshot()
    error = assert_refused(shared.bot.webhook(CI, with_(valid_body(CI), repoName="no-such-app")))
    assert "no-such-app" in error
    assert shared.snapshot() == before


# -- booleans in both spellings ------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["true", "false", True, False, None], ids=repr)
@pytest.mark.parametrize("flag", ["promoteDeployment", "automaticDeploysEnabled"])
def test_argocd_booleans_as_strings_or_json_booleans_are_accepted(shared: Shared, flag: str, value: Any) -> None:
    response = shared.bot.webhook(ARGO, with_(valid_body(ARGO), **{flag: value}))
    assert response.status_code == 202, response.text
    assert response.json() == {"ok": True}


def test_optional_fields_may_be_left_out(shared: Shared) -> None:
    tag = fresh_tag()
    minimal_argo = {"application": "whitehall", "environment": "staging", "state": "Running", "imageTag": tag}
    minimal_smokey = {"application": "whitehall", "environment": "staging", "status": "Failed", "imageTag": tag}
    for endpoint, body in ((ARGO, minimal_argo), (SMOKEY, minimal_smokey)):
        response = shared.bot.webhook(endpoint, body)
        assert response.status_code == 202, response.text


# -- fuzz ---------------------------------------------------------------------------------------------

FIELDS = [
    "application",
    "repoName",
    "environment",
    "state",
    "health",
    "imageTag",
    "revision",
    "message",
    "promoteDeployment",
    "automaticDeploysEnabled",
    "status",
    "suite",
    "workflowName",
    "workflowUrl",
    "failures",
]
INTERESTING = [
    "whitehall",
    "whitehall-admin",
    "no-such-app",
    "integration",
    "staging",
    "production",
    "Running",
    "Succeeded",
    "Failed",
    "Error",
    "Terminating",
    "Healthy",
    "Degraded",
    "true",
    "false",
    "",
    " ",
    "../x",
    "A",
    "-x",
    "v1",
    "https://example.org/run",
    "\x00",
    "\ud800",
    "<!channel>",
]
json_leaf = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30)
    | st.sampled_from(INTERESTING)
)
json_value = st.recursive(
    json_leaf,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
json_object = st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=12), json_value, max_size=14)
fuzz_body = (
    json_object.map(lambda obj: json.dumps(obj).encode())
    | json_value.map(lambda value: json.dumps(value).encode())
    | st.binary(max_size=300)
    | st.text(max_size=300).map(lambda text: text.encode("utf-8", "surrogatepass"))
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    endpoint=st.sampled_from(ENDPOINTS),
    body=fuzz_body,
    token=st.sampled_from([WEBHOOK_TOKEN, WEBHOOK_TOKEN, WEBHOOK_TOKEN, None, "nope"]),
)
def test_fuzz_no_body_of_any_shape_gets_a_5xx(shared: Shared, endpoint: str, body: bytes, token: str | None) -> None:
    response = shared.bot.webhook(endpoint, body, token=token)
    assert response.status_code in ALLOWED_STATUSES, (response.status_code, response.text, body[:200])
    answer = response.json()
    if response.status_code == 400:
        assert answer["ok"] is False and isinstance(answer["error"], str) and answer["error"]
    elif response.status_code in (200, 202):
        assert answer["ok"] is True
    assert "Traceback" not in response.text


def test_the_bot_still_works_after_the_fuzz(shared: Shared) -> None:
    tag = fresh_tag()
    response = shared.bot.webhook(ARGO, valid_body(ARGO, tag))
    assert response.status_code == 202
    shared.bot.settle()
    assert any(tag in root.text for root in shared.slack.roots())


# -- /update-image-tag: a deploy by CI ------------------------------------------------


CI_DEPLOYS = [
    # (environment, app, tag, promoteDeployment as sent, promote_deployment expected in the file); beyond
    # integration the shared WEBHOOK_TOKEN promotes only what the environment before runs
    ("integration", "whitehall", "v4000", "false", "false"),  # integration's file has promote_deployment: true
    ("staging", "collections", "v1590", False, "false"),
    ("production", "whitehall", "v3231", "true", "true"),  # production's file has promote_deployment: false
    ("production", "signon", "v1200", True, "true"),
]


def test_update_image_tag_commits_through_the_writer_and_the_card_names_ci(
    bot: BotHarness, fake_slack: FakeSlack, charts_remote: ChartsRemote
) -> None:
    for env, app, tag, value, expected in CI_DEPLOYS:
        case = (env, app, value)
        before = charts_remote.commit_count()
        old = charts_remote.read(env, app)
        body = {"environment": env, "repoName": app, "imageTag": tag, "promoteDeployment": value}
        response = bot.webhook(CI, body)
        assert (response.status_code, response.json()) == (202, {"ok": True}), (case, response.text)
        bot.settle()

        assert charts_remote.commit_count() == before + 1, case
        sha, subject, message = charts_remote.log(1)[0]
        assert subject == f"Update {app} image tag to {tag} for {env}", case
        assert "Requested-by: CI (none)" in message.splitlines(), (case, message)
        assert charts_remote.changed_paths(sha) == [charts_remote.file_path(env, app)], case
        text = charts_remote.read(env, app)
        assert f"image_tag: {tag}\n" in text, (case, text)
        assert f"promote_deployment: {expected}" in text, (case, text)
        # every other line as it was, in the same order
        keys = ("image_tag:", "promote_deployment:")
        assert [line for line in text.splitlines() if not line.startswith(keys)] == [
            line for line in old.splitlines() if not line.startswith(keys)
        ], case

        cards = [root for root in fake_slack.roots() if f"`{tag}`" in root.text and f"*{app}*" in root.text]
        assert len(cards) == 1, (case, [r.text for r in fake_slack.roots()])
        shown = cards[0].all_text()
        assert "CI" in shown, (case, shown)
        assert "<@" not in shown, (case, shown)  # nobody to mention: CI asked
    assert len(fake_slack.roots()) == len(CI_DEPLOYS)


def test_update_image_tag_unknown_app_or_no_token_commits_nothing(
    bot: BotHarness, fake_slack: FakeSlack, charts_remote: ChartsRemote
) -> None:
    before = charts_remote.commit_count()
    body = {"environment": "integration", "repoName": "whitehal", "imageTag": "v4001", "promoteDeployment": "false"}
    error = assert_refused(bot.webhook(CI, body))
    assert "whitehal" in error
    good = with_(body, repoName="whitehall")
    assert bot.webhook(CI, good, token=None).status_code == 401
    assert bot.webhook(CI, good, token="wrong").status_code == 401
    bot.settle()
    assert charts_remote.commit_count() == before
    assert fake_slack.calls == []


def test_update_image_tag_with_the_tag_already_there_commits_nothing(
    bot: BotHarness, fake_slack: FakeSlack, charts_remote: ChartsRemote
) -> None:
    before = charts_remote.commit_count()
    body = {"environment": "integration", "repoName": "whitehall", "imageTag": "v3232", "promoteDeployment": "true"}
    assert bot.webhook(CI, body).status_code == 202
    bot.settle()
    assert charts_remote.commit_count() == before
