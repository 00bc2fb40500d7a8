"""bot.tokens: what each webhook token may do, as pure rules."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.tokens import Grant, deploy_right, identify, may_report, promotion_refusal, variable_for

ENVS = ["integration", "staging", "production"]
CI = ["integration"]
SHARED = Grant(None)


def grant(env: str) -> Grant:
    return Grant(env)


def test_each_environment_has_its_own_variable() -> None:
    assert variable_for("integration") == "WEBHOOK_TOKEN_INTEGRATION"
    assert variable_for("eks-staging-2") == "WEBHOOK_TOKEN_EKS_STAGING_2"
    assert Grant(None).name == "WEBHOOK_TOKEN"
    assert Grant("eks-staging-2").name == "WEBHOOK_TOKEN_EKS_STAGING_2"


# -- who is asking ------------------------------------------------------------------------------------

TOKENS = {"integration": b"int-token", "staging": b"stg-token", "production": b"prd-token"}


@pytest.mark.parametrize(
    ("presented", "expected"),
    [
        (b"shared-token", SHARED),
        (b"int-token", Grant("integration")),
        (b"stg-token", Grant("staging")),
        (b"prd-token", Grant("production")),
        (b"", None),
        (b"shared-token ", None),
        (b"int-toke", None),
        (b"INT-TOKEN", None),
    ],
)
def test_a_token_is_known_by_its_exact_value(presented: bytes, expected: Grant | None) -> None:
    assert identify(presented, b"shared-token", TOKENS) == expected


def test_no_token_configured_matches_nothing_not_even_an_empty_one() -> None:
    assert identify(b"", b"", {}) is None
    assert identify(b"", b"", {"integration": b""}) is None


# -- reporting outcomes --------------------------------------------------------------------------------


@pytest.mark.parametrize("env", ENVS)
def test_the_shared_token_reports_for_every_environment(env: str) -> None:
    assert may_report(SHARED, env) is None


@pytest.mark.parametrize(("own", "env"), [(own, env) for own in ENVS for env in ENVS])
def test_an_environment_token_reports_for_its_own_environment_only(own: str, env: str) -> None:
    refusal = may_report(grant(own), env)
    if own == env:
        assert refusal is None
    else:
        assert refusal is not None and variable_for(own) in refusal and env in refusal


# -- deploying through /update-image-tag ---------------------------------------------------------------

# (token's environment or None for WEBHOOK_TOKEN, target) -> "direct", a source environment, or "refused"
EXPECTED = {
    (None, "integration"): "direct",
    (None, "staging"): "integration",
    (None, "production"): "staging",
    ("integration", "integration"): "direct",
    ("integration", "staging"): "integration",
    ("integration", "production"): "refused",
    ("staging", "integration"): "refused",
    ("staging", "staging"): "direct",
    ("staging", "production"): "staging",
    ("production", "integration"): "refused",
    ("production", "staging"): "refused",
    ("production", "production"): "direct",
}


@pytest.mark.parametrize(("own", "env"), list(EXPECTED))
def test_what_each_token_may_deploy_where(own: str | None, env: str) -> None:
    right = deploy_right(Grant(own), env, ENVS, CI)
    expected = EXPECTED[(own, env)]
    if expected == "refused":
        assert not right.allowed and right.source_env is None
        assert variable_for(own or "") in (right.refusal or "") and env in (right.refusal or "")
    elif expected == "direct":
        assert right.allowed and right.source_env is None
    else:
        assert right.allowed and right.source_env == expected


def test_ci_environments_decide_where_the_shared_token_deploys_directly() -> None:
    assert deploy_right(SHARED, "staging", ENVS, ["integration", "staging"]).source_env is None
    assert deploy_right(SHARED, "production", ENVS, ["integration", "staging"]).source_env == "staging"


def test_the_shared_token_cannot_deploy_to_a_first_environment_outside_ci_environments() -> None:
    right = deploy_right(SHARED, "integration", ENVS, ["staging"])
    assert not right.allowed
    assert "WEBHOOK_TOKEN may deploy directly only to staging" in (right.refusal or "")
    assert not deploy_right(SHARED, "integration", ENVS, []).allowed


def test_the_last_environments_token_promotes_nowhere() -> None:
    right = deploy_right(grant("production"), "staging", ENVS, CI)
    assert right.refusal == "WEBHOOK_TOKEN_PRODUCTION may deploy only to production, not to staging"


@given(
    envs=st.lists(st.from_regex(r"[a-z][a-z0-9-]{0,8}", fullmatch=True), min_size=1, max_size=6, unique=True),
    data=st.data(),
)
def test_no_token_ever_skips_an_environment(envs: list[str], data: st.DataObject) -> None:
    """Whatever the environments: a deploy beyond a direct one is always a promotion from the one just before."""
    own = data.draw(st.sampled_from([None, *envs]))
    target = data.draw(st.sampled_from(envs))
    ci = data.draw(st.lists(st.sampled_from(envs), unique=True))
    right = deploy_right(Grant(own), target, envs, ci)
    index = envs.index(target)
    if right.allowed and right.source_env is not None:
        assert index > 0 and right.source_env == envs[index - 1]
    if right.allowed and right.source_env is None:
        assert target == own or (own is None and target in ci)
    if own is not None and target not in (own, *envs[envs.index(own) + 1 : envs.index(own) + 2]):
        assert not right.allowed


# -- a promotion is only of what the previous environment runs -----------------------------------------


def test_a_promotion_of_the_tag_the_previous_environment_runs_is_accepted() -> None:
    assert promotion_refusal(SHARED, "staging", "integration", "v3232", "v3232") is None


@pytest.mark.parametrize("runs", ["v3231", None, ""])
def test_a_promotion_of_any_other_tag_is_refused_saying_what_runs(runs: str | None) -> None:
    refusal = promotion_refusal(grant("integration"), "staging", "integration", "v9999", runs)
    assert refusal is not None
    assert "WEBHOOK_TOKEN_INTEGRATION" in refusal and "v9999" in refusal and "staging" in refusal
    if runs:
        assert runs in refusal
