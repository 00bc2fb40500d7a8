"""Putting outside text into Slack's mrkdwn safely.

Argo CD messages and smokey failures are written by other systems and can hold `<!channel>`,
`<@U…>` or stray `&`, `<`, `>`: escaped, they show as written and ping nobody.
"""

from __future__ import annotations

from urllib.parse import quote


def escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def link(url: str, label: str) -> str:
    """`<url|label>` with the characters that would end the link early percent-encoded."""
    safe = quote(url, safe=":/?#[]@!$&'()*+,;=%-._~")
    return f"<{safe}|{escape(label)}>"


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
