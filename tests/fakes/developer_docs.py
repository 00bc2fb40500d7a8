"""A fake of GOV.UK's developer docs on 127.0.0.1, serving the `repos.json` the bot reads team channels from.

The real `https://docs.publishing.service.gov.uk/repos.json` (alphagov/govuk-developer-docs
`source/repos.json.erb`: `Repos.active.map(&:api_payload)`) is a JSON list with one object per
active repository: `app_name`, `team`, `alerts_team` (the team's channel when the repository
names none of its own, `"unknown"` when it names no team either), `shortname`,
`production_hosted_on` and `links`. `tests/fixtures/repos.json` was built from that repository's
`data/repos.yml` in the same way; tests can replace entries or make the page fail.
"""

from __future__ import annotations

import copy
import json
import threading
from pathlib import Path
from typing import Any

from tests.fakes._http import LocalServer, Reply, Request

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "repos.json"


class FakeDeveloperDocs:
    def __init__(self, entries: list[dict[str, Any]] | None = None) -> None:
        self._lock = threading.Lock()
        self._entries = entries if entries is not None else json.loads(FIXTURE.read_text(encoding="utf-8"))
        self._failing: int | None = None
        self._body: bytes | None = None
        self.hits = 0
        self._server = LocalServer(self._handle, name="fake-developer-docs")

    def start(self) -> FakeDeveloperDocs:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    @property
    def repos_json_url(self) -> str:
        return f"{self._server.origin}/repos.json"

    def set_alerts_team(self, app_name: str, channel: str | None) -> None:
        """Change (or, with None, remove) the entry of `app_name`."""
        with self._lock:
            self._entries = [e for e in self._entries if e.get("app_name") != app_name]
            if channel is not None:
                self._entries.append(
                    {"app_name": app_name, "team": channel, "alerts_team": channel, "shortname": app_name}
                )

    def entries(self) -> list[dict[str, Any]]:
        with self._lock:
            return copy.deepcopy(self._entries)

    def fail_with(self, status: int | None) -> None:
        """Answer every request with `status` (None: serve the page again)."""
        with self._lock:
            self._failing = status

    def serve_body(self, body: bytes | None) -> None:
        """Answer with these bytes instead of the list (None: the list again): junk, a wrong shape."""
        with self._lock:
            self._body = body

    def _handle(self, request: Request) -> Reply:
        with self._lock:
            self.hits += 1
            if request.path != "/repos.json":
                return Reply.text("Not Found", 404)
            if self._failing is not None:
                return Reply.text("error", self._failing)
            if self._body is not None:
                return Reply(200, self._body, {"Content-Type": "application/json"})
            return Reply.json(self._entries)
