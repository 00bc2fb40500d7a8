"""Signed values of the deploy_held and rollback buttons: opaque, tamper-proof, one purpose each."""

from __future__ import annotations

from bot.signed import MAX_VALUE, SignedValues


def test_a_value_round_trips_and_is_opaque():
    held = SignedValues(b"key", "deploy_held")
    value = held.encode("whitehall", "v3232", "staging")
    assert "whitehall" not in value and len(value) <= MAX_VALUE
    assert held.decode(value, 3) == ["whitehall", "v3232", "staging"]


def test_tampered_forged_or_malformed_values_are_refused():
    held = SignedValues(b"key", "deploy_held")
    value = held.encode("whitehall", "v3232", "staging")
    body, mac = value.split(".")
    assert held.decode(body + "." + mac[:-1] + ("0" if mac[-1] != "0" else "1"), 3) is None
    assert held.decode(SignedValues(b"other key", "deploy_held").encode("whitehall", "v1", "staging"), 3) is None
    assert held.decode(value, 2) is None  # the wrong shape
    for junk in (None, 42, "", "no-dot", "a.b.c", "é.x", "x" * (MAX_VALUE + 1)):
        assert held.decode(junk, 3) is None


def test_a_value_signed_for_one_button_is_refused_by_another():
    value = SignedValues(b"key", "rollback").encode("whitehall", "staging")
    assert SignedValues(b"key", "deploy_held").decode(value, 2) is None
