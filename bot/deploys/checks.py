"""The checks made before a request is acknowledged: no I/O, so the ack is never slow; and the words
after a failed team check (made later, in the background), from this one place.

Each answers None when all is well, or a `Refusal` saying what was wrong and what to do.
"""

from __future__ import annotations

from collections.abc import Callable

from bot import messages
from bot.config import Settings
from bot.deploys.identity import Refusal
from bot.names import close_names, is_valid_app_name, is_valid_image_tag
from bot.teams import Membership

AppsIn = Callable[[str], list[str]]  # env -> the apps with an image-tag file there


def check_target(settings: Settings, apps_in: AppsIn, not_ready: str | None, app: str, env: str) -> Refusal | None:
    """`env` is configured and `app` has an image-tag file there."""
    if settings.environment(env) is None:
        return Refusal(messages.unknown_environment(env, settings.environment_names))
    if not is_valid_app_name(app):
        return Refusal(messages.not_an_app_name(app))
    if not_ready:
        return Refusal(messages.charts_not_ready(not_ready))
    apps = apps_in(env)
    if app not in apps:
        return Refusal(messages.no_such_app(app, env, close_names(app, apps), settings.image_tags_path))
    return None


def check_tag(tag: str) -> Refusal | None:
    return None if is_valid_image_tag(tag) else Refusal(messages.not_an_image_tag(tag))


def check_has_previous(settings: Settings, env: str) -> Refusal | None:
    return Refusal(messages.nothing_before(env)) if settings.previous_environment(env) is None else None


def team_refusal(
    settings: Settings, login: str | None, env: str, membership: Membership, verb: str | None = None
) -> str:
    """The words after a failed team check, for everything that checks one: a deploy, a promotion, a
    rollback, a retry of tests (`verb` None) or a freeze or unfreeze (`verb`). The only place they live."""
    team, org = settings.environment(env).team, settings.github_org
    if verb is not None:
        return messages.freeze_team_refusal(verb, env, org, team, membership.reason)
    if membership.github_unreachable:
        return messages.team_unreachable(login or "", env, org, team, membership.reason)
    return messages.team_refusal(env, org, team, membership.reason)
