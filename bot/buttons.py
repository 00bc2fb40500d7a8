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


class ButtonSigner:
    def __init__(self, key: bytes) -> None:
        self._key = hashlib.sha256(b"govuk-deploy-bot promote button\0" + key).digest()

    def _mac(self, body: bytes) -> str:
        return hmac.new(self._key, body, hashlib.sha256).hexdigest()[:32]

    def encode(self, step: PromoteStep) -> str:
        body = json.dumps([step.app, step.tag, step.from_env, step.to_env], separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(body).decode().rstrip("=") + "." + self._mac(body)

    def decode(self, value: object) -> PromoteStep | None:
        """The step a genuine value names, or None for anything forged, tampered with or malformed."""
        if not isinstance(value, str) or len(value) > MAX_VALUE or not value.isascii() or value.count(".") != 1:
            return None
        encoded, mac = value.split(".")
        try:
            body = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
        except (ValueError, TypeError):
            return None
        if not hmac.compare_digest(mac.encode(), self._mac(body).encode()):
            return None
        try:
            fields = json.loads(body)
        except ValueError:
            return None
        if not (isinstance(fields, list) and len(fields) == 4 and all(isinstance(f, str) for f in fields)):
            return None
        app, tag, from_env, to_env = fields
        if not (is_valid_app_name(app) and is_valid_image_tag(tag)):
            return None
        return PromoteStep(app, tag, from_env, to_env)

    # -- other buttons: a kind and a few strings, sealed the same way ---------------------------------

    def seal(self, kind: str, fields: list[str]) -> str:
        """An opaque, tamper-proof value for a button of `kind` (the kind is signed too, so values never swap)."""
        body = json.dumps([kind, *fields], separators=(",", ":")).encode()
        value = base64.urlsafe_b64encode(body).decode().rstrip("=") + "." + self._mac(body)
        if len(value) > MAX_VALUE:
            raise ValueError("button value too long")
        return value

    def unseal(self, kind: str, value: object, count: int) -> list[str] | None:
        """The `count` strings a genuine value of `kind` carries, or None for anything else."""
        if not isinstance(value, str) or len(value) > MAX_VALUE or not value.isascii() or value.count(".") != 1:
            return None
        encoded, mac = value.split(".")
        try:
            body = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
        except (ValueError, TypeError):
            return None
        if not hmac.compare_digest(mac.encode(), self._mac(body).encode()):
            return None
        try:
            fields = json.loads(body)
        except ValueError:
            return None
        if not (isinstance(fields, list) and len(fields) == count + 1 and all(isinstance(f, str) for f in fields)):
            return None
        if fields[0] != kind:
            return None
        return fields[1:]
