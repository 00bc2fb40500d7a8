"""One deploy request, as the slash command, a button, CI or automatic promotion makes it."""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass, field
from typing import Any

from bot.releases.model import CI, Requester


@dataclass(frozen=True)
class DeployRequest:
    app: str
    env: str
    tag: str | None  # None: promote whatever the previous environment runs
    requester: Requester
    response_url: str | None = None  # None when nobody is waiting for an answer (CI, automatic promotion)
    promote_deployment: bool = False
    source_env: str | None = None  # a promotion: the environment the release comes from
    automatic: bool = False
    require_tests: bool = False  # a button or automatic promotion: the source must have passed its tests
    deploy_id: str = field(default_factory=lambda: uuid.uuid4().hex[:16])
    approved_by: Requester | None = None  # the team member who approved it; their team check stands in
    force_reason: str | None = None  # `--force <reason…>`: past a freeze or a closed window, announced
    rollback_of: str | None = None  # a rollback: the tag it replaces (never blocked by a freeze or window)
    from_button: bool = False  # a promote button's click: it promotes once, ever (SPEC 7)

    @property
    def is_promotion(self) -> bool:
        return self.source_env is not None

    def to_json(self) -> dict[str, Any]:
        approved_by = self.approved_by.to_json() if self.approved_by else None
        return {**asdict(self), "requester": self.requester.to_json(), "approved_by": approved_by}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DeployRequest:
        known = {name for name in cls.__dataclass_fields__}
        fields = {key: value for key, value in data.items() if key in known}
        fields["requester"] = Requester.from_json(data.get("requester")) or CI
        fields["approved_by"] = Requester.from_json(data.get("approved_by"))
        return cls(**fields)
