"""The kinds of acknowledged work that are not a deploy themselves, each one journaled task.

A deploy (`DeployRequest`) is the first kind. Every other action a person is told "on it" about
is one more task type here, recorded in the journal before its ack and run by the deployer's one
pipeline (`Deployer.runners` maps each kind to the step that does it); after a crash the step runs
again from the start, so each is written to be safe to run twice:
- a rollback finds its target, then becomes the deploy itself (same id, same journal entry);
- a freeze or an unfreeze changes one scope; an unfreeze notes what it lifts before lifting it;
- an approval request (the `request_approval` click) opens the approval with the id fixed at the click,
  and its notice and audit record are keyed on that id;
- an approval decision is claimed with its own id, so a second run recognises its own claim, and
  an approval hands the approved deploy over to the journal in the same step that ends it.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar

from bot.deploys.request import DeployRequest
from bot.releases.model import CI, Requester


def _new_id() -> str:
    return uuid.uuid4().hex[:16]


@dataclass(frozen=True)
class _Task:
    kind: ClassVar[str]

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        for name, value in vars(self).items():
            if isinstance(value, Requester):
                data[name] = value.to_json()
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Any:
        known = set(cls.__dataclass_fields__)
        fields = {key: value for key, value in data.items() if key in known}
        for name in ("requester", "decider"):
            if name in known:
                fields[name] = Requester.from_json(data.get(name)) or CI
        return cls(**fields)


@dataclass(frozen=True)
class RollbackTask(_Task):
    """`/deploy rollback <app> <env>` or the rollback button, before its target is known."""

    kind: ClassVar[str] = "rollback"
    app: str
    env: str
    requester: Requester
    response_url: str | None = None
    task_id: str = field(default_factory=_new_id)


@dataclass(frozen=True)
class ScopeTask(_Task):
    """`/deploy freeze` (lifting False) or `/deploy unfreeze` (lifting True) of one scope."""

    kind: ClassVar[str] = "scope"
    app: str
    env: str
    requester: Requester
    lifting: bool
    response_url: str | None = None
    reason: str = ""
    at: float = 0.0  # when it was asked: the freeze's own time, the same however often the step runs
    lifted: dict[str, Any] | None = None  # an unfreeze: the freeze it lifts, noted before it is lifted
    task_id: str = field(default_factory=_new_id)


@dataclass(frozen=True)
class DecisionTask(_Task):
    """An approve or deny click on an approval request."""

    kind: ClassVar[str] = "decision"
    approval_id: str
    decision: str  # approved | denied
    decider: Requester
    response_url: str | None = None
    app: str = ""
    env: str = ""
    task_id: str = field(default_factory=_new_id)

    @property
    def requester(self) -> Requester:
        return self.decider


@dataclass(frozen=True)
class AskTask(_Task):
    """A `request_approval` click: the approval request posted in the alerts channel, and its requester told.
    The approval's id is fixed when the click is recorded, so a second run finds the request it opened."""

    kind: ClassVar[str] = "ask"
    app: str
    env: str
    tag: str
    requester: Requester
    approval_id: str
    source_env: str = ""
    require_tests: bool = False
    response_url: str | None = None
    task_id: str = field(default_factory=_new_id)


KINDS: dict[str, Any] = {
    "deploy": DeployRequest,
    **{t.kind: t for t in (RollbackTask, ScopeTask, DecisionTask, AskTask)},
}
Task = DeployRequest | RollbackTask | ScopeTask | DecisionTask | AskTask


def task_kind(task: Task) -> str:
    return "deploy" if isinstance(task, DeployRequest) else task.kind


def task_from_json(kind: str | None, data: dict[str, Any]) -> Task:
    return KINDS[kind or "deploy"].from_json(data)
