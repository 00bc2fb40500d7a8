"""Argo CD applications and post-sync workflows read from the APIs, as the webhook events they stand for.

`release_event` is what the reconciler uses: which release an Application speaks for (its files,
`followed_files`) and when its outcome counts for the tag the charts repo holds (SPEC 10.1).
`sync_event` reads an Application by its own annotation alone, as a webhook would, and a finished
post-sync workflow becomes the `SmokeEvent` of /webhooks/tests.
Pure functions, no I/O. Items the bot cannot act on (no `imageTag`, a name or tag that is not
safe) give None and are skipped.

What `sync_event` returns, rule by rule in order:
| Argo CD says                                       | SyncEvent state, health      | sync_outcome |
| phase Running or Terminating (or unknown)          | that phase, health as read   | syncing      |
| phase Failed or Error (even when Degraded)         | that phase, health as read   | sync_failed  |
| health Degraded (any other phase, or none)         | Succeeded, Degraded          | degraded     |
| phase Succeeded, health Healthy                    | Succeeded, Healthy           | synced       |
| phase Succeeded, any other health                  | Succeeded, that health       | syncing      |
| phase Succeeded, no health at all                  | Succeeded, Unknown           | syncing      |
| no operation and not Degraded                      | None (nothing to report)     |              |
A missing health on a Succeeded item is given as `Unknown` so that no reading of a webhook's
optional `health` can take it for synced.
"""

from __future__ import annotations

from collections.abc import Container, Iterable, Mapping
from datetime import datetime

from bot.argo.models import AppState, Workflow
from bot.names import is_valid_app_name, is_valid_image_tag
from bot.webhooks import HEALTH_STATES, MAX_FAILURES, MAX_TEXT, SYNC_STATES, TEST_STATUSES, SmokeEvent, SyncEvent

SYNCING = "syncing"
SYNCED = "synced"
SYNC_FAILED = "sync_failed"
DEGRADED = "degraded"
TEST_SUITE = "e2e"


def sync_outcome(state: str, health: str | None) -> str:
    """How a sync state and health read from Argo CD count: syncing, synced, sync_failed or degraded."""
    if state in ("Failed", "Error"):
        return SYNC_FAILED
    if state in ("Running", "Terminating"):
        return SYNCING
    if health == "Degraded":
        return DEGRADED
    if state == "Succeeded" and health == "Healthy":
        return SYNCED
    return SYNCING


def sync_event(app: AppState, env: str) -> SyncEvent | None:
    if not app.image_tag or not is_valid_image_tag(app.image_tag):
        return None
    if not is_valid_app_name(app.name) or not is_valid_app_name(app.repo_name):
        return None
    health = app.health if app.health in HEALTH_STATES else ("Unknown" if app.health else None)
    phase = app.phase if app.phase in SYNC_STATES else ("Running" if app.phase else None)
    if phase in ("Running", "Terminating", "Failed", "Error"):
        state, message = phase, app.message or app.health_message
    elif health == "Degraded":
        state, message = "Succeeded", app.health_message or app.message
    elif phase == "Succeeded":
        state, health, message = "Succeeded", health or "Unknown", app.message
    else:
        return None  # never operated on and not Degraded: nothing a webhook would have said
    return SyncEvent(
        application=app.name,
        app=app.repo_name,
        env=env,
        tag=app.image_tag,
        state=state,
        health=health,
        message=message.strip()[:MAX_TEXT],
        revision=app.revision[:200],
    )


def image_file(image: str, registry_path: str) -> tuple[str, str] | None:
    """(tag file, tag) of an image `<registry>/…/<registry_path>/<tag file>:<tag>`, or None for any other."""
    name = image.split("@", 1)[0]
    path, sep, tag = name.rpartition(":")
    if not sep or "/" in tag or not tag:
        return None
    parts = path.split("/")
    if len(parts) < 2 or parts[-2] != registry_path:
        return None
    return parts[-1], tag


def followed_files(app: AppState, registry_path: str, files: Container[str]) -> list[str]:
    """The tag files (of `files`) an Application follows: its repoName, and the files its images come from."""
    found = [app.repo_name] if app.repo_name in files else []
    for image in app.images:
        named = image_file(image, registry_path)
        if named and named[0] in files and named[0] not in found:
            found.append(named[0])
    return found


