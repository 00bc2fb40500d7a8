"""`python -m bot console`: the same bot in a terminal, like Errbot's text backend.

It wires the real core to a local charts repository, an in-process store and a chat service
that prints. Each line is handled to the end (deploy committed, card shown) before the next
is read, so a script of lines gives the same output every time.
"""

from __future__ import annotations

import re
import shlex
import tempfile
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any, TextIO

from bot import webhooks
from bot.chat.service import Posted
from bot.config import load_settings
from bot.home import view as home_view
from bot.sandbox import SANDBOX_LOGIN, SANDBOX_PEOPLE, SANDBOX_USER, SandboxDeviceFlow, SandboxTeams, seed_charts_repo
from bot.services import Services, build

HELP = """Type what you would type in Slack, or pretend to be Argo CD:
  /deploy <app> <tag> <env>            deploy, e.g. /deploy whitehall v3232 integration
  /deploy promote <app> [to] <env>     promote what the previous environment runs
  /deploy status <app>                 where every environment stands (no Argo CD or GitHub in the sandbox)
  /deploy history <app> [<env>]        the last 10 deploys and how each ended
  /deploy stats [<app>]                deploys, lead time, change failure rate, time to restore
  /deploy freeze <app|all> <env|all> [reason]   freeze; /deploy unfreeze <app|all> <env|all> lifts it
  /deploy rollback <app> <env>         back to the last earlier release that passed its tests there
  /deploy help                         the slash command's usage
  argocd <app> <env> <state> [health]  a sync outcome: Running, Succeeded, Failed, Error (health e.g. Degraded)
  smokey <app> <env> <status>          a test outcome: Succeeded, Failed, Error
  click <n>                            click the n-th button shown
  home                                 your Slack Home tab: your deploys, approvals waiting, freezes, windows
  digest                               the weekly delivery digest, as it would be posted now
  /deploy link, /deploy whoami         link to the sandbox GitHub (it approves at once); who you act as
  as reviewer <line>                   type a line as a second person, @sandbox-reviewer, e.g.
                                       `as reviewer /deploy link`, then `as reviewer click <n>` to approve
  help, quit
Production asks for a second person's approval (approvals_required: 1): deploy there, then let the
reviewer link and approve."""
EMOJI = {
    ":rocket:": "🚀",
    ":white_circle:": "⚪",
    ":hourglass_flowing_sand:": "⏳",
    ":hourglass:": "⌛",
    ":x:": "❌",
    ":arrows_counterclockwise:": "🔄",
    ":large_blue_circle:": "🔵",
    ":red_circle:": "🔴",
    ":warning:": "⚠️",
    ":white_check_mark:": "✅",
    ":arrow_right:": "➡️",
    ":mag:": "🔍",
    ":double_vertical_bar:": "⏸️",
    ":raised_hand:": "✋",
    ":no_entry:": "⛔",
    ":snowflake:": "❄️",
    ":sunny:": "☀️",
    ":fast_forward:": "⏩",
    ":arrow_forward:": "▶️",
    ":rewind:": "⏪",
    ":wave:": "👋",
    ":bar_chart:": "📊",
}


def plain(text: str) -> str:
    """Slack mrkdwn as a person reads it: links as `label (url)`, mentions as @login, no stars."""
    logins = dict(SANDBOX_PEOPLE.values())
    text = re.sub(r"<@(U[A-Z0-9]+)>", lambda m: "@" + logins.get(m.group(1), m.group(1)), text)
    text = re.sub(r"<([^|>]+)\|([^>]+)>", r"\2 (\1)", text)
    for code, emoji in EMOJI.items():
        text = text.replace(code, emoji)
    return text.replace("*", "")


