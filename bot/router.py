"""Which part of the bot answers each `/deploy` command and each button.

Every command and every button `action_id` has one owner, registered in `bot.services`; the
Slack listeners and the console only hand text and clicks to this router. Help and text that
is not a command are answered here.
"""

from __future__ import annotations

from collections.abc import Callable

from bot import commands, messages
from bot.metrics import Metrics

CommandHandler = Callable[[commands.Command, str, "str | None"], str]  # (command, user, response_url) -> ack text
ActionHandler = Callable[[object, str, "str | None"], "str | None"]  # (value, user, response_url) -> refusal or None
Remember = Callable[["str | None", str], None]  # (response_url, user): a request arrived now


def _forget(response_url: str | None, user_id: str) -> None:
    return None


class Router:
    def __init__(self, metrics: Metrics, remember: Remember = _forget) -> None:
        self.metrics = metrics
        self.remember = remember  # when each request arrived, so a late answer goes by direct message
        self._commands: dict[type, CommandHandler] = {}
        self._actions: dict[str, ActionHandler] = {}

    def on_command(self, kind: type, handler: CommandHandler) -> None:
        self._commands[kind] = handler

    def on_action(self, action_id: str, handler: ActionHandler) -> None:
        self._actions[action_id] = handler

    @property
    def action_ids(self) -> list[str]:
        return list(self._actions)

    def command(self, text: str, user_id: str, response_url: str | None) -> str:
        """Answer `/deploy <text>` at once (slow work goes on in the background)."""
        self.remember(response_url, user_id)
        command = commands.parse(text)
        self.metrics.commands.labels(type(command).__name__.lower()).inc()
        if isinstance(command, commands.Help):
            return messages.USAGE
        handler = self._commands.get(type(command))
        if isinstance(command, commands.Unparsed) or handler is None:
            return messages.unparsed(getattr(command, "reason", messages.NOT_A_COMMAND))
        return handler(command, user_id, response_url)

    def action(self, action_id: str, value: object, user_id: str, response_url: str | None) -> str | None:
        """A button click: a refusal to show the person at once, or None when it goes on in the background."""
        self.remember(response_url, user_id)
        handler = self._actions.get(action_id)
        if handler is None:
            return messages.BUTTON_NOT_MINE
        self.metrics.actions.labels(action_id).inc()
        return handler(value, user_id, response_url)
