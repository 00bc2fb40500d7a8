"""The deploy card of one release, built once from its stored state and shown two ways.

`card_view` decides what the card says (one line per environment, the promote button);
`to_blocks` turns that into Slack Block Kit and `to_text` into the plain fallback that Slack
shows in notifications and the console prints.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bot.buttons import ButtonSigner, PromoteStep
from bot.config import Settings
from bot.mrkdwn import link
from bot.releases import STATE_WORDS, mention

STATE_EMOJI = {
    None: ":white_circle:",
    "requested": ":hourglass_flowing_sand:",
    "deploy_failed": ":x:",
    "syncing": ":arrows_counterclockwise:",
    "synced": ":large_blue_circle:",
    "sync_failed": ":red_circle:",
    "degraded": ":warning:",
    "tests_passed": ":white_check_mark:",
    "tests_failed": ":x:",
}
SHA = re.compile(r"^[0-9a-f]{7,40}$")


@dataclass(frozen=True)
class Button:
    label: str
    value: str
    confirm: bool


@dataclass(frozen=True)
class CardView:
    title: str
    tag_link: str | None
    lines: list[str]
    buttons: list[Button]


def clock_time(at: float | None) -> str:
    return time.strftime("%H:%M UTC", time.gmtime(at)) if at else ""


def tag_link(settings: Settings, app: str, tag: str) -> str | None:
    if SHA.match(tag):
        return f"https://github.com/{settings.github_org}/{app}/commit/{tag}"
    if re.match(r"^v\d", tag):
        return f"https://github.com/{settings.github_org}/{app}/releases/tag/{tag}"
    return None


Runs = Callable[[str, str], "str | None"]  # (env, app) -> the tag the charts repo says env runs


def _unknown(env: str, app: str) -> str | None:
    return None


def next_step(settings: Settings, doc: dict[str, Any], runs: Runs = _unknown) -> PromoteStep | None:
    """The promotion the card offers: the furthest environment with passing tests whose next one is free.

    None when the next environment already has the release (by the bot or not), or when the
    environment that passed has since moved on to another tag (the button would be stale).
    """
    envs, app, tag = doc["envs"], doc["app"], doc["tag"]
    for env in reversed(settings.environments):
        entry = envs.get(env.name) or {}
        following = settings.next_environment(env.name)
        if entry.get("state") != "tests_passed" or following is None or entry.get("promoted"):
            continue
        target = envs.get(following.name) or {}
        if target.get("state") not in (None, "deploy_failed") or runs(following.name, app) == tag:
            return None
        if runs(env.name, app) not in (None, tag):
            return None
        return PromoteStep(app, tag, env.name, following.name)
    return None


def _draft_lines(entry: dict[str, Any]) -> str:
    """The environment's draft stacks, each on a line of its own under it."""
    drafts = sorted((entry.get("drafts") or {}).items())
    return "".join(f"\n      {STATE_EMOJI.get(state, '')} {draft}: {STATE_WORDS[state]}" for draft, state in drafts)


def card_view(settings: Settings, signer: ButtonSigner, doc: dict[str, Any], runs: Runs = _unknown) -> CardView:
    app, tag = doc["app"], doc["tag"]
    lines = []
    for env in settings.environments:
        entry = doc["envs"].get(env.name) or {}
        state = entry.get("state")
        if state is None:
            if runs(env.name, app) == tag:
                line = f"{STATE_EMOJI['synced']} *{env.name}*: already runs this release"
            else:
                line = f"{STATE_EMOJI[None]} *{env.name}*: not deployed"
            lines.append(line + _draft_lines(entry))
            continue
        words = [f"{STATE_EMOJI.get(state, '')} *{env.name}*: {STATE_WORDS[state]}"]
        if entry.get("requester") is not None or "commit" in entry:
            who = "CI (automatic promotion)" if entry.get("automatic") else mention(entry.get("requester"))
            words.append(f"deployed by {who}")
        if entry.get("at"):
            words.append(clock_time(entry["at"]))
        links = [link(env.argocd_app_url(entry.get("application") or app), "Argo CD")]
        if entry.get("workflow_url"):
            links.append(link(entry["workflow_url"], "tests"))
        words.append(" ".join(links))
        line = " · ".join(words)
        line += _draft_lines(entry)
        promoted = entry.get("promoted")
        if promoted and promoted["by"] is None:
            line += f"\n      :arrow_right: {promoted['to']} already runs this release"
        elif promoted:
            by = "CI automatically" if not promoted["by"].get("slack_user") else mention(promoted["by"])
            line += f"\n      :arrow_right: promoted to {promoted['to']} by {by} at {clock_time(promoted['at'])}"
        lines.append(line)
    step = next_step(settings, doc, runs)
    buttons = []
    if step is not None:
        last = settings.environments[-1].name
        buttons.append(Button(f"Promote to {step.to_env}", signer.encode(step), confirm=step.to_env == last))
    return CardView(title=f"{app} {tag}", tag_link=tag_link(settings, app, tag), lines=lines, buttons=buttons)


def to_text(view: CardView) -> str:
    app, tag = view.title.split(" ", 1)
    return f"Deploy of *{app}* `{tag}`\n" + "\n".join(view.lines)


def to_blocks(view: CardView) -> list[dict[str, Any]]:
    app, tag = view.title.split(" ", 1)
    shown_tag = f"<{view.tag_link}|`{tag}`>" if view.tag_link else f"`{tag}`"  # app and tag are safe names
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": f":rocket: *{app}* {shown_tag}"}},
        {"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(view.lines)[:3000]}},
    ]
    for button in view.buttons:
        element: dict[str, Any] = {
            "type": "button",
            "action_id": "promote",
            "text": {"type": "plain_text", "text": button.label[:75]},
            "value": button.value,
            "style": "primary",
        }
        if button.confirm:
            element["confirm"] = {
                "title": {"type": "plain_text", "text": "Deploy to production?"},
                "text": {"type": "mrkdwn", "text": f"This deploys *{app}* `{tag}` to production."},
                "confirm": {"type": "plain_text", "text": button.label[:30]},
                "deny": {"type": "plain_text", "text": "Cancel"},
            }
        blocks.append({"type": "actions", "elements": [element]})
    return blocks
