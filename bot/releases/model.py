"""The release model: what the bot knows of one release `(app, tag)` in every environment.

Everything about a state lives on `State`: its order, its words and its emoji. A release is
stored as one JSON document; `to_json` and `from_json` are the only code that knows its keys.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

MAX_SEEN = 32  # outcomes remembered per environment, to spot duplicates
MAX_DRAFTS = 10  # draft stacks shown per environment
MAX_POSTED_REPLIES = 20  # replies already on Slack kept (their ids only matter while unposted)
MAX_UNPOSTED_REPLIES = 50
MAX_TEST_RUNS = 10  # applications whose deciding test run is remembered per environment


@dataclass(frozen=True)
class TestRun:
    """The test run that decided an application's verdict in one environment.

    `name` is the workflow's name ("" when the sender gave none); `created` its creationTimestamp
    (RFC 3339, UTC, so it sorts as text; "" when only a webhook told it, which says nothing of when).
    """

    __test__ = False  # a record, not a test class

    name: str
    created: str
    passed: bool


class State(Enum):
    """How far a release has come in one environment.

    `rank` orders them: an event may never move an environment to a lower rank.
    """

    REQUESTED = ("requested", 0, "requested", ":hourglass_flowing_sand:")
    DEPLOY_FAILED = ("deploy_failed", 0, "deploy failed", ":x:")
    SYNCING = ("syncing", 1, "syncing", ":arrows_counterclockwise:")
    SYNCED = ("synced", 2, "synced", ":large_blue_circle:")
    SYNC_FAILED = ("sync_failed", 2, "sync failed", ":red_circle:")
    TESTS_RUNNING = ("tests_running", 2, "tests running again", ":arrows_counterclockwise:")
    DEGRADED = ("degraded", 3, "degraded", ":warning:")  # Degraded after its tests passed still matters
    TESTS_PASSED = ("tests_passed", 3, "tests passed", ":white_check_mark:")
    TESTS_FAILED = ("tests_failed", 3, "tests failed", ":x:")

    def __init__(self, code: str, rank: int, words: str, emoji: str) -> None:
        self.code = code
        self.rank = rank
        self.words = words
        self.emoji = emoji

    @classmethod
    def from_code(cls, code: str) -> State:
        for state in cls:
            if state.code == code:
                return state
        raise ValueError(f"unknown release state {code!r}")

    @property
    def is_failure(self) -> bool:
        return self in (State.SYNC_FAILED, State.DEGRADED, State.TESTS_FAILED, State.DEPLOY_FAILED)


NOT_DEPLOYED_EMOJI = ":white_circle:"


@dataclass(frozen=True)
class Requester:
    """Who asked for a deploy: a person (Slack user and GitHub login) or CI."""

    slack_user: str | None = None
    login: str | None = None
    origin: str | None = field(default=None, compare=False)  # "config" or "link": where the login came from

    @property
    def is_person(self) -> bool:
        return self.slack_user is not None

    @property
    def trailer(self) -> str:
        return f"{self.login or 'CI'} ({self.slack_user or 'none'})"

    @property
    def mention(self) -> str:
        return f"<@{self.slack_user}>" if self.slack_user else "CI"

    def to_json(self) -> dict[str, str | None]:
        return {"slack_user": self.slack_user, "login": self.login}

    @classmethod
    def from_json(cls, data: dict | None) -> Requester | None:
        return cls(data.get("slack_user"), data.get("login")) if data else None


CI = Requester()


@dataclass(frozen=True)
class Promotion:
    """A release moved on from an environment; `by` None: the next one was found running it already."""

    to_env: str
    by: Requester | None
    at: float

    def to_json(self) -> dict[str, Any]:
        return {"to": self.to_env, "by": self.by.to_json() if self.by else None, "at": self.at}

    @classmethod
    def from_json(cls, data: dict | None) -> Promotion | None:
        if not data:
            return None
        return cls(data["to"], Requester.from_json(data.get("by")), data.get("at") or 0.0)


@dataclass(frozen=True)
class Button:
    """A button on a card or a thread reply; `value` is opaque to everyone but the bot."""

    action_id: str
    label: str
    value: str
    confirm: str | None = None  # the question of a confirmation dialog, if it needs one
    style: str | None = None  # primary or danger

    def to_json(self) -> dict[str, Any]:
        return {
            "action_id": self.action_id,
            "label": self.label,
            "value": self.value,
            "confirm": self.confirm,
            "style": self.style,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Button:
        return cls(data["action_id"], data["label"], data["value"], data.get("confirm"), data.get("style"))


@dataclass
class Reply:
    """A message for the card's thread; `posted` once Slack has it."""

    text: str
    broadcast: bool = False
    urgent: bool = False  # a failure, or a person waiting: goes before new cards and edits
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    posted: bool = False
    buttons: list[Button] = field(default_factory=list)


