"""bot.buttons.ButtonSigner: the promote button's `value` names one step and nothing forged gets through.

Slack hands the value back verbatim, so anyone who can craft a request can put anything in it.
These tests pin down that only a value the bot signed with its own key decodes, that the step it
decodes to is exactly the one encoded, and that no input (however strange) makes decode raise.
"""

from __future__ import annotations

import base64
import json
import string

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from bot.buttons import MAX_VALUE, ButtonSigner, PromoteStep

KEY = b"test-signing-secret"
SIGNER = ButtonSigner(KEY)
STEP = PromoteStep("router", "v512", "integration", "staging")
B64_ALPHABET = string.ascii_letters + string.digits + "-_"

app_names = st.from_regex(r"\A[a-z0-9][a-z0-9-]{0,99}\Z")
image_tags = st.from_regex(r"\A[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}\Z")
env_names = st.sampled_from(["integration", "staging", "production"])
steps = st.builds(PromoteStep, app_names, image_tags, env_names, env_names)


def _forge(signer: ButtonSigner, body: bytes) -> str:
    """A value with a genuine MAC over an arbitrary body: what a leaked key would let someone make."""
    return base64.urlsafe_b64encode(body).decode().rstrip("=") + "." + signer._mac(body)


def _body(value: str) -> bytes:
    encoded = value.split(".")[0]
    return base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))


# -- the good path ------------------------------------------------------------------------------


def test_round_trip() -> None:
    value = SIGNER.encode(STEP)
    assert SIGNER.decode(value) == STEP


def test_encoding_is_deterministic_and_a_fresh_signer_with_the_same_key_agrees() -> None:
    # two replicas (or a restart) build their own signer from the same secret: their buttons must work
    assert SIGNER.encode(STEP) == SIGNER.encode(STEP)
    assert ButtonSigner(KEY).decode(SIGNER.encode(STEP)) == STEP


@settings(max_examples=200)
@given(step=steps)
def test_round_trip_for_any_valid_step(step: PromoteStep) -> None:
    value = SIGNER.encode(step)
    assert SIGNER.decode(value) == step
    # Slack allows at most 2,000 characters in a button value; the value is plain ASCII with no spaces
    assert len(value) <= MAX_VALUE <= 2000
    assert value.isascii() and not any(ch.isspace() for ch in value)


def test_the_longest_valid_step_still_fits_in_a_slack_button() -> None:
    step = PromoteStep("a" * 100, "T" * 128, "integration", "production")
    value = SIGNER.encode(step)
    assert len(value) <= 2000
    assert SIGNER.decode(value) == step


def test_different_steps_get_different_values() -> None:
    values = {
        SIGNER.encode(STEP),
        SIGNER.encode(PromoteStep("router", "v513", "integration", "staging")),
        SIGNER.encode(PromoteStep("router", "v512", "staging", "production")),
        SIGNER.encode(PromoteStep("frontend", "v512", "integration", "staging")),
    }
    assert len(values) == 4


# -- forged, tampered, oversized ------------------------------------------------------------------


def test_a_value_signed_with_another_key_is_refused() -> None:
    other = ButtonSigner(b"someone-elses-secret")
    assert other.decode(other.encode(STEP)) == STEP  # a genuine value for *that* key...
    assert SIGNER.decode(other.encode(STEP)) is None  # ...means nothing to ours


@pytest.mark.parametrize(
    "value",
    [
        "",
        ".",
        "hello",
        "hello.world",
        "a.b.c",
        "promote:router:v512:integration:staging",
        json.dumps({"app": "router", "tag": "v512", "from": "integration", "to": "staging"}),
        "!!!not-base64!!!.0123456789abcdef0123456789abcdef",
        "\x00\x01\x02.\xff",
        "é" * 10,
    ],
)
def test_random_strings_are_refused(value: str) -> None:
    assert SIGNER.decode(value) is None


