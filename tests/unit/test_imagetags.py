"""bot.imagetags: reading an image-tag file and editing it without disturbing other bytes."""

from __future__ import annotations

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from bot.gitops import imagetags
from bot.gitops.imagetags import ImageTags
from bot.names import IMAGE_TAG
from tests.support.charts import COMMENTED_TEXT, SHA_TAG

STANDARD = "image_tag: v3231\nautomatic_deploys_enabled: true\npromote_deployment: true\n"


def read_back(text: str) -> dict:
    return yaml.safe_load(text) or {}


# -- parse ------------------------------------------------------------------------------------


def test_parse_standard_file() -> None:
    assert imagetags.parse(STANDARD) == ImageTags("v3231", True, True)
    assert imagetags.parse(STANDARD).promotes_automatically


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("image_tag: v3230\npromote_deployment: false\n", ImageTags("v3230", False, False)),
        ("image_tag: v1\nautomatic_deploys_enabled: true\npromote_deployment: false\n", ImageTags("v1", True, False)),
        (
            "image_tag: v1\nautomatic_deploys_enabled: 'true'\npromote_deployment: \"true\"\n",
            ImageTags("v1", True, True),
        ),
        ("image_tag: '1234'\n", ImageTags("1234", False, False)),
        ("image_tag: 1234\n", ImageTags("1234", False, False)),
        (f"image_tag: {SHA_TAG}\n", ImageTags(SHA_TAG, False, False)),
        ("image_tag: latest\n", ImageTags("latest", False, False)),
        ("", ImageTags(None, False, False)),
        ("   \n\n", ImageTags(None, False, False)),
        ("# only a comment\n", ImageTags(None, False, False)),
        ("- a list\n- not a mapping\n", ImageTags(None, False, False)),
        ("image_tag: [unclosed\n", ImageTags(None, False, False)),
        ("image_tag: !!python/name:os.system\n", ImageTags(None, False, False)),
    ],
)
def test_parse_variants(text: str, expected: ImageTags) -> None:
    assert imagetags.parse(text) == expected


def test_parse_commented_file() -> None:
    assert imagetags.parse(COMMENTED_TEXT) == ImageTags("v1802", False, False)
    assert not imagetags.parse(COMMENTED_TEXT).promotes_automatically


# -- scalar: quoting --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "tag",
    [
        "1234",
        "true",
        "false",
        "yes",
        "no",
        "on",
        "off",
        "null",
        "1.10",
        "012",
        "0x1F",
        "1_000",
        "2024-01-01",
        "1234567890123456789012345678901234567890",  # a 40-hex commit SHA made only of digits
    ],
)
def test_tags_yaml_would_misread_are_quoted(tag: str) -> None:
    rendered = imagetags.scalar(tag)
    assert rendered == f"'{tag}'"
    assert read_back(f"image_tag: {rendered}\n")["image_tag"] == tag


@pytest.mark.parametrize("tag", ["v3232", "latest", SHA_TAG, "release-2024.01.02", "build_42"])
def test_plain_tags_stay_plain(tag: str) -> None:
    assert imagetags.scalar(tag) == tag


def test_quotes_inside_values_are_escaped() -> None:
    assert imagetags.scalar("it's: #") == "'it''s: #'"
    assert read_back("k: " + imagetags.scalar("it's: #"))["k"] == "it's: #"


@pytest.mark.parametrize("tag", ["1e10", "1234e5678", "y", "N"])
def test_tags_other_yaml_parsers_misread_are_quoted(tag: str) -> None:
    assert imagetags.scalar(tag).startswith("'")


# -- with_values: byte preservation ----------------------------------------------------------


def test_edit_changes_only_the_values() -> None:
    edited = imagetags.with_values(STANDARD, image_tag="v3232", promote_deployment=False)
    assert edited == "image_tag: v3232\nautomatic_deploys_enabled: true\npromote_deployment: false\n"


def test_edit_keeps_comments_blank_lines_trailing_text_and_missing_final_newline() -> None:
    edited = imagetags.with_values(COMMENTED_TEXT, image_tag="v1803", promote_deployment=True)
    assert edited == COMMENTED_TEXT.replace("image_tag: v1802  # pinned", "image_tag: v1803  # pinned").replace(
        "promote_deployment: false", "promote_deployment: true"
    )
    assert not edited.endswith("\n")  # the file had no final newline, and still has none


