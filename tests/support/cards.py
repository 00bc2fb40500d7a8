"""Reading a deploy card's readable text the way a person would."""

from __future__ import annotations

import re


def card_states(text: str) -> dict[str, str]:
    """What the card's text says about each environment, e.g. `{"integration": "synced"}`."""
    found: dict[str, str] = {}
    for line in text.splitlines():
        match = re.search(r"\b(integration|staging|production)\b\W{0,3}:\s*([^·]*)", line)
        if match and match.group(1) not in found:
            found[match.group(1)] = match.group(2).strip()
    return found
