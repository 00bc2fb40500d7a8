"""`outside`: the one function every text from a cluster, a workflow or a webhook goes through."""

from __future__ import annotations

import re

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from bot.chat.mrkdwn import outside
from bot.chat.redaction import REDACTED

TOKEN = st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", min_size=16, max_size=40)
UPPER = st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", min_size=16, max_size=16)
# credentials in each shape of section 10.3, built around a random secret
SHAPES = [
    lambda s: f"Authorization: Bearer {s}",
    lambda s: f"authorization={s}",
    lambda s: f"Bearer {s}",
    lambda s: f"password={s}",
    lambda s: f'"db_password": "{s}"',
    lambda s: f"token={s}",
    lambda s: f"client_secret: {s}",
    lambda s: f"xoxb-{s}",
    lambda s: f"xoxp-12-{s}",
    lambda s: f"ghp_{s}",
    lambda s: f"github_pat_{s}",
    lambda s: f"https://deploy:{s}@github.com/alphagov/x.git",
]
ANY_TEXT = st.text(max_size=300)
GAP = st.sampled_from([" ", "\n", ": ", " (", "\t"])


@settings(max_examples=300, deadline=None)
@given(
    before=ANY_TEXT,
    after=ANY_TEXT,
    gap=GAP,
    secret=TOKEN,
    shape=st.sampled_from(SHAPES),
    limit=st.integers(20, 3000),
)
def test_no_credential_survives_whatever_surrounds_it(before, after, gap, secret, shape, limit) -> None:
    assume(secret not in before + after)
    text = outside(before + gap + shape(secret) + gap + after, limit)
    assert secret not in text
    assert len(text) <= limit


@settings(max_examples=100, deadline=None)
@given(before=ANY_TEXT, key=UPPER)
def test_aws_access_key_ids_are_redacted(before, key) -> None:
    assume("AKIA" + key not in before)
    assert "AKIA" + key not in outside(f"{before} AKIA{key} ", 3000)


@settings(max_examples=300, deadline=None)
@given(text=st.text(max_size=2000), limit=st.integers(2, 3000), one_line=st.booleans())
def test_the_result_fits_pings_nobody_and_never_cuts_an_entity(text, limit, one_line) -> None:
    safe = outside(text, limit, one_line=one_line)
    assert len(safe) <= limit
    assert "<" not in safe and ">" not in safe  # no <!channel>, <@U…>, <url|…> can survive
    assert re.fullmatch(r"(?:[^&]|&amp;|&lt;|&gt;)*…?", safe, re.S), safe  # every & starts a whole entity
    if one_line:
        assert "\n" not in safe


def test_mentions_and_markup_show_as_written() -> None:
    assert outside("<!channel> <@U012AB3CD> a & b <https://x|y>", 200) == (
        "&lt;!channel&gt; &lt;@U012AB3CD&gt; a &amp; b &lt;https://x|y&gt;"
    )


def test_text_that_fits_is_only_escaped_and_redacted() -> None:
    assert outside("readiness probe failed: HTTP 503", 100) == "readiness probe failed: HTTP 503"
    assert outside("login with password=hunter2 failed", 100) == f"login with password={REDACTED} failed"


def test_clipping_happens_after_redaction_so_half_a_secret_never_shows() -> None:
    secret = "ghp_" + "a" * 36
    text = outside("x" * 30 + " " + secret, 40)
    assert "aaaa" not in text and len(text) <= 40


@settings(max_examples=100, deadline=None)
@given(
    failures=st.lists(st.text(max_size=5000), max_size=50),
    suite=st.text(max_size=500),
    message=st.text(max_size=20000),
)
def test_replies_carrying_outside_text_fit_one_section_block(failures, suite, message) -> None:
    from bot import messages

    argocd = "https://argo.eks.integration.govuk.digital/applications/whitehall-admin"
    workflow = "https://argo-workflows.eks.integration.govuk.digital/workflows/apps/post-sync-x7k2p"
    person, app, tag, env = "<@U012AB3CD>", "whitehall", "v" + "9" * 120, "integration"
    replies = [
        messages.tests_failed(person, suite, "Failed", app, tag, env, failures, workflow, argocd),
        messages.sync_failed(person, app, tag, env, message, argocd, "whitehall-admin"),
        messages.degraded(person, app, tag, env, message, argocd, "whitehall-admin"),
    ]
    for text in replies:
        assert len(text) <= 3000
        assert "<!" not in text


def test_more_credential_shapes_are_redacted():
    for text in [
        "Authorization: token 0123456789abcdef0123",
        "xapp-1-A0123ABCD-4567890123-0123456789abcdef0123456789abcdef",
        "ghs_0123456789abcdefABCDEF0123456789abcd",
        "https://x-access-token:s3cr3tvalue@github.com/alphagov/x.git",
    ]:
        said = outside(f"clone failed: {text} (exit 128)", 3000)
        assert REDACTED in said, said
        assert "s3cr3tvalue" not in said and "0123456789abcdef" not in said, said


def test_hostile_text_is_redacted_in_linear_time():
    """Text a cluster or webhook writes can be long and built to make a regex backtrack: each pattern
    must stay linear in it (a 20 KB run of `a.` took seconds, 100 KB took minutes)."""
    import time

    for hostile in ["a." * 10_000, "a-" * 10_000, "a+" * 10_000, "x://" + "a:" * 10_000, "_" * 20_000 + "="]:
        started = time.monotonic()
        outside(hostile, 3000)
        assert time.monotonic() - started < 3, hostile[:20]
