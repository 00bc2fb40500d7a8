"""The checks made before a request is acknowledged: no I/O, so the ack is never slow.

Each answers None when all is well, or a `Refusal` saying what was wrong and what to do.
"""

from __future__ import annotations

from collections.abc import Callable

from bot import messages
from bot.config import Settings
from bot.deploys.identity import Refusal
from bot.names import close_names, is_valid_app_name, is_valid_image_tag

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
