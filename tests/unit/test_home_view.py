"""bot.home.view: a Home tab within Slack's 100 blocks, each kind of item getting its turn, every cut said."""

from __future__ import annotations

from bot.home.view import MAX_BLOCKS, ApprovalItem, DeployItem, HomeView, to_blocks, to_text
from bot.releases.model import Button


def big_view(deploys: int, approvals: int, freezes: int) -> HomeView:
    return HomeView(
        user="U012AB3CD",
        link_words="You act as GitHub @octocat.",
        deploys=tuple(DeployItem(f"app{n}", f"v{n}", None, (f"*integration*: synced {n}",)) for n in range(deploys)),
        approvals=tuple(
            ApprovalItem(f"request {n}", (Button("approve", "Approve", f"a{n}"), Button("deny", "Deny", f"a{n}")))
            for n in range(approvals)
        ),
        freezes=tuple(f"freeze {n} " + "x" * 400 for n in range(freezes)),
        windows=("*integration*: always open", "*production*: open now"),
        built_at=1_700_000_000,
    )


def test_a_small_view_is_whole_and_says_nothing_is_cut() -> None:
    view = big_view(3, 1, 2)
    blocks = to_blocks(view)["blocks"]
    text = to_text(view)
    assert "not shown" not in text
    assert all(f"`v{n}`" in text for n in range(3))
    assert [b["type"] for b in blocks].count("actions") == 1
    assert "freeze 1" in text


def test_a_thousand_deploys_fifty_requests_and_fifty_freezes_fit_in_100_blocks_and_say_what_was_cut() -> None:
    view = big_view(1000, 50, 50)
    home = to_blocks(view)
    blocks = home["blocks"]
    assert home["type"] == "home"
    assert len(blocks) <= MAX_BLOCKS
    shown_deploys = sum(1 for b in blocks if b["type"] == "section" and "`v" in b["text"]["text"])
    shown_requests = sum(1 for b in blocks if b["type"] == "actions")
    assert shown_deploys > 10 and shown_requests > 10  # neither crowds the other out
    cut_words = " ".join(e["text"] for b in blocks if b["type"] == "context" for e in b["elements"])
    assert f"…and {1000 - shown_deploys} more deploys not shown" in cut_words
    assert f"…and {50 - shown_requests} more approval requests not shown" in cut_words
    # the freezes are all there (ten to a block) or their cut is counted too
    freeze_lines = sum(b["text"]["text"].count("freeze ") for b in blocks if b["type"] == "section")
    assert freeze_lines == 50 or f"…and {50 - freeze_lines} more freezes not shown" in cut_words
    # Slack's text limits
    for block in blocks:
        if block["type"] == "section":
            assert len(block["text"]["text"]) <= 3000
        if block["type"] == "header":
            assert len(block["text"]["text"]) <= 150


def test_the_console_text_shows_the_same_cut_as_slack() -> None:
    view = big_view(500, 30, 0)
    text = to_text(view)
    blocks = to_blocks(view)["blocks"]
    shown_in_blocks = sum(1 for b in blocks if b["type"] == "section" and "`v" in b["text"]["text"])
    assert sum(1 for n in range(500) if f"`v{n}`" in text) == shown_in_blocks
    assert f"…and {500 - shown_in_blocks} more deploys not shown" in text