def _epoch(stamp: str) -> float | None:
    try:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def release_event(
    app: AppState, env: str, tag_file: str, tag: str, since: float | None, registry_path: str
) -> SyncEvent | None:
    """What `app` says of the release (tag_file, tag), the tag the charts repo holds now; None when
    it says nothing of it yet (SPEC 10.1: an outcome counts only for the spec that produced it).

    - The `imageTag` annotation names another tag: the app-of-apps has not applied this one yet.
    - `applied`: Argo CD says the live state is the spec (`Synced`) and, where the Application lists
      images of the file, this tag is the only one of it (mid-rollout both appear).
    - `started_after`: the operation began once the tag had reached the charts repo.
    Running counts when it started after; Failed or Error likewise; Succeeded counts when applied or
    started after, and is synced only when applied and Healthy. A Succeeded, Healthy operation
    left from before (annotation flipped, OutOfSync, old image) says nothing: the card stays put.
    """
    if not is_valid_app_name(app.name) or not is_valid_app_name(tag_file) or not is_valid_image_tag(tag):
        return None
    if app.image_tag and app.image_tag != tag and app.repo_name == tag_file:
        return None
    tags = {
        found[1]
        for found in (image_file(image, registry_path) for image in app.images)
        if found and found[0] == tag_file
    }
    applied = app.sync_status == "Synced" and (not tags or tags == {tag})
    started = _epoch(app.started_at) if app.started_at else None
    started_after = started is not None and since is not None and started >= int(since)
    health = app.health if app.health in HEALTH_STATES else ("Unknown" if app.health else None)
    phase = app.phase if app.phase in SYNC_STATES else ("Running" if app.phase else None)
    if phase in ("Running", "Terminating", "Failed", "Error"):
        if not started_after:
            return None
        state = phase
    elif not (applied or started_after):
        return None
    elif health == "Degraded" or (phase == "Succeeded" and health == "Healthy" and applied):
        state = "Succeeded"  # degraded, or synced
    elif phase == "Succeeded" or health:
        state = "Running"  # still on its way: syncing, whatever a webhook would make of it
    else:
        return None
    message = app.message or app.health_message
    return SyncEvent(
        application=app.name,
        app=tag_file,
        env=env,
        tag=tag,
        state=state,
        health=health,
        message=message.strip()[:MAX_TEXT],
        revision=app.revision[:200],
    )


def workflow_release(workflow: Workflow) -> tuple[str, str, str] | None:
    """(repoName, application, imageTag) of a post-sync workflow, or None when its labels are unusable."""
    repo, tag = workflow.repo_name, workflow.image_tag
    application = workflow.application or repo
    if not repo or not tag or not application:
        return None
    if not is_valid_app_name(repo) or not is_valid_app_name(application) or not is_valid_image_tag(tag):
        return None
    return repo, application, tag


def newest_workflows(workflows: Iterable[Workflow]) -> dict[tuple[str, str, str], Workflow]:
    """The newest workflow (by creationTimestamp, then name) of each (repoName, application, imageTag).

    Keyed by application too: each application of a repository (whitehall-admin, whitehall-frontend)
    runs its own post-sync workflow, just as each sends its own webhook; reruns of one share a key.
    """
    newest: dict[tuple[str, str, str], Workflow] = {}
    for workflow in workflows:
        key = workflow_release(workflow)
        if key is None:
            continue
        held = newest.get(key)
        if held is None or (workflow.created, workflow.name) > (held.created, held.name):
            newest[key] = workflow
    return newest


def workflow_url(workflows_url: str, namespace: str, name: str) -> str:
    return f"{workflows_url.rstrip('/')}/workflows/{namespace}/{name}"


def smoke_event(workflow: Workflow, env: str, workflows_url: str, namespace: str) -> SmokeEvent | None:
    """The test outcome of a finished workflow; None while it runs or when its labels are unusable."""
    release = workflow_release(workflow)
    if release is None or workflow.phase not in TEST_STATUSES:
        return None
    repo, application, tag = release
    return SmokeEvent(
        application=application,
        app=repo,
        env=env,
        tag=tag,
        status=workflow.phase,
        suite=TEST_SUITE,
        workflow_name=workflow.name,
        workflow_url=workflow_url(workflows_url, namespace, workflow.name),
        failures=[failure[:MAX_TEXT] for failure in workflow.failures[:MAX_FAILURES]],
        created=workflow.created,
    )


def team_channel(annotation: str | None, team_channels: Mapping[str, str], application: str, app: str) -> str | None:
    """Where a failure is also told: the Application's `slackChannel` annotation, else
    `team_channels` for the application, else for its repoName; None when nothing names one."""
    for channel in (annotation, team_channels.get(application), team_channels.get(app)):
        if channel and channel.strip().lstrip("#"):
            return channel.strip().lstrip("#")
    return None
