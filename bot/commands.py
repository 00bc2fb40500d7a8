"""Turning the text after `/deploy` into a request (SPEC §5), with no I/O."""

from __future__ import annotations

from dataclasses import dataclass

from bot import messages

MAX_TEXT = 500


@dataclass(frozen=True)
class Deploy:
    app: str
    tag: str
    env: str


@dataclass(frozen=True)
class Promote:
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


Command = Deploy | Promote | Help | Unparsed | Status | History | Stats | Link | Unlink | Whoami


def parse(text: str) -> Command:
    if len(text) > MAX_TEXT:
        return Unparsed(messages.too_long(len(text)))
    words = text.split()
    if not words or words[0].lower() in ("help", "-h", "--help", "?"):
        return Help()
    lookup = parse_lookup(words)
    if lookup is not None:
        return lookup
    if words[0].lower() in IDENTITY_COMMANDS and len(words) != 3:  # three words: an app called `link`
        if len(words) != 1:
            return Unparsed(messages.takes_no_arguments(words[0].lower()))
        return IDENTITY_COMMANDS[words[0].lower()]()
    if words[0].lower() == "promote":
        rest = words[1:]
        if len(rest) == 3 and rest[1].lower() == "to":
            rest = [rest[0], rest[2]]
        if len(rest) != 2:
            return Unparsed(messages.PROMOTE_NEEDS_APP_AND_ENV)
        return Promote(app=rest[0], env=rest[1])
    if len(words) != 3:
        return Unparsed(messages.wrong_word_count(len(words)))
    return Deploy(app=words[0], tag=words[1], env=words[2])


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
