"""What the bot stores about who someone is (links, approvals), signed so the store cannot forge it.

Anyone who can write to Redis could otherwise write `link:user:U…` and deploy as any login, or
change an approval request between the notice and the click. Each record is stored as JSON with a
`seal`: an HMAC-SHA256, under a key only the bot holds, over the record's kind, the name it is
stored under and its canonical JSON. So a record cannot be forged, changed, or copied to another
user's key; one that does not verify is logged and treated as absent.

The key is derived from BUTTON_SIGNING_KEY (else SLACK_SIGNING_SECRET), as the buttons' is, with a
label of its own, so a button value is never a valid seal or the other way round. During a rotation
(BUTTON_SIGNING_KEY_PREVIOUS) a record sealed with the previous key still opens, and `opened_with_previous`
says so, so the owner can seal it again with the current key.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Mapping
from typing import Any

log = logging.getLogger(__name__)

FIELD = "seal"


def _derive(key: bytes) -> bytes:
    return hashlib.sha256(b"govuk-deploy-bot identity record\0" + key).digest()


class Seal:
    def __init__(self, key: bytes, previous: bytes | None = None) -> None:
        if not key:
            raise ValueError("a seal needs a key")
        self._key = _derive(key)
        self._previous = _derive(previous) if previous else None

    def _mac(self, key: bytes, kind: str, name: str, fields: Mapping[str, Any]) -> str:
        body = json.dumps([kind, name, fields], sort_keys=True, separators=(",", ":"), ensure_ascii=True)
        return hmac.new(key, body.encode(), hashlib.sha256).hexdigest()

    def close(self, kind: str, name: str, fields: Mapping[str, Any]) -> str:
        """`fields` as the JSON text to store under `name`, sealed."""
        if FIELD in fields:
            raise ValueError(f"a sealed record cannot have a field called {FIELD!r}")
        return json.dumps({**fields, FIELD: self._mac(self._key, kind, name, fields)}, separators=(",", ":"))

    def open(self, kind: str, name: str, raw: str | bytes | None) -> dict[str, Any] | None:
        """The fields of a record the bot sealed, or None: nothing stored, or not the bot's (logged)."""
        fields, _ = self._open(kind, name, raw)
        return fields

    def opened_with_previous(self, kind: str, name: str, raw: str | bytes | None) -> bool:
        """True when `raw` opens only with the previous key: it should be sealed again."""
        return self._open(kind, name, raw)[1]

    def _open(self, kind: str, name: str, raw: str | bytes | None) -> tuple[dict[str, Any] | None, bool]:
        if raw is None or raw == "" or raw == b"":
            return None, False
        try:
            data = json.loads(raw)
        except ValueError:
            data = None
        seal = data.pop(FIELD, None) if isinstance(data, dict) else None
        if isinstance(data, dict) and isinstance(seal, str) and seal.isascii():
            # both keys are always tried, so the time taken does not say which one sealed it
            current = hmac.compare_digest(seal.encode(), self._mac(self._key, kind, name, data).encode())
            previous = self._previous is not None and hmac.compare_digest(
                seal.encode(), self._mac(self._previous, kind, name, data).encode()
            )
            if current or previous:
                return data, not current
        log.warning("ignored a %s record for %s that the bot did not sign (forged or changed in the store)", kind, name)
        return None, False
