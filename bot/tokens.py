"""What each webhook token may do, as pure rules with no I/O.

A token is either the shared `WEBHOOK_TOKEN` (CI's) or a `WEBHOOK_TOKEN_<ENV>` bound to one
environment (a cluster's). Reading a secret in one cluster must never be enough to put a release
into a later environment that has not come through the one before it, so a deploy beyond what a
token may do directly is a promotion, accepted only for the tag the previous environment runs.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

SHARED = None  # the grant of the shared WEBHOOK_TOKEN: not bound to any environment


def variable_for(env: str) -> str:
    """The name of the variable holding `env`'s own token: `WEBHOOK_TOKEN_<ENV>`, upper-cased, `-` as `_`."""
    return "WEBHOOK_TOKEN_" + env.upper().replace("-", "_")


@dataclass(frozen=True)
class Grant:
    """Who a presented token is: `env` None for the shared token, else the one environment it is bound to."""

    env: str | None

    @property
    def name(self) -> str:
        return "WEBHOOK_TOKEN" if self.env is None else variable_for(self.env)


def identify(presented: bytes, shared: bytes, per_env: Mapping[str, bytes]) -> Grant | None:
    """The grant of the presented token, or None when it is none of them.

    Every configured token is compared, in constant time, whatever matches first, so the time
    taken says nothing about which token (or how much of one) was right.
    """
    found: Grant | None = None
    if shared and hmac.compare_digest(presented, shared):
        found = Grant(SHARED)
    for env, token in per_env.items():
        if token and hmac.compare_digest(presented, token) and found is None:
            found = Grant(env)
    return found


def may_report(grant: Grant, env: str) -> str | None:
    """None when this token may report an outcome for `env`, else what it may not do (for a 403)."""
    if grant.env is None or grant.env == env:
        return None
    return f"{grant.name} may report outcomes for {grant.env} only, not for {env}"


@dataclass(frozen=True)
class DeployRight:
    """How a token may deploy to an environment: directly, as a promotion from `source_env`, or not at all."""

    refusal: str | None = None
    source_env: str | None = None

    @property
    def allowed(self) -> bool:
        return self.refusal is None


def deploy_right(grant: Grant, env: str, environments: Sequence[str], ci_environments: Sequence[str]) -> DeployRight:
    """What `/update-image-tag` for `env` may be with this token (`environments` in promotion order)."""
    index = environments.index(env)
    previous = environments[index - 1] if index > 0 else None
    if grant.env is None:
        if env in ci_environments:
            return DeployRight()
        if previous is None:
            where = ", ".join(ci_environments) or "no environment"
            return DeployRight(
                refusal=f"WEBHOOK_TOKEN may deploy directly only to {where}, and {env} has no environment before it "
                "to promote from"
            )
        return DeployRight(source_env=previous)
    if env == grant.env:
        return DeployRight()
    if previous == grant.env:
        return DeployRight(source_env=previous)
    following = environments[environments.index(grant.env) + 1 :][:1]
    promote = f" and promote to {following[0]}" if following else ""
    return DeployRight(refusal=f"{grant.name} may deploy only to {grant.env}{promote}, not to {env}")


def promotion_refusal(grant: Grant, env: str, source_env: str, tag: str, source_runs: str | None) -> str | None:
    """None when `tag` is what `source_env` runs now, else why this promotion is refused."""
    if source_runs is not None and source_runs == tag:
        return None
    runs = f"runs {source_runs}" if source_runs else "runs no tag of it"
    return f"{grant.name} may deploy to {env} only the tag {source_env} runs now ({source_env} {runs}), not {tag}"
