"""`python -m bot serve | console | check-config | manifest --url URL | audit`."""

from __future__ import annotations

import argparse
import logging
import os
import sys

from bot.logs import configure_logging


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    configure_logging()
    if argv[:1] == ["audit"]:  # its own parser: a bad argument is one line and exit 2, not argparse's usage
        from bot.audit import command as audit_command

        return audit_command(argv[1:])
    parser = argparse.ArgumentParser(prog="python -m bot", description="govuk-deploy-bot")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("serve", help="HTTP server for Slack and webhooks, plus the scheduler")
    commands.add_parser("console", help="local sandbox on embedded defaults: no Slack, no network, no Redis")
    commands.add_parser("check-config", help="load and validate configuration; exit 0 when it is usable")
    manifest = commands.add_parser("manifest", help="print the Slack app manifest")
    manifest.add_argument("--url", help="the bot's public base URL (not needed with --socket-mode)")
    manifest.add_argument(
        "--socket-mode", action="store_true", help="Slack's requests over Socket Mode (SLACK_APP_TOKEN): no URLs"
    )
    commands.add_parser("audit", help="print audit records: [--app APP] [--env ENV] [--since ISO8601] [--limit N]")
    args = parser.parse_args(argv)

    if args.command == "manifest":
        from bot.manifest import manifest as build_manifest

        try:
            print(build_manifest(args.url, socket_mode=args.socket_mode), end="")
        except ValueError as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
        return 0
    if args.command == "console":
        from handlers.console import run_console

        if not os.environ.get("LOG_LEVEL"):
            logging.getLogger().setLevel(logging.WARNING)  # the console prints what a person would read; logs only warn

        return run_console(sys.stdin, sys.stdout)

    from bot.config import ConfigError, load_settings

    try:
        settings = load_settings()
    except ConfigError as error:
        for problem in error.problems:
            print(f"config error: {problem}", file=sys.stderr)
        return 1
    if args.command == "check-config":
        names = ", ".join(settings.environment_names)
        print(f"Configuration is valid: environments {names}; {len(settings.users)} linked users.")
        windowed = [env.name for env in settings.environments if env.deploy_windows]
        if windowed:
            print(f"Deploy windows in {', '.join(windowed)} ({settings.timezone}).")
        if settings.release_url:
            print(f"Every committed deploy is recorded in the Release app at {settings.release_url}.")
        if settings.team_channels_url:
            print(f"Team channels are read from {settings.team_channels_url}.")
        if settings.slack_app_token:
            print("Socket Mode is on (SLACK_APP_TOKEN): Slack's requests also arrive over a WebSocket per replica.")
        if settings.redis_url.reveal().startswith("memory://"):
            print("warning: REDIS_URL is memory:// (one replica only, state lost on restart)")
        return 0

    from bot.gitops.charts import ChartsError
    from bot.intervals import intervals_from_environment
    from handlers.server import serve

    try:
        intervals = intervals_from_environment(os.environ)  # tests' tuning knobs; unset in production
    except ValueError as error:
        print(f"config error: {error}", file=sys.stderr)
        return 1
    try:
        serve(settings, intervals)
    except ChartsError as error:
        print(f"error: cannot start: {error}", file=sys.stderr)
        return 1
    except OSError as error:
        print(f"error: cannot start: {error.strerror or error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