class ConsoleChat:
    """The core's `Chat`, printed: cards with numbered buttons, thread replies, private replies."""

    def __init__(self, out: TextIO, channel: str) -> None:
        self.out = out
        self.channel = channel
        self.buttons: list[tuple[str, str]] = []  # (action_id, value), numbered from 1
        self._next_ts = 0
        # held while a command's ack is printed: an answer from the background waits for it, so it
        # never comes before the ack or splits its line
        self.printing = threading.RLock()

    def _button_lines(self, blocks: list[dict[str, Any]] | None) -> list[str]:
        lines = []
        for block in blocks or []:
            for element in block.get("elements", []) if block.get("type") == "actions" else []:
                self.buttons.append((element["action_id"], element["value"]))
                confirm = " (asks for confirmation)" if "confirm" in element else ""
                lines.append(f"   [{len(self.buttons)}] {element['text']['text']}{confirm}")
        return lines

    def _card(self, heading: str, text: str, blocks: list[dict[str, Any]] | None) -> None:
        print(f"\n{heading}", file=self.out)
        for line in plain(text).splitlines():
            print(f"│ {line}", file=self.out)
        for line in self._button_lines(blocks):
            print(line, file=self.out)

    def find(self, channel_id: str, marker: str, thread_ts: str | None = None) -> Posted | None:
        return None  # printing cannot half-fail

    def channel_id(self, name: str) -> str | None:
        return "CONSOLE"

    def post(self, channel: str, text: str, blocks=None, *, thread_ts=None, broadcast=False, marker=None) -> Posted:  # noqa: E501
        self._next_ts += 1
        if thread_ts is None:
            kind = "new message" if (marker or "").startswith("notice") else "new deploy card"
            self._card(f"#{self.channel} — {kind}", text, blocks)
        else:
            also = " (also sent to the channel)" if broadcast else ""
            print(f"  ↳ in the card's thread{also}: {plain(text)}", file=self.out)
            for line in self._button_lines(blocks):
                print(f"  {line}", file=self.out)
        return Posted(channel="CONSOLE", ts=f"{self._next_ts}.000000")

    def update(self, channel: str, ts: str, text: str, blocks=None) -> None:
        self._card(f"#{self.channel} — card updated", text, blocks)

    def publish_home(self, user_id: str, view: dict[str, Any]) -> None:
        """Nobody opens a Home tab in a terminal: `home` prints it instead."""

    def permalink(self, channel: str, ts: str) -> str | None:
        return None  # the console's cards are printed above, not linked

    def respond(self, response_url: str, text: str, blocks=None) -> None:
        with self.printing:
            print(f"{_only_visible(response_url)} {plain(text)}", file=self.out)
            for line in self._button_lines(blocks):
                print(line, file=self.out)


def _only_visible(response_url: str | None) -> str:
    """The console's response_url names who typed: `console` for the developer, `console:<login>` for others."""
    if response_url and response_url.startswith("console:"):
        return f"(only visible to @{response_url.split(':', 1)[1]})"
    return "(only visible to you)"