@dataclass
class EnvEntry:
    """Where a release stands in one environment."""

    state: State | None = None
    at: float | None = None
    requester: Requester | None = None  # set when the bot deployed it (CI included)
    commit: str | None = None
    automatic: bool = False
    application: str | None = None
    message: str | None = None
    revision: str | None = None
    workflow_url: str | None = None
    seen: list[str] = field(default_factory=list)
    drafts: dict[str, State] = field(default_factory=dict)
    promoted: Promotion | None = None
    note: str | None = None  # a line the card shows under the environment (held, rolled back)
    no_tests: bool = False  # no Application deciding here runs post-sync tests (SPEC 10.1)
    test_runs: dict[str, TestRun] = field(default_factory=dict)  # application -> the run that decided it

    @property
    def deployed_by_bot(self) -> bool:
        return self.requester is not None

    @property
    def ready_to_promote(self) -> bool:
        """Its tests passed here, or it synced where no tests run (never promoted automatically)."""
        return self.state is State.TESTS_PASSED or (self.state is State.SYNCED and self.no_tests)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "state": self.state.code if self.state else None,
            "at": self.at,
            "requester": self.requester.to_json() if self.requester else None,
            "automatic": self.automatic,
            "seen": self.seen,
        }
        optional = {
            "commit": self.commit,
            "application": self.application,
            "message": self.message,
            "revision": self.revision,
            "workflow_url": self.workflow_url,
            "note": self.note,
        }
        data.update({key: value for key, value in optional.items() if value is not None})
        if self.drafts:
            data["drafts"] = {name: state.code for name, state in self.drafts.items()}
        if self.no_tests:
            data["no_tests"] = True
        if self.promoted:
            data["promoted"] = self.promoted.to_json()
        if self.test_runs:
            data["test_runs"] = {app: [run.name, run.created, run.passed] for app, run in self.test_runs.items()}
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> EnvEntry:
        return cls(
            state=State.from_code(data["state"]) if data.get("state") else None,
            at=data.get("at"),
            requester=Requester.from_json(data.get("requester")),
            commit=data.get("commit"),
            automatic=bool(data.get("automatic")),
            application=data.get("application"),
            message=data.get("message"),
            revision=data.get("revision"),
            workflow_url=data.get("workflow_url"),
            seen=list(data.get("seen") or [])[-MAX_SEEN:],
            drafts={name: State.from_code(code) for name, code in (data.get("drafts") or {}).items()},
            promoted=Promotion.from_json(data.get("promoted")),
            note=data.get("note"),
            no_tests=bool(data.get("no_tests")),
            test_runs={
                str(app): TestRun(str(run[0]), str(run[1]), bool(run[2]))
                for app, run in list((data.get("test_runs") or {}).items())[-MAX_TEST_RUNS:]
                if isinstance(run, list) and len(run) == 3
            },
        )


@dataclass(frozen=True)
class CardRef:
    """Where the release's root message is on Slack."""

    channel: str
    ts: str


@dataclass
class Release:
    app: str
    tag: str
    created: float
    version: int = 0  # bumped by every change the card must show
    rendered: int = 0  # the version Slack shows
    shown: str | None = None  # digest of what Slack shows, so an edit that changes nothing is not sent
    card: CardRef | None = None
    envs: dict[str, EnvEntry] = field(default_factory=dict)
    replies: list[Reply] = field(default_factory=list)

    def entry(self, env: str) -> EnvEntry:
        """The environment's entry, made empty on first use."""
        return self.envs.setdefault(env, EnvEntry())

    def add_reply(
        self, text: str, *, broadcast: bool = False, urgent: bool = False, buttons: list[Button] | None = None
    ) -> None:
        self.replies.append(Reply(text, broadcast=broadcast, urgent=urgent or broadcast, buttons=list(buttons or [])))
        self._bound_replies()

    def _bound_replies(self) -> None:
        posted = [r for r in self.replies if r.posted]
        unposted = [r for r in self.replies if not r.posted]
        if len(posted) > MAX_POSTED_REPLIES or len(unposted) > MAX_UNPOSTED_REPLIES:
            keep = {id(r) for r in posted[-MAX_POSTED_REPLIES:]} | {id(r) for r in unposted[-MAX_UNPOSTED_REPLIES:]}
            self.replies = [r for r in self.replies if id(r) in keep]

    def mark_posted(self, reply_id: str) -> None:
        for reply in self.replies:
            if reply.id == reply_id:
                reply.posted = True
        self._bound_replies()

    @property
    def unposted_replies(self) -> list[Reply]:
        return [r for r in self.replies if not r.posted]

    @property
    def needs_slack(self) -> bool:
        return self.card is None or self.rendered < self.version or bool(self.unposted_replies)

    @property
    def heard_only(self) -> bool:
        """Known only from webhooks or the APIs: nobody asked the bot to deploy, hold or roll it back.

        Its card waits behind those of real deploys, and it is kept for a shorter time."""
        return not any(entry.deployed_by_bot or entry.note for entry in self.envs.values())

    @property
    def urgent(self) -> bool:
        """Something a person must read is waiting: it goes before new cards and edits."""
        return any(r.urgent for r in self.unposted_replies)

    def to_json(self) -> dict[str, Any]:
        return {
            "app": self.app,
            "tag": self.tag,
            "created": self.created,
            "version": self.version,
            "rendered": self.rendered,
            "shown": self.shown,
            "card": {"channel": self.card.channel, "ts": self.card.ts} if self.card else None,
            "envs": {name: entry.to_json() for name, entry in self.envs.items()},
            "replies": [
                {
                    "id": r.id,
                    "text": r.text,
                    "broadcast": r.broadcast,
                    "urgent": r.urgent,
                    "posted": r.posted,
                    **({"buttons": [b.to_json() for b in r.buttons]} if r.buttons else {}),
                }
                for r in self.replies
            ],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Release:
        card = data.get("card")
        return cls(
            app=data["app"],
            tag=data["tag"],
            created=data.get("created") or 0.0,
            version=data.get("version") or 0,
            rendered=data.get("rendered") or 0,
            shown=data.get("shown"),
            card=CardRef(card["channel"], card["ts"]) if card else None,
            envs={name: EnvEntry.from_json(entry) for name, entry in (data.get("envs") or {}).items()},
            replies=[
                Reply(
                    r["text"],
                    broadcast=bool(r.get("broadcast")),
                    urgent=bool(r.get("urgent", r.get("broadcast"))),
                    id=r["id"],
                    posted=bool(r.get("posted")),
                    buttons=[Button.from_json(b) for b in r.get("buttons") or []],
                )
                for r in data.get("replies") or []
            ],
        )
