"""Every kind of journaled task comes back from the journal as it went in (bot/deploys/tasks.py)."""

from __future__ import annotations

import json

import pytest

from bot.deploys.deployer import _told, _words
from bot.deploys.request import DeployRequest
from bot.deploys.tasks import AskTask, DecisionTask, RollbackTask, ScopeTask, task_from_json, task_kind
from bot.releases.model import Requester

PERSON = Requester("U012AB3CD", "octocat")


@pytest.mark.parametrize(
    "task",
    [
        DeployRequest(app="router", env="staging", tag=None, requester=PERSON, source_env="integration"),
        RollbackTask(app="router", env="integration", requester=PERSON, response_url="https://hooks/1"),
        ScopeTask(app="all", env="staging", requester=PERSON, lifting=False, reason="incident", at=12.5),
        ScopeTask(
            app="router", env="staging", requester=PERSON, lifting=True,
            lifted={"app": "router", "env": "staging", "by": PERSON.to_json(), "at": 1.0, "reason": ""},
        ),
        DecisionTask(approval_id="a1", decision="approved", decider=PERSON, app="router", env="production"),
        AskTask(
            app="router", env="production", tag="v12", requester=PERSON, approval_id="a2", source_env="staging",
            require_tests=True, response_url="https://hooks/2",
        ),
    ],
    ids=["deploy", "rollback", "freeze", "unfreeze", "decision", "ask"],
)  # fmt: skip
def test_a_task_survives_the_journal(task) -> None:
    stored = json.loads(json.dumps(task.to_json()))
    assert task_from_json(task_kind(task), stored) == task
    assert task_from_json(task_kind(task), stored).task_id == task.task_id


def test_an_entry_written_before_kinds_existed_is_a_deploy() -> None:
    request = DeployRequest(app="router", env="staging", tag="v1", requester=PERSON)
    assert task_from_json(None, request.to_json()) == request


def test_how_a_task_ended_names_everyone_to_tell() -> None:
    words = [("https://hooks/decider", "You approved it", None), ("https://hooks/requester", "Approved", None)]
    assert _words(_told(words), "https://hooks/other") == words
    # words written before the journal kept several: for the task's own requester
    assert _words("Committed", "https://hooks/own") == [("https://hooks/own", "Committed", None)]
