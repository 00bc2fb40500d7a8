"""A person's Home tab, built once from plain data and shown two ways (Slack's Block Kit, the console's text).

`HomeView` is what the tab says; `layout` decides what fits in Slack's 100 blocks (each kind
of item gets its turn, so a thousand deploys never push the approvals out) and says what was
cut; `to_blocks` and `to_text` render that one layout, so Slack and the console show the same.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bot import messages
from bot.cards import button_element
from bot.chat.mrkdwn import clip
from bot.releases.model import Button

MAX_BLOCKS = 100  # Slack's limit for a Home tab view
MAX_SECTION_TEXT = 3000
MAX_HEADER_TEXT = 150
FREEZES_PER_BLOCK = 10
FREEZE_LINE = 280  # 10 of them stay under a section's 3,000 characters


@dataclass(frozen=True)
class DeployItem:
    """One of the person's releases: the card's words per environment, linked to the card."""

    app: str
    tag: str
    card_link: str | None
    lines: tuple[str, ...]


@dataclass(frozen=True)
class ApprovalItem:
    text: str
    buttons: tuple[Button, ...]


@dataclass(frozen=True)
class HomeView:
    user: str
    link_words: str  # who they act as on GitHub, or how to link
    deploys: tuple[DeployItem, ...] = ()
    approvals: tuple[ApprovalItem, ...] = ()
    freezes: tuple[str, ...] = ()
    windows: tuple[str, ...] = ()
    built_at: float = 0.0


@dataclass
class Section:
    """One part of the tab: a heading, what fits of its items, and how many were cut."""

    heading: str
    empty: str
    deploys: list[DeployItem] = field(default_factory=list)
    approvals: list[ApprovalItem] = field(default_factory=list)
    freeze_groups: list[list[str]] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)  # shown whole, in one block
    cut: int = 0
    cut_words: str = ""

    @property
    def is_empty(self) -> bool:
        return not (self.deploys or self.approvals or self.freeze_groups or self.lines)


def layout(view: HomeView) -> list[Section]:
    """The sections of the tab with what fits in MAX_BLOCKS; every cut is counted and said."""
    groups = [list(view.freezes[i : i + FREEZES_PER_BLOCK]) for i in range(0, len(view.freezes), FREEZES_PER_BLOCK)]
    # intro, 4 headings, the windows, the footer; one "nothing here" or "n more" line per listed kind
    fixed = 1 + 4 + 1 + 1 + 3
    shown_deploys, shown_approvals, shown_groups = _fit(
        [len(view.deploys), len(view.approvals), len(groups)], [1, 2, 1], MAX_BLOCKS - fixed
    )
    deploys = Section(
        messages.HOME_DEPLOYS_HEADING, messages.HOME_NO_DEPLOYS, deploys=list(view.deploys[:shown_deploys])
    )
    deploys.cut = len(view.deploys) - shown_deploys
    deploys.cut_words = messages.home_cut(deploys.cut, "deploy")
    approvals = Section(
        messages.HOME_APPROVALS_HEADING, messages.HOME_NO_APPROVALS, approvals=list(view.approvals[:shown_approvals])
    )
    approvals.cut = len(view.approvals) - shown_approvals
    approvals.cut_words = messages.home_cut(approvals.cut, "approval request")
    freezes = Section(messages.HOME_FREEZES_HEADING, messages.HOME_NO_FREEZES, freeze_groups=groups[:shown_groups])
    freezes.cut = len(view.freezes) - sum(len(g) for g in groups[:shown_groups])
    freezes.cut_words = messages.home_cut(freezes.cut, "freeze")
    windows = Section(messages.HOME_WINDOWS_HEADING, messages.HOME_NO_ENVIRONMENTS, lines=list(view.windows))
    return [deploys, approvals, freezes, windows]


def _fit(counts: list[int], costs: list[int], budget: int) -> list[int]:
    """How many of each kind fit in `budget` blocks, taking one of each kind in turn."""
    shown = [0] * len(counts)
    progress = True
    while progress:
        progress = False
        for kind, (count, cost) in enumerate(zip(counts, costs, strict=True)):
            if shown[kind] < count and cost <= budget:
                shown[kind] += 1
                budget -= cost
                progress = True
    return shown


def _deploy_text(item: DeployItem) -> str:
    heading = messages.home_deploy_heading(item.app, item.tag, item.card_link)
    return clip(heading + "\n" + "\n".join(item.lines), MAX_SECTION_TEXT)


def _freeze_text(group: list[str]) -> str:
    return "\n".join(f"• {clip(line, FREEZE_LINE)}" for line in group)


def to_blocks(view: HomeView) -> dict[str, Any]:
    """The `view` argument of `views.publish`: a Home tab of at most 100 blocks."""
    blocks: list[dict[str, Any]] = [_section(messages.home_intro(view.user, view.link_words))]
    for section in layout(view):
        blocks.append(
            {"type": "header", "text": {"type": "plain_text", "text": clip(section.heading, MAX_HEADER_TEXT)}}
        )
        if section.is_empty:
            blocks.append(_context(section.empty))
        for item in section.deploys:
            blocks.append(_section(_deploy_text(item)))
        for approval in section.approvals:
            blocks.append(_section(clip(approval.text, MAX_SECTION_TEXT)))
            blocks.append({"type": "actions", "elements": [button_element(b) for b in approval.buttons]})
        for group in section.freeze_groups:
            blocks.append(_section(_freeze_text(group)))
        if section.lines:
            blocks.append(_section(clip("\n".join(section.lines), MAX_SECTION_TEXT)))
        if section.cut:
            blocks.append(_context(section.cut_words))
    blocks.append(_context(messages.home_footer(view.built_at)))
    return {"type": "home", "blocks": blocks[:MAX_BLOCKS]}


def to_text(view: HomeView) -> str:
    """The same tab as plain lines (the console); its buttons are those of `to_blocks`, in order."""
    out = [messages.home_intro(view.user, view.link_words)]
    for section in layout(view):
        out.append("")
        out.append(f"== {section.heading} ==")
        if section.is_empty:
            out.append(section.empty)
        out.extend(_deploy_text(item) for item in section.deploys)
        out.extend(approval.text for approval in section.approvals)
        out.extend(_freeze_text(group) for group in section.freeze_groups)
        out.extend(section.lines)
        if section.cut:
            out.append(section.cut_words)
    out.append("")
    out.append(messages.home_footer(view.built_at))
    return "\n".join(out)


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text or " "}}


def _context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": clip(text, MAX_SECTION_TEXT)}]}
