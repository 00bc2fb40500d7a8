"""The new forms of `/deploy`: --force, rollback, freeze and unfreeze, parsed with no I/O."""

from __future__ import annotations

import pytest

from bot import commands, messages
from bot.commands import Deploy, Freeze, Promote, Rollback, Unfreeze, Unparsed


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "whitehall v3232 production --force fixing the outage",
            Deploy("whitehall", "v3232", "production", "fixing the outage"),
        ),
        ("whitehall v3232 production --FORCE  hotfix", Deploy("whitehall", "v3232", "production", "hotfix")),
        ("promote whitehall to production --force security fix", Promote("whitehall", "production", "security fix")),
        ("promote whitehall production --force x", Promote("whitehall", "production", "x")),
        ("promote whitehall production", Promote("whitehall", "production", None)),
        ("rollback whitehall production", Rollback("whitehall", "production")),
        ("ROLLBACK whitehall production", Rollback("whitehall", "production")),
        ("freeze all staging release day", Freeze("all", "staging", "release day")),
        ("freeze whitehall ALL", Freeze("whitehall", "all", "")),
        ("freeze All production", Freeze("all", "production", "")),
        ("unfreeze all staging", Unfreeze("all", "staging")),
        ("unfreeze whitehall production", Unfreeze("whitehall", "production")),
    ],
)
def test_new_forms_parse(text, expected):
    assert commands.parse(text) == expected


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("whitehall v3232 production --force", messages.FORCE_NEEDS_REASON),
        ("whitehall v3232 production --force   ", messages.FORCE_NEEDS_REASON),
        ("promote whitehall production --force", messages.FORCE_NEEDS_REASON),
        ("whitehall production --force because", messages.wrong_word_count(2)),
        ("rollback whitehall", messages.ROLLBACK_NEEDS_APP_AND_ENV),
        ("rollback whitehall production now", messages.ROLLBACK_NEEDS_APP_AND_ENV),
        ("freeze whitehall", messages.FREEZE_NEEDS_SCOPE),
        ("freeze", messages.FREEZE_NEEDS_SCOPE),
        ("unfreeze all", messages.UNFREEZE_NEEDS_SCOPE),
        ("unfreeze all staging because", messages.UNFREEZE_NEEDS_SCOPE),
    ],
)
def test_bad_forms_say_what_is_wrong(text, reason):
    assert commands.parse(text) == Unparsed(reason)


def test_usage_lists_every_new_form():
    for form in (
        "--force <reason…>",
        "/deploy rollback <app> <environment>",
        "/deploy freeze <app|all>",
        "/deploy unfreeze",
    ):
        assert form in messages.USAGE
