"""Bolt listeners for `/deploy`, the buttons and `app_home_opened`: acknowledge, make one call into the core, reply.

The listeners run on the request's own thread (`process_before_response`) and never wait for
git or GitHub: the core answers at once and queues the slow part on its own workers, so
Bolt's small listener pool is never the bottleneck and every ack is inside Slack's 3 seconds.
"""

from __future__ import annotations

import logging

from slack_bolt import App
from slack_bolt.authorization import AuthorizeResult

from bot.chat.replies import direct_message
from bot.services import Services


def build_bolt_app(services: Services) -> App:
    token = services.settings.slack_bot_token.reveal()

    def authorize(enterprise_id: str | None = None, team_id: str | None = None, **_: object) -> AuthorizeResult:
        # One workspace and one bot token: no auth.test round trip on the ack path.
        return AuthorizeResult(enterprise_id=enterprise_id, team_id=team_id, bot_token=token)

    app = App(
        logger=_bolt_logger(),
        signing_secret=services.settings.slack_signing_secret.reveal(),
        authorize=authorize,
        # The HTTP layer verifies signatures itself, before Bolt, so a bad request's body is never logged.
        request_verification_enabled=False,
        token_verification_enabled=False,
        process_before_response=True,
        raise_error_for_unhandled_request=False,
    )
    register(app, services)
    return app


def _bolt_logger() -> logging.Logger:
    """Bolt's logger, minus its warning that SLACK_BOT_TOKEN is ignored: `authorize` above uses it."""
    logger = logging.getLogger("slack_bolt.App")
    if not any(isinstance(f, _TokenIgnoredFilter) for f in logger.filters):
        logger.addFilter(_TokenIgnoredFilter())
    return logger


class _TokenIgnoredFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "will be ignored" not in record.getMessage()


def register(app: App, services: Services) -> None:
    router, replies = services.router, services.replies

    @app.command("/deploy")
    def deploy_command(ack, command) -> None:
        text = router.command(command.get("text") or "", command.get("user_id") or "", command.get("response_url"))
        ack(text=text, response_type="ephemeral")

    def button(ack, body, action) -> None:
        ack()
        user_id = (body.get("user") or {}).get("id") or ""
        response_url = body.get("response_url")
        in_a_view = isinstance(body.get("container"), dict) and body["container"].get("type") == "view"
        if response_url is None and in_a_view and user_id:
            # a click in the Home tab carries no response_url: the answer goes as a direct message
            response_url = direct_message(user_id)
        refusal = router.action(action.get("action_id") or "", action.get("value"), user_id, response_url)
        if refusal:
            replies.send(response_url, refusal)

    for action_id in router.action_ids:
        app.action(action_id)(button)

    @app.event("app_home_opened")
    def home_opened(event) -> None:
        # the Messages tab sends this event too; only the Home tab is published
        if services.home is not None and event.get("tab", "home") == "home" and event.get("user"):
            services.home.opened(event["user"])
