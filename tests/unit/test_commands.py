"""bot.commands (the `/deploy` text) and bot.names (what a safe name, tag or echo is)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot import commands, messages, names
from bot.commands import Deploy, Help, Promote, Unparsed

# -- commands.parse ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("whitehall v3232 integration", Deploy("whitehall", "v3232", "integration")),
        ("  whitehall   v3232\tintegration \n", Deploy("whitehall", "v3232", "integration")),
        ("promote whitehall staging", Promote("whitehall", "staging")),
        ("promote whitehall to staging", Promote("whitehall", "staging")),
        ("PROMOTE whitehall TO production", Promote("whitehall", "production")),
        ("", Help()),
        ("   ", Help()),
        ("help", Help()),
        ("HELP me please", Help()),
        ("--help", Help()),
        ("-h", Help()),
        ("?", Help()),
    ],
)
def test_parse(text: str, expected: commands.Command) -> None:
    assert commands.parse(text) == expected


def test_words_are_passed_on_as_typed_for_later_checks() -> None:
    # parse() only splits; names are judged by bot.names, so odd words must reach those checks intact
    assert commands.parse("../etc -tag env/x") == Deploy("../etc", "-tag", "env/x")


@pytest.mark.parametrize(
    "text",
    [
        "whitehall",
        "whitehall v3232",
        "whitehall v3232 integration extra",
        "promote",
        "promote whitehall",
        "promote whitehall into staging",
        "promote a b c d",
    ],
)
def test_wrong_word_counts_are_unparsed_with_a_reason(text: str) -> None:
    result = commands.parse(text)
    assert isinstance(result, Unparsed)
    assert result.reason and "\n" not in result.reason


def test_promote_to_without_an_environment_names_the_environment_to() -> None:
    # "to" then reaches the environment check, which refuses it and lists the environments
    assert commands.parse("promote whitehall to") == Promote("whitehall", "to")


def test_three_words_reason_counts_the_words() -> None:
    assert "got 2" in commands.parse("whitehall v3232").reason


def test_overlong_text_is_refused_without_splitting() -> None:
    result = commands.parse("a " * 1000)
    assert isinstance(result, Unparsed) and "too long" in result.reason
    assert "too long" not in commands.parse("x" * commands.MAX_TEXT).reason  # the limit itself is allowed
    assert not isinstance(commands.parse("a b " + "c" * (commands.MAX_TEXT - 4)), Unparsed)


def test_usage_mentions_every_form() -> None:
    assert "/deploy <app> <tag> <environment>" in messages.USAGE
    assert "/deploy promote <app> [to] <environment>" in messages.USAGE
    assert "/deploy help" in messages.USAGE


@given(st.text(max_size=commands.MAX_TEXT + 50))
def test_parse_never_raises_and_returns_a_command(text: str) -> None:
    result = commands.parse(text)
    assert isinstance(result, commands.Command)
    if isinstance(result, Deploy) and result.force_reason is None:
        assert text.split() == [result.app, result.tag, result.env]
    if isinstance(result, Deploy | Promote):
        named = [value for key, value in vars(result).items() if key != "force_reason"]
        assert all(word and not any(ch.isspace() for ch in word) for word in named)


word = st.text(alphabet=st.characters(blacklist_categories=("Zs", "Zl", "Zp", "Cc")), min_size=1, max_size=20)


@given(app=word, tag=word, env=word)
def test_any_three_words_not_starting_with_a_keyword_are_a_deploy(app: str, tag: str, env: str) -> None:
    text = f"{app} {tag} {env}"
    keywords = ("help", "-h", "--help", "?", "promote", "rollback", "freeze", "unfreeze")
    if len(text.split()) != 3 or app.lower() in keywords or "--force" in text.lower().split():
        return
    assert commands.parse(text) == Deploy(app, tag, env)


# -- names ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["whitehall", "publishing-api", "content-store", "a", "0", "app2", "a" * 100])
def test_valid_app_names(name: str) -> None:
    assert names.is_valid_app_name(name)


@pytest.mark.parametrize(
    "name",
    [
        "",
        "-whitehall",
        "White",
        "white_hall",
        "../whitehall",
        "a/b",
        "..",
        ".",
        "a b",
        "a\n",
        "whitehall\n",
        "a" * 101,
        "café",
    ],
)
def test_invalid_app_names(name: str) -> None:
    assert not names.is_valid_app_name(name)


@pytest.mark.parametrize(
    "tag", ["v3232", "latest", "3c6f0e2b9d4a7f1e8b5c2a9d6e3f0a7b4c1d8e5f", "_x", "1.2.3-rc.1", "A" * 128]
)
def test_valid_image_tags(tag: str) -> None:
    assert names.is_valid_image_tag(tag)


@pytest.mark.parametrize(
    "tag", ["", "-v1", "--upload-pack=x", ".v1", "v1/../x", "v 1", "v1\n", "v1:latest", "A" * 129, "ü"]
)
def test_invalid_image_tags(tag: str) -> None:
    assert not names.is_valid_image_tag(tag)


@given(st.text(max_size=200))
def test_a_valid_name_or_tag_can_never_be_a_git_option_or_a_path(value: str) -> None:
    if names.is_valid_app_name(value) or names.is_valid_image_tag(value):
        assert not value.startswith("-") and "/" not in value and ".." not in value.split("/")
        assert value.isascii() and not any(ch.isspace() for ch in value)


def test_close_names_suggests_typos_best_first() -> None:
    apps = ["whitehall", "publishing-api", "collections", "frontend", "content-store"]
    assert names.close_names("whitehal", apps)[0] == "whitehall"
    assert names.close_names("WHITEHALL", apps) == ["whitehall"]
    assert names.close_names("zzz", apps) == []
    assert len(names.close_names("c", ["ca", "cb", "cc", "cd"], limit=3)) <= 3


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("whitehall", "whitehall"),
        ("<!channel>", "‹!channel›"),
        ("<@U123>", "‹@U123›"),
        ("`code`", "'code'"),
        ("a&b", "a+b"),
        ("line\nbreak\x00", "line?break?"),
    ],
)
def test_shown_neutralises_markup(raw: str, expected: str) -> None:
    assert names.shown(raw) == expected


@given(st.text(max_size=200), st.integers(min_value=2, max_value=80))
def test_shown_is_short_printable_and_inert(raw: str, limit: int) -> None:
    out = names.shown(raw, limit)
    assert len(out) <= limit
    assert out.isprintable()
    assert not set(out) & set("<>&`")
