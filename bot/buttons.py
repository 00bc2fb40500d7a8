"""The promote button's `value`: which release moves from where to where, signed by the bot.

Slack hands the value back verbatim on a click, so anyone who can craft a request can put
anything in it. It carries an HMAC made with a key only the bot knows; a value that does not
verify is refused, and even a valid one is only a claim that the bot re-checks.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass

from bot.names import is_valid_app_name, is_valid_image_tag

MAX_VALUE = 2000


@dataclass(frozen=True)
class PromoteStep:
    app: str
    tag: str
    from_env: str
    to_env: str


def _encoded(body: bytes) -> str:
    """The one spelling of `body` in a value: URL-safe base64 without padding."""
    return base64.urlsafe_b64encode(body).decode().rstrip("=")


def _derive(key: bytes) -> bytes:
    return hashlib.sha256(b"govuk-deploy-bot promote button\0" + key).digest()


class ButtonSigner:
    """Signs with `key`; accepts values signed with `key` or, during a rotation, with `previous`."""

    def __init__(self, key: bytes, previous: bytes | None = None) -> None:
        self._key = _derive(key)
        self._accepted = [self._key] + ([_derive(previous)] if previous else [])

    def _mac(self, body: bytes, key: bytes | None = None) -> str:
        return hmac.new(key or self._key, body, hashlib.sha256).hexdigest()[:32]

    def _signed(self, body: bytes) -> str:
        return _encoded(body) + "." + self._mac(body)

    def _verified(self, value: object) -> list | None:
        """The JSON list a genuine value carries, or None for anything forged, tampered with or malformed."""
        if not isinstance(value, str) or len(value) > MAX_VALUE or not value.isascii() or value.count(".") != 1:
            return None
        encoded, mac = value.split(".")
        try:
            body = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
        except (ValueError, TypeError):
            return None
        # One spelling only: the decoder forgives padding, whitespace and spare bits, so the same bytes
        # could be sent many ways, and each would count as a different button (a second approval request…)
        if _encoded(body) != encoded:
            return None
        # every accepted key is tried, so the time taken does not say which one signed it
        verified = [hmac.compare_digest(mac.encode(), self._mac(body, key).encode()) for key in self._accepted]
        if not any(verified):
            return None
        try:
            fields = json.loads(body)
        except ValueError:
            return None
        if not (isinstance(fields, list) and all(isinstance(f, str) for f in fields)):
            return None
        return fields

    def encode(self, step: PromoteStep) -> str:
        return self._signed(
            json.dumps([step.app, step.tag, step.from_env, step.to_env], separators=(",", ":")).encode()
        )

    def decode(self, value: object) -> PromoteStep | None:
        """The step a genuine promote value names, or None for anything else."""
        fields = self._verified(value)
        if fields is None or len(fields) != 4:
            return None
        app, tag, from_env, to_env = fields
        if not (is_valid_app_name(app) and is_valid_image_tag(tag)):
            return None
        return PromoteStep(app, tag, from_env, to_env)

    def sign(self, kind: str, *fields: str) -> str:
        """The value of another kind of button (retry the tests, deploy a held tag…): as opaque and
        tamper-proof as a promote value, and never mistaken for one (its first field is the kind)."""
        # `#` is in no app name, so the first field can never be read as a promote value's app
        value = self._signed(json.dumps([f"#{kind}", *fields], separators=(",", ":")).encode())
        if len(value) > MAX_VALUE:
            raise ValueError("button value too long")
        return value

    def verify(self, kind: str, value: object, count: int) -> list[str] | None:
        """The `count` fields of a genuine value of this kind, or None for anything else."""
        fields = self._verified(value)
        if fields is None or len(fields) != count + 1 or fields[0] != f"#{kind}":
            return None
        return fields[1:]
