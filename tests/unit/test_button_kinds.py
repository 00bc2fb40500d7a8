"""Values of the other buttons (deploy_held, rollback, retry_tests, approvals): opaque, tamper-proof,
one kind each, never mistaken for a promote value, and accepted with the previous key during a rotation."""

from __future__ import annotations

from bot.buttons import MAX_VALUE, ButtonSigner, PromoteStep


def test_a_value_round_trips_and_is_opaque():
    signer = ButtonSigner(b"key")
    value = signer.sign("deploy_held", "whitehall", "v3232", "staging")
    assert "whitehall" not in value and len(value) <= MAX_VALUE
    assert signer.verify("deploy_held", value, 3) == ["whitehall", "v3232", "staging"]


def test_tampered_forged_or_malformed_values_are_refused():
    signer = ButtonSigner(b"key")
    value = signer.sign("deploy_held", "whitehall", "v3232", "staging")
    body, mac = value.split(".")
    assert signer.verify("deploy_held", body + "." + mac[:-1] + ("0" if mac[-1] != "0" else "1"), 3) is None
    assert signer.verify("deploy_held", ButtonSigner(b"other key").sign("deploy_held", "a", "v1", "s"), 3) is None
    assert signer.verify("deploy_held", value, 2) is None  # the wrong shape
    for junk in (None, 42, "", "no-dot", "a.b.c", "é.x", "x" * (MAX_VALUE + 1)):
        assert signer.verify("deploy_held", junk, 3) is None


def test_a_value_of_one_kind_is_refused_as_another_and_never_as_a_promotion():
    signer = ButtonSigner(b"key")
    rollback = signer.sign("rollback", "whitehall", "staging")
    assert signer.verify("deploy_held", rollback, 2) is None
    held = signer.sign("deploy_held", "whitehall", "v1", "staging")
    assert signer.decode(held) is None  # four strings, but the first is a kind, not an app name
    promote = signer.encode(PromoteStep("whitehall", "v1", "integration", "staging"))
    assert signer.verify("whitehall", promote, 3) is None  # even a kind spelt like the app
    assert signer.decode(signer.sign("whitehall", "v1", "integration", "staging")) is None


def test_values_signed_with_the_previous_key_are_still_accepted_during_a_rotation():
    old = ButtonSigner(b"old-button-key-0001")
    value = old.sign("rollback", "whitehall", "staging")
    rotated = ButtonSigner(b"new-button-key-0002", b"old-button-key-0001")
    assert rotated.verify("rollback", value, 2) == ["whitehall", "staging"]
    assert ButtonSigner(b"new-button-key-0002").verify("rollback", value, 2) is None
