"""What counts as a safe app, environment and image tag name.

Every name that reaches git or a file path passes through here first, so nothing a user types
can be read as a git option (a leading `-`) or escape the image-tags folder (`/`, `..`).
"""

from __future__ import annotations

import difflib
import re

APP_NAME = re.compile(r"[a-z0-9][a-z0-9-]*")
IMAGE_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
MAX_APP_NAME = 100


def is_valid_app_name(name: str) -> bool:
    return len(name) <= MAX_APP_NAME and APP_NAME.fullmatch(name) is not None


def is_valid_image_tag(tag: str) -> bool:
    return IMAGE_TAG.fullmatch(tag) is not None


def close_names(name: str, candidates: list[str], limit: int = 3) -> list[str]:
    """The candidates a typo most likely meant, best first."""
    return difflib.get_close_matches(name.lower(), candidates, n=limit, cutoff=0.6)


def shown(value: str, limit: int = 40) -> str:
    """A user-typed value made safe to echo back in Slack: printable, short, no mrkdwn tricks."""
    cleaned = "".join(ch if ch.isprintable() else "?" for ch in value)
    cleaned = cleaned.replace("`", "'").replace("<", "‹").replace(">", "›").replace("&", "+")
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 1] + "…"
