"""Credentials taken out of text written by other systems, before anyone can read it.

Argo CD messages, Kubernetes events, pod logs, test failures and webhook messages are written
by programs that sometimes print what they were given: a URL with its password, a header, a
token. Anything that looks like a credential becomes `[redacted]`; redacting too much costs a
word of a message, too little costs a secret. `redact` runs before anything is cut short, so a
clip can never leave half a secret that no pattern recognises.
"""

from __future__ import annotations

import re

REDACTED = "[redacted]"

_VALUE = r"""(?:"[^"\n]*"|'[^'\n]*'|[^\s&"',;]+)"""
_CREDENTIALS = [
    # a header line, whatever the scheme: `Authorization: Bearer abc`, `authorization=Basic xyz`
    (
        re.compile(r"(?i)(\bauthorization[\"']?\s*[:=]\s*)(?:(?:bearer|basic|token|digest)\s+)?" + _VALUE),
        r"\1" + REDACTED,
    ),
    (re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/=-]+"), "Bearer " + REDACTED),
    # key=value and "key": "value" for any key that names a secret (password=, api_token:, "secret": …);
    # the key's other words are bounded ({0,64}) so a long run like `a.a.a.…` cannot make it quadratic
    (
        re.compile(
            r"(?i)(\b[\w.-]{0,64}(?:password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key|private[_-]?key)[\w.-]{0,64}[\"']?\s*[:=]\s*)"
            + _VALUE
        ),
        r"\1" + REDACTED,
    ),
    # tokens recognisable on their own, wherever they stand (no word boundary: `xghp_…` is still one)
    (re.compile(r"(?:xox[a-z]|xapp)-[A-Za-z0-9-]+"), REDACTED),  # Slack: bot, user, app-level tokens
    (re.compile(r"(?:gh[pousr]_[A-Za-z0-9_]+|github_pat_[A-Za-z0-9_]+)"), REDACTED),  # GitHub
    (re.compile(r"(?:AKIA|ASIA)[0-9A-Z]{12,}"), REDACTED),  # AWS access key IDs
    # user:password@ (a scheme is at most 32 characters: unbounded, `a.a.a.…` made this quadratic)
    (re.compile(r"(?i)(\b[a-z][a-z0-9+.-]{0,31}://[^\s:/@]{1,256}:)[^\s@/]{1,256}@"), r"\1" + REDACTED + "@"),
    (re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*", re.S), REDACTED),
]


def redact(text: str) -> str:
    """`text` with anything that looks like a credential replaced by `[redacted]`."""
    for pattern, replacement in _CREDENTIALS:
        text = pattern.sub(replacement, text)
    return text
