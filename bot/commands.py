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


Command = Deploy | Promote | Rollback | Freeze | Unfreeze | Help | Unparsed
FORCE = "--force"


def parse(text: str) -> Command:
    if len(text) > MAX_TEXT:
        return Unparsed(messages.too_long(len(text)))
    words = text.split()
    if not words or words[0].lower() in ("help", "-h", "--help", "?"):
        return Help()
    verb = words[0].lower()
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
