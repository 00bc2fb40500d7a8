"""Checking webhook bodies and turning them into plain events, with no I/O.

Every rule here answers with a sentence for the 400 body; nothing here raises on any input.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from bot.names import is_valid_app_name, is_valid_image_tag

MAX_BODY = 64 * 1024
SYNC_STATES = {"Running", "Succeeded", "Failed", "Error", "Terminating"}
HEALTH_STATES = {"Healthy", "Progressing", "Degraded", "Suspended", "Missing", "Unknown"}
TEST_STATUSES = {"Succeeded", "Failed", "Error"}
MAX_TEXT = 2000
MAX_FAILURES = 20


class Invalid(Exception):
    """A body the bot will not act on; the message says why, for a 400."""


@dataclass(frozen=True)
class SyncEvent:
    application: str
    app: str
    env: str
    tag: str
    state: str
    health: str | None
    message: str
    revision: str
    no_tests: bool = False  # read from Argo CD: no deciding Application runs post-sync tests (SPEC 10.1)


@dataclass(frozen=True)
class SmokeEvent:
    application: str
    app: str
    env: str
    tag: str
    status: str
    suite: str
    workflow_name: str
    workflow_url: str | None
    failures: list[str] = field(default_factory=list)
    created: str = ""  # the run's creationTimestamp, where Argo Workflows told it (never a webhook)


@dataclass(frozen=True)
class CiDeploy:
    app: str
    env: str
    tag: str
    promote_deployment: bool


def parse_json(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise Invalid("the body is not JSON") from None
    except RecursionError:
        raise Invalid("the body is nested too deeply") from None
    if not isinstance(data, dict):
        raise Invalid("the body must be a JSON object")
    return data


def _text(data: dict[str, Any], name: str, *, required: bool, limit: int = 200) -> str:
    value = data.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise Invalid(f"{name} is required")
        return ""
    if not isinstance(value, str):
        raise Invalid(f"{name} must be a string")
    if len(value) > limit:
        raise Invalid(f"{name} is longer than {limit} characters")
    return value.strip()


def _flag(data: dict[str, Any], name: str) -> bool:
    value = data.get(name, False)
    if value is None or value == "":
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise Invalid(f"{name} must be true or false")


def _release(data: dict[str, Any], environments: list[str], *, application_required: bool) -> tuple[str, str, str, str]:
    application = _text(data, "application", required=application_required)
    env = _text(data, "environment", required=True)
    tag = _text(data, "imageTag", required=True)
    app = _text(data, "repoName", required=False) or application
    if not app:
        raise Invalid("repoName is required")
    if application and not is_valid_app_name(application):
        raise Invalid("application must match [a-z0-9][a-z0-9-]*")
    if not is_valid_app_name(app):
        raise Invalid("repoName must match [a-z0-9][a-z0-9-]*")
    if env not in environments:
        raise Invalid(f"unknown environment {env[:40]!r}; known: {', '.join(environments)}")
    if not is_valid_image_tag(tag):
        raise Invalid("imageTag is not an image tag ([A-Za-z0-9_][A-Za-z0-9_.-]{0,127})")
    return application or app, app, env, tag


def sync_event(data: dict[str, Any], environments: list[str]) -> SyncEvent:
    application, app, env, tag = _release(data, environments, application_required=True)
    state = _text(data, "state", required=True)
    if state not in SYNC_STATES:
        raise Invalid(f"state must be one of {', '.join(sorted(SYNC_STATES))}")
    health = _text(data, "health", required=False) or None
    if health is not None and health not in HEALTH_STATES:
        raise Invalid(f"health must be one of {', '.join(sorted(HEALTH_STATES))}")
    for flag in ("promoteDeployment", "automaticDeploysEnabled"):
        _flag(data, flag)
    return SyncEvent(
        application=application,
        app=app,
        env=env,
        tag=tag,
        state=state,
        health=health,
        message=_text(data, "message", required=False, limit=MAX_TEXT),
        revision=_text(data, "revision", required=False),
    )


def smoke_event(data: dict[str, Any], environments: list[str], *, default_suite: str = "smokey") -> SmokeEvent:
    application, app, env, tag = _release(data, environments, application_required=True)
    status = _text(data, "status", required=True)
    if status not in TEST_STATUSES:
        raise Invalid(f"status must be one of {', '.join(sorted(TEST_STATUSES))}")
    workflow_url = _text(data, "workflowUrl", required=False, limit=MAX_TEXT) or None
    if workflow_url is not None and not workflow_url.startswith(("https://", "http://")):
        raise Invalid("workflowUrl must be an http(s) URL")
    failures = data.get("failures") or []
    if not isinstance(failures, list) or not all(isinstance(f, str) for f in failures):
        raise Invalid("failures must be a list of strings")
    return SmokeEvent(
        application=application,
        app=app,
        env=env,
        tag=tag,
        status=status,
        suite=_text(data, "suite", required=False) or default_suite,
        workflow_name=_text(data, "workflowName", required=False),
        workflow_url=workflow_url,
        failures=[f[:MAX_TEXT] for f in failures[:MAX_FAILURES]],
    )


def ci_deploy(data: dict[str, Any], environments: list[str]) -> CiDeploy:
    _, app, env, tag = _release(data, environments, application_required=False)
    return CiDeploy(app=app, env=env, tag=tag, promote_deployment=_flag(data, "promoteDeployment"))
