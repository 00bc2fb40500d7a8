"""Putting outside text into Slack's mrkdwn safely.

Argo CD messages, Kubernetes events and logs, test failures and webhook messages are written by
other systems and can hold credentials, `<!channel>`, `<@U…>` or stray `&`, `<`, `>`. Every such
text goes through `outside` before it is posted anywhere (a card's thread, a broadcast, a team
channel, the console): redacted, made printable, cut to fit, escaped, so it shows as written,
pings nobody and leaks nothing.
"""

from __future__ import annotations

from urllib.parse import quote

from bot.chat.redaction import redact

_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
ELLIPSIS = "…"


def escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def link(url: str, label: str) -> str:
    """`<url|label>` with the characters that would end the link early percent-encoded, and any
    credential redacted (a webhook's workflow URL is outside text: `user:password@`, `?token=`)."""
    safe = quote(redact(url), safe=":/?#[]@!$&'()*+,;=%-._~")
    return f"<{safe}|{escape(label)}>"


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + ELLIPSIS


def outside(text: object, limit: int, *, one_line: bool = True) -> str:
    """Text from a cluster, a workflow or a webhook, safe to post: at most `limit` characters once escaped.

    Credentials are redacted first (so clipping cannot leave half a secret), control characters
    become `?`, and the text is cut where its escaped form would pass `limit`, never inside an
    entity like `&amp;`."""
    raw = redact(str(text or ""))
    if one_line:
        raw = " ".join(raw.split())
    raw = "".join(ch if ch.isprintable() or ch in " \n" else "?" for ch in raw)
    return _escaped_within(raw, limit)


def _escaped_within(raw: str, limit: int) -> str:
    escaped = escape(raw)
    if len(escaped) <= limit:
        return escaped
    out: list[str] = []
    used = 0
    for ch in raw:
        piece = _ESCAPES.get(ch, ch)
        if used + len(piece) > limit - len(ELLIPSIS):
            break
        out.append(piece)
        used += len(piece)
    return "".join(out) + ELLIPSIS