@pytest.mark.parametrize("value", [None, 1, 1.5, True, b"bytes.value", ["a", "b"], {"value": "x"}, object()])
def test_values_that_are_not_strings_are_refused(value: object) -> None:
    assert SIGNER.decode(value) is None


def test_a_genuine_body_with_a_truncated_or_missing_mac_is_refused() -> None:
    value = SIGNER.encode(STEP)
    encoded, mac = value.split(".")
    assert SIGNER.decode(encoded) is None
    assert SIGNER.decode(encoded + ".") is None
    assert SIGNER.decode(f"{encoded}.{mac[:-1]}") is None
    assert SIGNER.decode(f"{encoded}.{mac}0") is None
    assert SIGNER.decode(f"{encoded}.{mac.upper()}") is None
    assert SIGNER.decode(f"{value}.{mac}") is None


def test_changing_the_step_but_keeping_the_mac_is_refused() -> None:
    mac = SIGNER.encode(STEP).split(".")[1]
    for changed in (
        PromoteStep("router", "v513", "integration", "staging"),
        PromoteStep("router", "v512", "integration", "production"),  # skipping staging
        PromoteStep("router", "v512", "staging", "production"),
        PromoteStep("frontend", "v512", "integration", "staging"),
    ):
        encoded = SIGNER.encode(changed).split(".")[0]
        assert SIGNER.decode(f"{encoded}.{mac}") is None


def test_a_signed_value_over_the_size_limit_is_refused() -> None:
    # a genuine MAC does not make an oversized value acceptable (at most 2,000 characters)
    step = PromoteStep("router", "v512", "integration", "x" * 2000)
    value = SIGNER.encode(step)
    assert len(value) > MAX_VALUE
    assert SIGNER.decode(value) is None
    assert SIGNER.decode("a" * (MAX_VALUE + 1)) is None
    assert SIGNER.decode("a" * 10_000_000) is None


@pytest.mark.parametrize(
    "step",
    [
        PromoteStep("../../etc/passwd", "v512", "integration", "staging"),
        PromoteStep("Router", "v512", "integration", "staging"),
        PromoteStep("router/x", "v512", "integration", "staging"),
        PromoteStep("", "v512", "integration", "staging"),
        PromoteStep("router", "--upload-pack=touch /tmp/x", "integration", "staging"),
        PromoteStep("router", "-v512", "integration", "staging"),
        PromoteStep("router", "v512\n", "integration", "staging"),
        PromoteStep("router", "", "integration", "staging"),
    ],
)
def test_a_signed_value_naming_an_unsafe_app_or_tag_is_still_refused(step: PromoteStep) -> None:
    assert SIGNER.decode(SIGNER.encode(step)) is None


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"{}",
        b"null",
        b'"router"',
        b'["router","v512","integration"]',
        b'["router","v512","integration","staging","extra"]',
        b'["router",512,"integration","staging"]',
        b'["router","v512",null,"staging"]',
        b'{"app":"router","tag":"v512","from":"integration","to":"staging"}',
        b"\xff\xfe\x00",
    ],
)
def test_a_correctly_signed_body_of_the_wrong_shape_is_refused(body: bytes) -> None:
    assert SIGNER.decode(_forge(SIGNER, body)) is None


# -- fuzzing ------------------------------------------------------------------------------------


@settings(max_examples=300)
@given(st.text(max_size=3000))
def test_decode_never_raises_and_refuses_arbitrary_text(value: str) -> None:
    assert SIGNER.decode(value) is None