def test_edit_keeps_spacing_and_trailing_comments() -> None:
    text = "image_tag:    v1\t# tab then comment\npromote_deployment:\ttrue # tight\n"
    edited = imagetags.with_values(text, image_tag="v2", promote_deployment=False)
    assert edited == "image_tag:    v2\t# tab then comment\npromote_deployment:\tfalse # tight\n"


def test_edit_replaces_quoted_values() -> None:
    text = "image_tag: \"v1\"  # quoted\nautomatic_deploys_enabled: 'true'\n"
    assert (
        imagetags.with_values(text, image_tag="1234")
        == "image_tag: '1234'  # quoted\nautomatic_deploys_enabled: 'true'\n"
    )


def test_only_top_level_keys_are_edited() -> None:
    text = "# image_tag: v0 (old)\nnested:\n  image_tag: v0\nimage_tag_note: keep\nimage_tag: v1\n"
    edited = imagetags.with_values(text, image_tag="v2")
    assert edited == text.replace("\nimage_tag: v1\n", "\nimage_tag: v2\n")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("image_tag: v1\n", "image_tag: v2\npromote_deployment: false\n"),
        ("image_tag: v1", "image_tag: v2\npromote_deployment: false\n"),
        ("", "image_tag: v2\npromote_deployment: false\n"),
        ("# a comment\n", "# a comment\nimage_tag: v2\npromote_deployment: false\n"),
    ],
)
def test_missing_keys_are_appended_at_the_end(text: str, expected: str) -> None:
    assert imagetags.with_values(text, image_tag="v2", promote_deployment=False) == expected


def test_booleans_are_written_as_yaml_booleans() -> None:
    edited = imagetags.with_values(STANDARD, automatic_deploys_enabled=False, promote_deployment=True)
    assert read_back(edited) == {"image_tag": "v3231", "automatic_deploys_enabled": False, "promote_deployment": True}


def test_edit_is_idempotent() -> None:
    once = imagetags.with_values(COMMENTED_TEXT, image_tag="v2", promote_deployment=True)
    assert imagetags.with_values(once, image_tag="v2", promote_deployment=True) == once


def test_crlf_line_endings_are_kept() -> None:
    text = "image_tag: v1\r\npromote_deployment: true\r\n"
    assert imagetags.with_values(text, image_tag="v2") == "image_tag: v2\r\npromote_deployment: true\r\n"


def test_trailing_whitespace_after_a_value_is_kept() -> None:
    assert imagetags.with_values("image_tag: v1   \n", image_tag="v2") == "image_tag: v2   \n"


# -- properties -------------------------------------------------------------------------------

tags = st.from_regex(IMAGE_TAG, fullmatch=True)
other_lines = st.lists(
    st.one_of(
        st.from_regex(r"# [ -~]{0,30}", fullmatch=True),
        st.sampled_from(["automatic_deploys_enabled: true", "extra_key: value", "", "  indented: x"]),
    ),
    max_size=4,
)


@given(tag=tags)
def test_every_valid_tag_reads_back_as_itself(tag: str) -> None:
    edited = imagetags.with_values(STANDARD, image_tag=tag)
    assert read_back(edited)["image_tag"] == tag
    assert imagetags.parse(edited).image_tag == tag


@given(tag=tags, before=other_lines, after=other_lines)
def test_nothing_but_the_image_tag_line_changes(tag: str, before: list[str], after: list[str]) -> None:
    head = "".join(line + "\n" for line in before)
    tail = "".join(line + "\n" for line in after)
    text = head + "image_tag: v1  # c\n" + tail
    assert imagetags.with_values(text, image_tag=tag) == head + f"image_tag: {imagetags.scalar(tag)}  # c\n" + tail


@given(st.text(max_size=300))
def test_parse_never_raises_on_shallow_text(text: str) -> None:
    result = imagetags.parse(text)
    assert result.image_tag is None or isinstance(result.image_tag, str)


