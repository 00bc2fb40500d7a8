"""The deploy card of one release, built once from its stored state and shown two ways.

`card_view` decides what the card says (one line per environment, the promote button);
`to_blocks` turns that into Slack Block Kit and `to_text` into the plain fallback that Slack
shows in notifications and the console prints.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bot import messages
from bot.buttons import ButtonSigner, PromoteStep
from bot.chat.mrkdwn import link
from bot.config import Settings
from bot.releases.model import NOT_DEPLOYED_EMOJI, Button, EnvEntry, Release, State

SHA = re.compile(r"^[0-9a-f]{7,40}$")


@dataclass(frozen=True)
class CardView:
    app: str
    tag: str
    tag_link: str | None
    lines: list[str]
    buttons: list[Button]


def tag_link(settings: Settings, app: str, tag: str) -> str | None:
    if SHA.match(tag):
        return f"https://github.com/{settings.github_org}/{app}/commit/{tag}"
    if re.match(r"^v\d", tag):
        return f"https://github.com/{settings.github_org}/{app}/releases/tag/{tag}"
    return None


Runs = Callable[[str, str], "str | None"]  # (env, app) -> the tag the charts repo says env runs


def _unknown(env: str, app: str) -> str | None:
    return None


def next_step(settings: Settings, release: Release, runs: Runs = _unknown) -> PromoteStep | None:
    """The promotion the card offers: the furthest environment with passing tests whose next one is free.

    None when the next environment already has the release (by the bot or not), or when the
    environment that passed has since moved on to another tag (the button would be stale).
    """
    app, tag = release.app, release.tag
    for env in reversed(settings.environments):
        entry = release.envs.get(env.name) or EnvEntry()
        following = settings.next_environment(env.name)
        if not entry.ready_to_promote or following is None or entry.promoted:
            continue
        target = release.envs.get(following.name) or EnvEntry()
        if target.state not in (None, State.DEPLOY_FAILED) or runs(following.name, app) == tag:
            return None
        if runs(env.name, app) not in (None, tag):
            return None
        return PromoteStep(app, tag, env.name, following.name)
    return None


def _draft_lines(entry: EnvEntry) -> str:
    """The environment's draft stacks, each on a line of its own under it."""
    return "".join(f"\n      {state.emoji} {draft}: {state.words}" for draft, state in sorted(entry.drafts.items()))


def _held_back_by(entry: EnvEntry) -> tuple[str, State] | None:
    """The draft stack that holds the environment back: a failure of it, else the least advanced of
    them when behind the deciding Application (SPEC 10.1: the line shows the least advanced)."""
    if entry.state is None or not entry.drafts:
        return None
    failing = sorted((name, s) for name, s in entry.drafts.items() if s.is_failure)
    if failing and not entry.state.is_failure:
        return failing[0]
    behind = sorted(
        ((name, s) for name, s in entry.drafts.items() if s.rank < min(entry.state.rank, State.SYNCED.rank)),
        key=lambda found: (found[1].rank, found[0]),
    )
    return behind[0] if behind else None


def _state_words(entry: EnvEntry) -> str:
    assert entry.state is not None
    held = _held_back_by(entry)
    if held is not None:
        return f"{held[1].words} ({held[0]})"
    if entry.state is State.SYNCED and entry.no_tests:
        return messages.SYNCED_NO_TESTS
    return entry.state.words


def _note(entry: EnvEntry) -> str:
    return f"\n      {entry.note}" if entry.note else ""


def _who(entry: EnvEntry) -> str:
    if entry.automatic:
        return messages.AUTOMATIC_PROMOTION_BY
    return entry.requester.mention if entry.requester else "CI"


def _env_line(settings: Settings, release: Release, env_name: str, runs: Runs) -> str:
    environment = settings.environment(env_name)
    entry = release.envs.get(env_name) or EnvEntry()
    state = entry.state
    if state is None:
        if runs(env_name, release.app) == release.tag:
            line = f"{State.SYNCED.emoji} *{env_name}*: {messages.ALREADY_RUNS_THIS_RELEASE}"
        else:
            line = f"{NOT_DEPLOYED_EMOJI} *{env_name}*: {messages.NOT_DEPLOYED}"
        return line + _draft_lines(entry) + _note(entry)
    words = [f"{state.emoji} *{env_name}*: {_state_words(entry)}"]
    if entry.deployed_by_bot:
        words.append(f"deployed by {_who(entry)}")
    if entry.at:
        words.append(messages.clock_time(entry.at))
    links = [link(environment.argocd_app_url(entry.application or release.app), "Argo CD")]
    if entry.workflow_url:
        links.append(link(entry.workflow_url, "tests"))
    words.append(" ".join(links))
    line = " · ".join(words) + _draft_lines(entry) + _note(entry)
    promoted = entry.promoted
    if promoted and promoted.by is None:
        line += f"\n      :arrow_right: {messages.next_already_runs(promoted.to_env)}"
    elif promoted:
        by = promoted.by.mention if promoted.by.is_person else messages.PROMOTED_BY_CI
        line += f"\n      :arrow_right: {messages.promoted_to(promoted.to_env, by, promoted.at)}"
    return line


def card_view(settings: Settings, signer: ButtonSigner, release: Release, runs: Runs = _unknown) -> CardView:
    lines = [_env_line(settings, release, env.name, runs) for env in settings.environments]
    step = next_step(settings, release, runs)
    buttons = []
    if step is not None:
        last = settings.environments[-1].name
        confirm = messages.confirm_production(release.app, release.tag) if step.to_env == last else None
        label = messages.promote_label(step.to_env)
        buttons.append(Button("promote", label, signer.encode(step), confirm=confirm, style="primary"))
    return CardView(
        app=release.app,
        tag=release.tag,
        tag_link=tag_link(settings, release.app, release.tag),
        lines=lines,
        buttons=buttons,
    )


def to_text(view: CardView) -> str:
    return messages.card_heading(view.app, view.tag) + "\n" + "\n".join(view.lines)


def to_blocks(view: CardView) -> list[dict[str, Any]]:
    shown_tag = f"<{view.tag_link}|`{view.tag}`>" if view.tag_link else f"`{view.tag}`"  # app and tag are safe names
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": f":rocket: *{view.app}* {shown_tag}"}},
        {"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(view.lines)[:3000]}},
    ]
    blocks.extend({"type": "actions", "elements": [button_element(button)]} for button in view.buttons)
    return blocks


def reply_blocks(text: str, buttons: list[Button]) -> list[dict[str, Any]] | None:
    """A thread reply with buttons as Block Kit; None for plain text, which needs no blocks."""
    if not buttons:
        return None
    return [
        {"type": "section", "text": {"type": "mrkdwn", "text": text[:3000]}},
        {"type": "actions", "elements": [button_element(button) for button in buttons]},
    ]


def button_element(button: Button) -> dict[str, Any]:
    element: dict[str, Any] = {
        "type": "button",
        "action_id": button.action_id,
        "text": {"type": "plain_text", "text": button.label[:75]},
        "value": button.value,
    }
    if button.style:
        element["style"] = button.style
    if button.confirm:
        element["confirm"] = {
            "title": {"type": "plain_text", "text": "Are you sure?"},
            "text": {"type": "mrkdwn", "text": button.confirm},
            "confirm": {"type": "plain_text", "text": button.label[:30]},
            "deny": {"type": "plain_text", "text": "Cancel"},
        }
    return element