@settings(max_examples=300)
@given(
    encoded=st.text(alphabet=B64_ALPHABET + "=", max_size=400), mac=st.text(alphabet="0123456789abcdef", max_size=40)
)
def test_decode_refuses_well_formed_looking_values(encoded: str, mac: str) -> None:
    assert SIGNER.decode(f"{encoded}.{mac}") is None


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(step=steps, data=st.data())
def test_any_single_character_change_never_yields_a_different_step(step: PromoteStep, data: st.DataObject) -> None:
    value = SIGNER.encode(step)
    index = data.draw(st.integers(min_value=0, max_value=len(value) - 1), label="index")
    replacement = data.draw(st.sampled_from(B64_ALPHABET + ".=abcdef0123456789"), label="replacement")
    assume(replacement != value[index])
    tampered = value[:index] + replacement + value[index + 1 :]
    decoded = SIGNER.decode(tampered)
    # base64 ignores the unused low bits of the last character, so a change there may still decode to
    # the very same bytes; what must never happen is a different step (or any step from a changed MAC)
    if decoded is not None:
        assert decoded == step
        assert tampered.split(".")[1] == value.split(".")[1]
        assert _body(tampered) == _body(value)


@settings(max_examples=200)
@given(step=steps, key=st.binary(min_size=1, max_size=64))
def test_values_signed_with_any_other_key_are_refused(step: PromoteStep, key: bytes) -> None:
    assume(key != KEY)
    assert SIGNER.decode(ButtonSigner(key).encode(step)) is None


@settings(max_examples=200)
@given(st.one_of(st.none(), st.integers(), st.binary(max_size=100), st.lists(st.text(max_size=5), max_size=5)))
def test_decode_never_raises_on_other_types(value: object) -> None:
    assert SIGNER.decode(value) is None


def test_sealed_values_are_opaque_tamper_proof_and_never_swap_kinds() -> None:
    from bot.buttons import ButtonSigner, PromoteStep

    signer = ButtonSigner(b"key")
    value = signer.sign("approval:decide", *["abc123"])
    assert signer.verify("approval:decide", value, 1) == ["abc123"]
    assert "abc123" not in value and len(value) <= 2000
    assert signer.verify("approval:ask", value, 1) is None  # another kind
    assert signer.verify("approval:decide", value, 2) is None  # another shape
    assert ButtonSigner(b"other").verify("approval:decide", value, 1) is None
    body, mac = value.split(".")
    assert signer.verify("approval:decide", body + "." + mac[::-1], 1) is None
    promote = signer.encode(PromoteStep("whitehall", "v1", "integration", "staging"))
    assert signer.verify("approval:decide", promote, 3) is None
    assert signer.decode(value) is None


URLSAFE_ALPHABET = string.ascii_uppercase + string.ascii_lowercase + string.digits + "-_"  # in base64 order


def _respellings(value: str) -> list[str]:
    """Other spellings of the same bytes and MAC: padding added, whitespace, a non-canonical last character."""
    encoded, mac = value.split(".")
    spellings = [encoded + pad + "." + mac for pad in ("=", "==", "===", "====")]
    spellings += [encoded + "\n." + mac, " " + encoded + "." + mac, encoded[:4] + " " + encoded[4:] + "." + mac]
    if len(_body(value)) % 3:  # the last character carries spare bits the decoder drops: set one
        flipped = URLSAFE_ALPHABET[URLSAFE_ALPHABET.index(encoded[-1]) ^ 1]
        spellings.append(encoded[:-1] + flipped + "." + mac)
    return spellings


@pytest.mark.parametrize("extra", [0, 1, 2])  # bodies of every length modulo 3: every padding case
def test_a_value_has_exactly_one_valid_spelling(extra: int) -> None:
    value = SIGNER.sign("kind", "a" * (10 + extra))
    assert SIGNER.verify("kind", value, 1) == ["a" * (10 + extra)]
    for other in _respellings(value):
        assert _body(other.replace(" ", "").replace("\n", "")) == _body(value)  # the same bytes, spelt otherwise
        assert SIGNER.verify("kind", other, 1) is None, other
    step = PromoteStep("router" + "x" * extra, "v512", "integration", "staging")
    for other in _respellings(SIGNER.encode(step)):
        assert SIGNER.decode(other) is None, other