# -- the edit is linear: no file, however odd, holds the charts writer up ----------------------


def _set_key_before_the_linear_rewrite(text: str, key: str, rendered: str) -> str:
    """The regex edit the bot used before (quadratic on long runs of blanks), kept as the oracle of its output."""
    import re

    line = re.compile(
        rf"^{re.escape(key)}[ \t]*:(?P<space>[ \t]*)(?P<value>[^\r\n#]*?)(?P<tail>[ \t]*(?:#[^\r\n]*)?\r?)$", re.M
    )
    match = line.search(text)
    if match:
        space = match.group("space") or " "
        return text[: match.start()] + f"{key}:{space}{rendered}{match.group('tail')}" + text[match.end() :]
    newline = "\r\n" if "\r\n" in text else "\n"
    if text and not text.endswith("\n"):
        text += newline
    return text + f"{key}: {rendered}{newline}"


def _with_values_before(text: str, **values: str | bool) -> str:
    for key, value in values.items():
        rendered = ("true" if value else "false") if isinstance(value, bool) else imagetags.scalar(value)
        text = _set_key_before_the_linear_rewrite(text, key, rendered)
    return text


@pytest.mark.parametrize(
    "text",
    [
        "image_tag: a" + " " * 20_000 + "b\n",
        "image_tag: a" + "\t" * 20_000 + "b\npromote_deployment: false\n",
        "image_tag:" + " " * 20_000 + "#" + " " * 20_000 + "\rx\n",
        ("image_tag: a" + " " * 2_000 + "b\n") * 20,
        "image_tag " * 20_000,
    ],
    ids=["spaces", "tabs", "blanks-around-a-comment", "many-long-lines", "no-colon"],
)
def test_editing_a_file_with_long_runs_of_blanks_is_fast(text: str) -> None:
    import time

    started = time.perf_counter()
    edited = imagetags.with_values(text, image_tag="v2", promote_deployment=True)
    assert time.perf_counter() - started < 0.5
    assert "v2" in edited


def test_a_value_with_blanks_inside_is_replaced_whole() -> None:
    text = "image_tag: a" + " " * 20_000 + "b\n"
    assert imagetags.with_values(text, image_tag="v2") == "image_tag: v2\n"


def test_a_line_with_a_stray_carriage_return_is_not_edited_in_place() -> None:
    text = "image_tag: a\rb\nother: x\n"
    assert imagetags.with_values(text, image_tag="v2") == text + "image_tag: v2\n"


file_keys = st.sampled_from(["image_tag", "promote_deployment", "automatic_deploys_enabled", "image_tags", "other"])
file_values = st.text(alphabet=st.sampled_from(list("av1 \t#:'\"\r-_.")), max_size=12)
file_lines = st.lists(
    st.one_of(
        st.builds(
            lambda indent, key, gap, value: f"{indent}{key}{gap}:{value}",
            st.sampled_from(["", "", "", " ", "  "]),
            file_keys,
            st.sampled_from(["", "", " ", "\t"]),
            file_values,
        ),
        st.sampled_from(["", "# a comment", "---", "list:", "  - item", "\r"]),
        st.text(max_size=10),
    ),
    max_size=8,
)


@given(
    lines=file_lines,
    newline=st.sampled_from(["\n", "\r\n"]),
    final=st.booleans(),
    tag=st.from_regex(IMAGE_TAG, fullmatch=True),
    promote=st.booleans(),
)
def test_the_linear_edit_writes_exactly_what_the_regex_edit_wrote(
    lines: list[str], newline: str, final: bool, tag: str, promote: bool
) -> None:
    text = newline.join(lines) + (newline if final and lines else "")
    assert imagetags.with_values(text, image_tag=tag, promote_deployment=promote) == _with_values_before(
        text, image_tag=tag, promote_deployment=promote
    )


@given(text=st.text(max_size=200), tag=st.from_regex(IMAGE_TAG, fullmatch=True))
def test_the_linear_edit_matches_the_regex_edit_on_any_text(text: str, tag: str) -> None:
    assert imagetags.with_values(text, image_tag=tag) == _with_values_before(text, image_tag=tag)