class Console:
    def __init__(self, out: TextIO, folder: Path) -> None:
        self.out = out
        remote = seed_charts_repo(folder)
        settings = load_settings(
            {
                "CHARTS_REPO_URL": remote.as_uri(),
                "CHARTS_WORKDIR": str(folder / "working-copy"),
                "REDIS_URL": "memory://",
                "SLACK_SIGNING_SECRET": "console-sandbox",
            },
            require_serve=False,
        )
        environments = tuple(
            replace(env, approvals_required=1) if env.name == "production" else env for env in settings.environments
        )
        settings = replace(settings, users={SANDBOX_USER: SANDBOX_LOGIN}, environments=environments)
        self.chat = ConsoleChat(out, settings.alerts_channel)
        self.acting = SANDBOX_USER  # who is typing this line (`as reviewer …` changes it for one line)
        self.services: Services = build(
            settings,
            chat=self.chat,
            teams=SandboxTeams(),
            post_interval=0.0,
            device_flow=SandboxDeviceFlow(lambda: self.acting),
        )
        self.services.start(background=False)
        self.remote = remote
        self.test_runs = 0  # each `smokey`/`tests` line is a run of its own: a pass after a failure is a retry

    def settle(self) -> None:
        """Let every deploy and card the last line started finish, in order."""
        services = self.services
        for _ in range(50):
            services.linking.wait_idle(timeout=60)
            services.approvals.wait_idle(timeout=60)
            services.deployer.wait_idle(timeout=60)
            services.lookups.wait_idle(timeout=60)
            services.replies.wait()
            services.outbox.run_due()
            quiet = services.linking.wait_idle(timeout=0) and services.approvals.wait_idle(timeout=0)
            if (
                quiet
                and services.outbox.idle()
                and not services.replies.pending()
                and services.deployer.wait_idle(timeout=0)
                and services.lookups.wait_idle(timeout=0)
            ):
                return

    def say(self, text: str) -> None:
        print(plain(text), file=self.out)

    def handle(self, line: str) -> bool:
        """One line of input; False when it asks to quit."""
        line = line.strip()
        if not line or line.startswith("#"):
            return True
        try:
            words = shlex.split(line)
        except ValueError:
            words = line.split()
        verb = words[0].lower()
        if verb == "as":
            return self._as(words, line)
        if verb in ("quit", "exit"):
            return False
        if verb == "help":
            self.say(HELP)
        elif verb == "/deploy":
            text = line[len(words[0]) :].strip()
            with self.chat.printing:
                self.say(self.services.router.command(text, self.acting, self._response_url()))
        elif verb in ("argocd", "smokey"):
            self._webhook(verb, words[1:])
        elif verb == "click":
            self._click(words[1:])
        elif verb == "home":
            self._home()
        elif verb == "digest":
            self.say(self.services.digest.text())
        else:
            self.say(f"I don't know `{words[0]}`. Type `help` for what I understand.")
        self.settle()
        return True

    def _response_url(self) -> str:
        if self.acting == SANDBOX_USER:
            return "console"
        return "console:" + dict(SANDBOX_PEOPLE.values()).get(self.acting, self.acting)

    def _as(self, words: list[str], line: str) -> bool:
        """`as <person> <line>`: one line typed by another sandbox person."""
        person = SANDBOX_PEOPLE.get(words[1].lower()) if len(words) > 2 else None
        if person is None:
            self.say(f"Usage: as <person> <line>, with person one of: {', '.join(SANDBOX_PEOPLE)}.")
            return True
        rest = line.split(None, 2)[2]
        self.acting = person[0]
        try:
            return self.handle(rest)
        finally:
            self.acting = SANDBOX_USER

    def _webhook(self, verb: str, args: list[str]) -> None:
        if len(args) < 3:
            self.say(f"Usage: {verb} <app> <env> <{'state' if verb == 'argocd' else 'status'}>")
            return
        app, env, outcome = args[0], args[1], args[2]
        current = None
        if self.services.settings.environment(env) and app in self.services.charts.apps(env):
            current = self.services.charts.read(env, app)
        if current is None or not current.image_tag:
            self.say(
                f"There is no app called `{app}` in `{env}` in the sandbox. Apps: "
                + ", ".join(self.services.charts.apps("integration"))
            )
            return
        payload = {"application": app, "repoName": app, "environment": env, "imageTag": current.image_tag}
        names = self.services.settings.environment_names
        try:
            if verb == "argocd":
                payload.update(
                    state=outcome, health=args[3] if len(args) > 3 else "Healthy", message=" ".join(args[4:])
                )
                result = self.services.events.sync(webhooks.sync_event(payload, names))
            else:
                self.test_runs += 1
                payload.update(
                    status=outcome,
                    workflowName=f"post-sync-sandbox-{self.test_runs}",
                    workflowUrl="https://argo-workflows.example/sandbox",
                    failures=["Smokey scenario failed in the sandbox"] if outcome != "Succeeded" else [],
                )
                result = self.services.events.tests(webhooks.smoke_event(payload, names))
        except webhooks.Invalid as invalid:
            self.say(f"Not accepted: {invalid}.")
            return
        words = {"duplicate": "already seen; nothing changes", "stale": "older than what the card shows; ignored"}
        self.say(f"{verb}: {app} {current.image_tag} in {env}: {outcome} ({words.get(result, 'accepted')})")

    def _click(self, args: list[str]) -> None:
        buttons = self.chat.buttons
        if len(args) != 1 or not args[0].isdigit() or not 1 <= int(args[0]) <= len(buttons):
            self.say(
                f"Say which button: `click <n>` with n from 1 to {len(buttons)}." if buttons else "No buttons yet."
            )
            return
        action_id, value = buttons[int(args[0]) - 1]
        refusal = self.services.router.action(action_id, value, self.acting, self._response_url())
        if refusal:
            print(f"{_only_visible(self._response_url())} {plain(refusal)}", file=self.out)

    def _home(self) -> None:
        """The Home tab the person typing would see in Slack, its buttons numbered like a card's."""
        home = self.services.home
        home.run_once()  # the console has no background worker: note the deploys just made
        view = home.build(self.acting)
        print(f"\nYour Home tab ({_only_visible(self._response_url())[1:-1]})", file=self.out)
        for line in plain(home_view.to_text(view)).splitlines():
            print(f"│ {line}", file=self.out)
        for line in self.chat._button_lines(home_view.to_blocks(view)["blocks"]):
            print(line, file=self.out)

    def close(self) -> None:
        self.services.stop()


def run_console(stdin: TextIO, out: TextIO) -> int:
    folder = Path(tempfile.mkdtemp(prefix="govuk-deploy-bot-sandbox-"))
    console = Console(out, folder)
    print(f"govuk-deploy-bot sandbox. Charts repository: {console.remote}", file=out)
    print(f"You are @{SANDBOX_LOGIN} ({SANDBOX_USER}), a member of every team. Type `help`.", file=out)
    interactive = stdin.isatty()
    try:
        while True:
            if interactive:
                print("> ", end="", file=out, flush=True)
            line = stdin.readline()
            if not line:
                break
            if not interactive:
                print(f"> {line.rstrip()}", file=out)
            if not console.handle(line):
                break
    except KeyboardInterrupt:
        pass
    finally:
        console.close()
    return 0
