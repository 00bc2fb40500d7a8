"""Signed button values other than the promote button's (`deploy_held`, `rollback`).

Same idea as `bot.buttons`: the value is a few strings and an HMAC made with a key only the
bot knows, so a forged or edited value is refused. Each purpose derives its own key, so a value
signed for one button is never accepted by another.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

MAX_VALUE = 2000


class SignedValues:
    def __init__(self, key: bytes, purpose: str) -> None:
        self._key = hashlib.sha256(f"govuk-deploy-bot {purpose} button\0".encode() + key).digest()

    def _mac(self, body: bytes) -> str:
        return hmac.new(self._key, body, hashlib.sha256).hexdigest()[:32]

    def encode(self, *fields: str) -> str:
        body = json.dumps(list(fields), separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(body).decode().rstrip("=") + "." + self._mac(body)

    def decode(self, value: object, count: int) -> list[str] | None:
        """The `count` strings a genuine value carries, or None for anything forged, tampered with or malformed."""
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
        if not (isinstance(fields, list) and len(fields) == count and all(isinstance(f, str) for f in fields)):
            return None
        return fields
