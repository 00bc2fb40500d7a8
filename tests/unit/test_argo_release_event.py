"""Which release an Application speaks for, and when its outcome counts (SPEC 10.1): pure rules."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.argo.models import AppState
from bot.argo.outcomes import followed_files, image_file, release_event, sync_outcome

REGISTRY = "172025368201.dkr.ecr.eu-west-1.amazonaws.com/github/alphagov/govuk"
COMMITTED = datetime(2026, 12, 3, 10, 0, tzinfo=UTC).timestamp()  # when the tag reached the charts repo
BEFORE, AFTER = "2026-12-03T09:58:00Z", "2026-12-03T10:01:00Z"


def app(
    name: str = "router",
    *,
    repo: str | None = None,
    tag: str | None = "v2",
    images: tuple[str, ...] | None = None,
    phase: str | None = "Succeeded",
    health: str | None = "Healthy",
    sync: str | None = "Synced",
    started: str = AFTER,
) -> AppState:
    repo = repo or name
    return AppState(
        name=name,
        repo_name=repo,
        image_tag=tag,
        phase=phase,
        message="",
        revision="abc",
        health=health,
        health_message="",
        slack_channel=None,
        sync_status=sync,
        images=images if images is not None else (f"{REGISTRY}/{repo}:{tag}", "public.ecr.aws/nginx/nginx:1.27"),
        started_at=started,
    )


def outcome(state: AppState, tag_file: str = "router", tag: str = "v2") -> str | None:
    event = release_event(state, "staging", tag_file, tag, COMMITTED, "govuk")
    return sync_outcome(event.state, event.health) if event else None


@pytest.mark.parametrize(
    ("image", "found"),
    [
        (f"{REGISTRY}/router:v2", ("router", "v2")),
        (f"{REGISTRY}/licensify-feed:release-12@sha256:abc", ("licensify-feed", "release-12")),
        ("registry:5000/govuk/router:v2", ("router", "v2")),
        ("public.ecr.aws/nginx/nginx:1.27", None),
        (f"{REGISTRY}/router", None),
        ("router:v2", None),
    ],
)
def test_an_image_names_its_tag_file_only_under_the_registry_path(image: str, found: tuple | None) -> None:
    assert image_file(image, "govuk") == found


def test_applications_follow_their_repo_name_and_the_files_of_their_images() -> None:
    files = {"router", "whitehall", "licensify-feed", "licensify-frontend"}
    assert followed_files(app("whitehall-admin", repo="whitehall"), "govuk", files) == ["whitehall"]
    licensify = app(
        "licensify",
        repo="licensify",
        tag=None,
        images=(f"{REGISTRY}/licensify-feed:v7", f"{REGISTRY}/licensify-frontend:v3", f"{REGISTRY}/licensify-admin:v1"),
    )
    assert followed_files(licensify, "govuk", files) == ["licensify-feed", "licensify-frontend"]
    assert followed_files(app("argo-services"), "govuk", files) == []  # no tag file of its own


def test_synced_needs_the_spec_applied_and_healthy() -> None:
    assert outcome(app()) == "synced"
    assert outcome(app(started=BEFORE)) == "synced"  # applied long ago is still applied
    assert outcome(app(health="Progressing")) == "syncing"
    assert outcome(app(sync="OutOfSync")) == "syncing"  # its own operation, not yet the live state


def test_a_flipped_annotation_over_the_previous_success_says_nothing() -> None:
    stale = app(images=(f"{REGISTRY}/router:v1",), sync="OutOfSync", started=BEFORE)
    assert outcome(stale) is None
    assert outcome(app(tag="v1", images=(f"{REGISTRY}/router:v1",))) is None  # the annotation not flipped yet


def test_mid_rollout_both_tags_run_so_it_is_still_syncing() -> None:
    both = (f"{REGISTRY}/router:v1", f"{REGISTRY}/router:v2")
    assert outcome(app(images=both)) == "syncing"


def test_a_failure_counts_only_when_it_started_after_the_tag_reached_the_repo() -> None:
    assert outcome(app(phase="Failed", health="Degraded", sync="OutOfSync")) == "sync_failed"
    assert outcome(app(phase="Failed", health="Degraded", sync="OutOfSync", started=BEFORE)) is None
    assert outcome(app(phase="Running", sync="OutOfSync", started=BEFORE)) is None
    assert outcome(app(phase="Running", sync="OutOfSync")) == "syncing"


def test_degraded_counts_for_the_applied_spec() -> None:
    assert outcome(app(health="Degraded", started=BEFORE)) == "degraded"
    assert outcome(app(health="Degraded", sync="OutOfSync", images=(f"{REGISTRY}/router:v1",), started=BEFORE)) is None
