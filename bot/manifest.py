"""The Slack app manifest (`python -m bot manifest --url URL`): paste it at api.slack.com/apps."""

from __future__ import annotations

from urllib.parse import urlsplit

import yaml

# *:history and *:read let the bot find the alerts channel's ID and look for a card or reply before
# posting it again after a post whose fate is unknown (so a lost answer never doubles a message)
SCOPES = [
    "commands",
    "chat:write",
    "chat:write.public",
    "channels:history",
    "groups:history",
    "channels:read",
    "groups:read",
]


def request_url(base: str) -> str:
    parts = urlsplit(base)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(
            f"--url must be the bot's public https URL, like https://deploy-bot.example.gov.uk (got {base!r})"
        )
    base = base.rstrip("/")
    return base if base.endswith("/slack/events") else base + "/slack/events"


def manifest(base_url: str | None, *, socket_mode: bool = False) -> str:
    """With `socket_mode`, Slack's requests come over the WebSocket each replica opens: no request URLs."""
    if base_url is None and not socket_mode:
        raise ValueError("--url is required (the bot's public https URL), unless --socket-mode is given")
    url = request_url(base_url) if base_url is not None else ""
    document = {
        "display_information": {
            "name": "govuk-deploy-bot",
            "description": "Deploy and promote GOV.UK apps through Argo CD from Slack",
            "background_color": "#1d70b8",
        },
        "features": {
            "bot_user": {"display_name": "govuk-deploy-bot", "always_online": True},
            # late replies (after Slack's 30-minute response_url) come as direct messages in the Messages tab
            "app_home": {"messages_tab_enabled": True, "messages_tab_read_only_enabled": True},
            "slash_commands": [
                {
                    "command": "/deploy",
                    "url": url,
                    "description": "Deploy or promote a GOV.UK app",
                    "usage_hint": "<app> <tag> <environment> | promote <app> [to] <environment> | status <app> | history <app> | stats | help",
                    "should_escape": False,
                }
            ],
        },
        "oauth_config": {"scopes": {"bot": SCOPES}},
        "settings": {
            "interactivity": {"is_enabled": True, "request_url": url},
            "org_deploy_enabled": False,
            "socket_mode_enabled": False,
            "token_rotation_enabled": False,
        },
    }
    if socket_mode:
        document["settings"]["socket_mode_enabled"] = True
        document = _without_request_urls(document)
    return yaml.safe_dump(document, sort_keys=False)


def _without_request_urls(node: object) -> object:
    """Every `url` and `request_url` taken out: in Socket Mode, Slack rejects a manifest that has them."""
    if isinstance(node, dict):
        return {k: _without_request_urls(v) for k, v in node.items() if k not in ("url", "request_url")}
    if isinstance(node, list):
        return [_without_request_urls(item) for item in node]
    return node
