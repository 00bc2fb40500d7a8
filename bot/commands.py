"""Turning the text after `/deploy` into a request, with no I/O."""

from __future__ import annotations

from dataclasses import dataclass

from bot import messages

MAX_TEXT = 500


@dataclass(frozen=True)
class Deploy:
    app: str
    tag: str
    env: str
    force_reason: str | None = None  # `--force <reason…>`: deploy despite a freeze or a closed window


@dataclass(frozen=True)
class Promote:
    app: str
    env: str
    force_reason: str | None = None


@dataclass(frozen=True)
class Rollback:
    app: str
    env: str


@dataclass(frozen=True)
class Freeze:
    app: str  # or `all`
    env: str  # or `all`
    reason: str = ""


@dataclass(frozen=True)
class Unfreeze:
    app: str
    env: str


@dataclass(frozen=True)
class Help:
    pass


@dataclass(frozen=True)
class Unparsed:
    reason: str


@dataclass(frozen=True)
class Status:
    app: str


@dataclass(frozen=True)
class History:
    app: str
    env: str | None


@dataclass(frozen=True)
class Stats:
    app: str | None


@dataclass(frozen=True)
class Link:
    pass


@dataclass(frozen=True)
class Unlink:
    pass


@dataclass(frozen=True)
class Whoami:
    pass


IDENTITY_COMMANDS = {"link": Link, "unlink": Unlink, "whoami": Whoami}


Command = (
    Deploy
    | Promote
    | Rollback
    | Freeze
    | Unfreeze
    | Help
    | Unparsed
    | Status
    | History
    | Stats
    | Link
    | Unlink
    | Whoami
)
FORCE = "--force"


def parse(text: str) -> Command:
    if len(text) > MAX_TEXT:
        return Unparsed(messages.too_long(len(text)))
    words = text.split()
    if not words or words[0].lower() in ("help", "-h", "--help", "?"):
        return Help()
    verb = words[0].lower()
    lookup = parse_lookup(words)
    if lookup is not None:
        return lookup
    if verb in IDENTITY_COMMANDS and len(words) != 3:  # three words: an app called `link`
        if len(words) != 1:
            return Unparsed(messages.takes_no_arguments(verb))
        return IDENTITY_COMMANDS[verb]()
    if verb in ("freeze", "unfreeze"):
        return _freeze(verb, words[1:])
    if verb == "rollback":
        if len(words) != 3:
            return Unparsed(messages.ROLLBACK_NEEDS_APP_AND_ENV)
        return Rollback(app=words[1], env=words[2])
    words, force_reason = _split_force(words)
    if isinstance(force_reason, Unparsed):
        return force_reason
    if verb == "promote":
        rest = words[1:]
        if len(rest) == 3 and rest[1].lower() == "to":
            rest = [rest[0], rest[2]]
        if len(rest) != 2:
            return Unparsed(messages.PROMOTE_NEEDS_APP_AND_ENV)
        return Promote(app=rest[0], env=rest[1], force_reason=force_reason)
    if len(words) != 3:
        return Unparsed(messages.wrong_word_count(len(words)))
    return Deploy(app=words[0], tag=words[1], env=words[2], force_reason=force_reason)


def parse_lookup(words: list[str]) -> Command | None:
    """`status <app>`, `history <app> [<env>]`, `stats [<app>]`; None when the first word is none of them.

    Like `promote`, these words are reserved: `/deploy status v1 staging` is a mistake, not a deploy.
    """
    verb, rest = words[0].lower(), words[1:]
    if verb == "status":
        return Status(app=rest[0]) if len(rest) == 1 else Unparsed(messages.STATUS_NEEDS_APP)
    if verb == "history":
        if len(rest) not in (1, 2):
            return Unparsed(messages.HISTORY_NEEDS_APP)
        return History(app=rest[0], env=rest[1] if len(rest) == 2 else None)
    if verb == "stats":
        return Stats(app=rest[0] if rest else None) if len(rest) <= 1 else Unparsed(messages.STATS_TAKES_ONE_APP)
    return None


def _split_force(words: list[str]) -> tuple[list[str], str | None | Unparsed]:
    """The words before `--force` and the reason after it (None without `--force`)."""
    lowered = [word.lower() for word in words]
    if FORCE not in lowered:
        return words, None
    at = lowered.index(FORCE)
    reason = " ".join(words[at + 1 :]).strip()
    if not reason:
        return words, Unparsed(messages.FORCE_NEEDS_REASON)
    return words[:at], reason


def _freeze(verb: str, rest: list[str]) -> Command:
    if len(rest) < 2 or (verb == "unfreeze" and len(rest) != 2):
        return Unparsed(messages.FREEZE_NEEDS_SCOPE if verb == "freeze" else messages.UNFREEZE_NEEDS_SCOPE)
    app, env = rest[0].lower() if rest[0].lower() == "all" else rest[0], rest[1]
    env = "all" if env.lower() == "all" else env
    if verb == "unfreeze":
        return Unfreeze(app=app, env=env)
    return Freeze(app=app, env=env, reason=" ".join(rest[2:]))
