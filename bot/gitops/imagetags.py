"""Reading and editing one image-tag file without disturbing a byte that is not ours.

The files are small YAML mappings (`image_tag`, `automatic_deploys_enabled`,
`promote_deployment`). A YAML round-trip would reorder keys and drop comments, so edits
replace only the value of the top-level line that holds the key, keeping any trailing
comment, and append the key at the end when the file does not have it yet.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import yaml


@dataclass(frozen=True)
class ImageTags:
    image_tag: str | None
    automatic_deploys_enabled: bool
    promote_deployment: bool

    @property
    def promotes_automatically(self) -> bool:
        return self.automatic_deploys_enabled and self.promote_deployment


def parse(text: str) -> ImageTags:
    try:
        data = yaml.load(text, Loader=SAFE_LOADER) if text.strip() else {}  # noqa: S506 - a safe loader
    except (yaml.YAMLError, RecursionError):
        data = {}
    if not isinstance(data, dict):
        data = {}
    tag = data.get("image_tag")
    return ImageTags(
        image_tag=None if tag is None else str(tag),
        automatic_deploys_enabled=_truthy(data.get("automatic_deploys_enabled")),
        promote_deployment=_truthy(data.get("promote_deployment")),
    )


def _truthy(value: object) -> bool:
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when PyYAML has it: 10x faster

# Words some YAML parser (1.1 or 1.2: PyYAML, Go's yaml used by Helm and yq) reads as a boolean or null.
SPECIAL_WORDS = {"y", "n", "yes", "no", "on", "off", "true", "false", "null", "nil", "none"}
# A plain scalar that starts with a letter, or is hex with a letter no number syntax uses, is a string to all.
PLAIN_SAFE = re.compile(r"[A-Za-z][A-Za-z0-9_.-]*|[0-9a-f]*[acdf][0-9a-f]*")


def scalar(value: str) -> str:
    """`value` as YAML that every parser reads back as the same string (`1234`, `1e10`, `y` are quoted)."""
    if PLAIN_SAFE.fullmatch(value) and value.lower() not in SPECIAL_WORDS:
        return value
    return "'" + value.replace("'", "''") + "'"


def with_values(text: str, **values: str | bool) -> str:
    """`text` with each top-level `key: value` line set, all other bytes unchanged."""
    for key, value in values.items():
        rendered = ("true" if value else "false") if isinstance(value, bool) else scalar(value)
        text = _set_key(text, key, rendered)
    return text


def _set_key(text: str, key: str, rendered: str) -> str:
    """Set the first top-level `key:` line; one pass over the text, so no file, however odd, takes long."""
    start = 0
    for line in text.split("\n"):
        edited = _edited_line(line, key, rendered)
        if edited is not None:
            return text[:start] + edited + text[start + len(line) :]
        start += len(line) + 1
    newline = "\r\n" if "\r\n" in text else "\n"
    if text and not text.endswith("\n"):
        text += newline
    return text + f"{key}: {rendered}{newline}"


def _edited_line(line: str, key: str, rendered: str) -> str | None:
    """`line` with its value replaced when it is `key:` followed by a value, blanks, a comment and a CR;
    None when it is not such a line (another key, or a stray CR inside it)."""
    if not line.startswith(key):
        return None
    after_key = line[len(key) :].lstrip(" \t")
    if not after_key.startswith(":"):
        return None
    after_colon = after_key[1:]
    body = after_colon.lstrip(" \t")
    space = after_colon[: len(after_colon) - len(body)] or " "
    hash_at = body.find("#")
    content, comment = (body, "") if hash_at < 0 else (body[:hash_at], body[hash_at:])
    carriage = ""
    last = comment if comment else content
    if last.endswith("\r"):
        carriage = "\r"
        if comment:
            comment = comment[:-1]
        else:
            content = content[:-1]
    if "\r" in content or "\r" in comment:
        return None
    value = content.rstrip(" \t")
    return f"{key}:{space}{rendered}{content[len(value) :]}{comment}{carriage}"
