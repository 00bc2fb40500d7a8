"""Every sentence the bot says to a person, in one place.

Slack, the console and the tests all read these words from here. Each function takes plain
values and returns Slack mrkdwn; text that came from a cluster, a workflow or a webhook passes
through `outside` here (redacted, escaped, cut to fit), never raw; other outside text (git) is
escaped and clipped.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from bot.chat.mrkdwn import clip, escape, link, outside
from bot.names import shown

USAGE = (
    "*Usage*\n"
    "• `/deploy <app> <tag> <environment>`: deploy image `<tag>` of `<app>`, e.g. `/deploy whitehall v3232 integration`\n"
    "• `/deploy promote <app> [to] <environment>`: deploy to `<environment>` the tag the environment "
    "before it runs, e.g. `/deploy promote whitehall to staging`\n"
    "• `/deploy status <app>`: where every environment stands for `<app>`, e.g. `/deploy status whitehall`\n"
    "• `/deploy history <app> [<environment>]`: its last 10 deploys and how each ended\n"
    "• `/deploy stats [<app>]`: deploys, lead time, change failure rate and time to restore, per week\n"
    "• `/deploy link`, `/deploy unlink`, `/deploy whoami`: link your Slack account to your GitHub account, "
    "undo it, or see which GitHub login you act as\n"
    "• `/deploy <app> <tag> <environment> --force <reason…>`: the same, despite a freeze or a closed deploy window\n"
    "• `/deploy promote <app> [to] <environment> --force <reason…>`: promote despite a freeze, a closed window "
    "or a release that has not passed its tests\n"
    "• `/deploy rollback <app> <environment>`: back to the last earlier release that passed its tests there\n"
    "• `/deploy freeze <app|all> <environment|all> [<reason…>]`: stop deploys there until it is unfrozen\n"
    "• `/deploy unfreeze <app|all> <environment|all>`: lift that freeze\n"
    "• `/deploy help`: this message"
)


def clock_time(at: float | None) -> str:
    return time.strftime("%H:%M UTC", time.gmtime(at)) if at else ""


def commit_words(commit: str | None) -> str:
    return f" (commit `{commit[:7]}`)" if commit else ""


def person_prefix(mention: str | None) -> str:
    """A mention of the person who deployed, followed by a space, or nothing when CI did."""
    return f"{mention} " if mention else ""


# -- parsing the command ----------------------------------------------------------------------


def too_long(length: int) -> str:
    return f"That is too long for a deploy command ({length} characters)."


PROMOTE_NEEDS_APP_AND_ENV = "To promote, say which app and where to: `/deploy promote <app> [to] <environment>`."


def wrong_word_count(count: int) -> str:
    return f"I expected three words (`<app> <tag> <environment>`) but got {count}."


def takes_no_arguments(command: str) -> str:
    return f"`/deploy {command}` takes nothing after it."


NOT_A_COMMAND = "I don't know that command."
FORCE_NEEDS_REASON = "`--force` needs a reason after it, for the record: `--force <reason…>`."
ROLLBACK_NEEDS_APP_AND_ENV = "To roll back, say which app and where: `/deploy rollback <app> <environment>`."
FREEZE_NEEDS_SCOPE = (
    "To freeze, say which app (or `all`) and which environment (or `all`): "
    "`/deploy freeze <app|all> <environment|all> [<reason…>]`."
)
UNFREEZE_NEEDS_SCOPE = (
    "To unfreeze, say exactly the app (or `all`) and environment (or `all`) of the freeze: "
    "`/deploy unfreeze <app|all> <environment|all>`."
)


def unparsed(reason: str) -> str:
    return f"{reason}\n\n{USAGE}"


# -- refusals on the ack path -------------------------------------------------------------------


def unknown_environment(env: str, known: Iterable[str]) -> str:
    return f"I don't know the environment `{shown(env)}`. Environments: {', '.join(known)}."


def not_an_app_name(app: str) -> str:
    return (
        f"`{shown(app)}` is not an app name: app names are lower-case letters, digits and dashes, "
        "like `whitehall` or `publishing-api`."
    )


def not_an_image_tag(tag: str) -> str:
    return (
        f"`{shown(tag)}` is not an image tag: tags are letters, digits, `_`, `.` and `-` (up to 128), "
        "and start with a letter, digit or `_`, like `v3232` or a commit SHA."
    )


def charts_not_ready(reason: str) -> str:
    return f"I can't deploy right now: {reason}. Try again in a minute."


def _did_you_mean(suggestions: list[str]) -> str:
    return f" Did you mean {' or '.join(f'`{s}`' for s in suggestions)}?" if suggestions else ""


def no_such_app(app: str, env: str, suggestions: list[str], image_tags_path: str) -> str:
    return (
        f"There is no app called `{app}` in {env}.{_did_you_mean(suggestions)} "
        f"Apps are the files in `{image_tags_path}/{env}/` of the charts repository."
    )


def nothing_before(env: str) -> str:
    return (
        f"{env} is the first environment, so there is nothing to promote from. "
        f"Deploy a tag there with `/deploy <app> <tag> {env}`."
    )


def not_linked(user_id: str, admins_hint: str, can_link: bool = False) -> str:
    also = " Or link it yourself with `/deploy link`." if can_link else ""
    return (
        f"Your Slack account (`{shown(user_id, 20)}`) is not linked to a GitHub login, so I can't check "
        f"your GitHub team membership. {admins_hint}{also}"
    )


BUTTON_NOT_MINE = "That button is not one of mine, or it has been tampered with. Nothing was done."
BUTTON_STALE_ENVIRONMENTS = "That button no longer matches the configured environments. Nothing was done."
STORE_DOWN = "The bot's state store is unavailable right now, so nothing was done. Try again in a minute."
SOCKET_MODE_FAILED = "Something went wrong; nothing was done."  # a Slack request the bot could not handle


# -- acknowledgements -----------------------------------------------------------------------------


def deploying(app: str, tag: str, env: str) -> str:
    return f":hourglass_flowing_sand: Deploying *{app}* `{tag}` to *{env}*…"


def promoting(app: str, env: str, source: str) -> str:
    return f":hourglass_flowing_sand: Promoting *{app}* to *{env}* (the tag {source} runs)…"


# -- how a deploy ended, told to the requester ---------------------------------------------------------


def team_refusal(env: str, org: str, team: str, reason: str) -> str:
    return (
        f"You can't deploy to {env}: {reason}. Deploying to {env} needs active membership "
        f"of the GitHub team {org}/{team}. Nothing was done."
    )


def team_unreachable(login: str, env: str, org: str, team: str, reason: str) -> str:
    return (
        f"I couldn't check whether @{login} is in the GitHub team {org}/{team}: {reason}. "
        f"Deploying to {env} needs that team, so nothing was done (the bot fails closed). "
        "Try again in a minute."
    )


def nothing_to_promote(app: str, source_env: str) -> str:
    return f"{app} has no image tag in {source_env}, so there is nothing to promote."


def tests_not_passed(app: str, tag: str, source_env: str, state: str | None = None, to_env: str | None = None) -> str:
    """A promotion refused because the release is not ready where it comes from (`state`: its state code there)."""
    why = {
        "sync_failed": f"its sync failed in {source_env}",
        "degraded": f"it is degraded in {source_env}",
        "tests_failed": f"its tests failed in {source_env}",
    }.get(state or "", f"it has not passed its tests in {source_env}")
    hint = f" To promote it anyway, say why: `/deploy promote {app} {to_env} --force <reason…>`." if to_env else ""
    return f"{app} {tag} can't be promoted: {why}. Nothing was done.{hint}"


def too_many_new_cards(token_name: str, limit: int, window: float) -> str:
    """A webhook's 429: its token opened as many new cards as it may for now."""
    return (
        f"{token_name} has opened {limit} new cards in the last {window:.0f} seconds, as many as it may; "
        "nothing was done: retry later"
    )


def ci_promotion_tests_failed(tag: str, source_env: str, to_env: str) -> str:
    """A CI promotion (`/update-image-tag` beyond the token's own environment) of a release whose tests failed."""
    return f"{tag} failed its tests in {source_env}, so it may not be promoted to {to_env}"


def ci_promotion_untested(tag: str, source_env: str, to_env: str) -> str:
    return f"{tag} has not passed its tests in {source_env}, so it may not be promoted to {to_env}"


def not_ready_words(source_env: str, state: str | None) -> str:
    """What a forced promotion overrode, for the card's thread."""
    return {
        "sync_failed": f"a failed sync in {source_env}",
        "degraded": f"a degraded release in {source_env}",
        "tests_failed": f"failed tests in {source_env}",
    }.get(state or "", f"tests not passed in {source_env}")


PROMOTION_IN_PROGRESS = "Someone else is promoting this release at this moment. Nothing more was done."


def already_promoted(app: str, tag: str, env: str, by: str, done: bool, at: float) -> str:
    verb = "promoted" if done else "started promoting"
    return f"{app} {tag} was already {verb} to {env} by {by} at {clock_time(at)}. Nothing more was done."


def committed(app: str, tag: str, env: str, commit: str, alerts_channel: str) -> str:
    return (
        f":white_check_mark: Committed *{app}* `{tag}` to *{env}* (commit `{commit[:7]}`). "
        f"Argo CD will sync it; the card in #{alerts_channel} shows how it goes."
    )


def already_runs(app: str, tag: str | None, env: str) -> str:
    return f"{env} already runs *{app}* `{tag}`. Nothing was committed."


def deploy_refused(app: str, tag: str | None, env: str, reason: str) -> str:
    return f"I didn't deploy *{app}* `{tag}` to *{env}*: {escape(reason)}. Nothing was committed."


def deploy_failed(app: str, tag: str | None, env: str, reason: str) -> str:
    return (
        f":x: The deploy of *{app}* `{tag}` to *{env}* failed: {escape(reason)}. "
        "Nothing was committed; try again in a minute."
    )


def push_unknown(app: str, tag: str | None, env: str, reason: str) -> str:
    return (
        f":grey_question: I can't tell yet whether the deploy of *{app}* `{tag}` to *{env}* reached the charts "
        f"repository ({escape(reason)}). I'll check and tell you how it ended; don't deploy it again meanwhile."
    )


def not_done_after_restart(app: str, tag: str | None, env: str, why: str) -> str:
    return f":x: The deploy of *{app}* `{tag}` to *{env}* was not done: {why}. Nothing was committed."


TOO_OLD_AFTER_RESTART = "the bot restarted, and by then the request was over 10 minutes old"
OVERTAKEN_AFTER_RESTART = (
    "the bot restarted, and by then a newer deploy of the app to that environment had been asked for"
)
SOMETHING_WENT_WRONG = ":x: Something went wrong inside the bot; nothing was committed. Please try again."


# -- the card's thread -------------------------------------------------------------------------------


def requested_in_thread(mention: str, tag: str, env: str, commit: str | None) -> str:
    return f"{mention} requested {tag} in {env}{commit_words(commit)}."


def deploy_failed_in_thread(mention: str, tag: str, env: str, reason: str) -> str:
    return f":x: {mention} the deploy of {tag} to {env} failed: {escape(reason)}. Nothing was committed."


def sync_failed(person: str | None, app: str, tag: str, env: str, message: str, argocd_url: str, application: str):
    return (
        f":red_circle: {person_prefix(person)}the sync of *{app}* `{tag}` failed in "
        f"*{env}*{_said(message)}. {link(argocd_url, f'Open {application} in Argo CD')}"
    )


def degraded(person: str | None, app: str, tag: str, env: str, message: str, argocd_url: str, application: str):
    return (
        f":warning: {person_prefix(person)}*{app}* `{tag}` is Degraded in *{env}*{_said(message)}. "
        f"{link(argocd_url, f'Open {application} in Argo CD')}"
    )


MAX_FAILURES_SHOWN = 6  # 6 x 300 characters: the reply stays within a section block's 3,000


def tests_failed(
    person: str | None,
    suite: str,
    status: str,
    app: str,
    tag: str,
    env: str,
    failures: list[str],
    workflow_url: str | None,
    argocd_url: str,
) -> str:
    listed = "".join(f"\n• {outside(f, 300)}" for f in failures[:MAX_FAILURES_SHOWN])
    run = f"{link(workflow_url, 'Workflow run')} · " if workflow_url else ""
    return (
        f":x: {person_prefix(person)}{outside(suite, 40)} tests {status.lower()} for *{app}* "
        f"`{tag}` in *{env}*{listed}\n{run}{link(argocd_url, 'Argo CD')}"
    )


def tests_restarted(mention: str, tag: str, env: str, workflow: str) -> str:
    return f":arrows_counterclockwise: {mention} started the tests of {tag} in {env} again (workflow `{workflow}`)."


RETRY_TESTS_LABEL = "Retry the tests"


def cannot_retry_here(env: str) -> str:
    return f"I can't resubmit tests in `{shown(env)}`: the bot has no Argo Workflows token there. Nothing was done."


def tests_already_retried(app: str, tag: str, env: str, by: str) -> str:
    return f"The tests of *{app}* `{tag}` in *{env}* were already started again by {by}. Nothing more was done."


def retry_failed(app: str, tag: str, env: str, reason: str) -> str:
    return f":x: I couldn't resubmit the tests of *{app}* `{tag}` in *{env}*: Argo Workflows {outside(reason, 300)}."


def tests_retried(app: str, tag: str, env: str) -> str:
    return f":arrows_counterclockwise: The tests of *{app}* `{tag}` in *{env}* are running again."


def team_failure(app: str, tag: str, env: str, what: str, alerts_channel: str, card) -> str:
    if card is not None:
        where = link(f"https://slack.com/archives/{card.channel}/p{card.ts.replace('.', '')}", "the card's thread")
    else:
        where = f"the card in #{alerts_channel}"
    return f":rotating_light: *{app}* `{tag}`: {what} in *{env}*. See {where} for why."


SYNCED_NO_TESTS = "synced (no tests)"


def nobody_follows(app: str, env: str) -> str:
    return (
        f"No Argo CD application in *{env}* follows `{app}`, so nothing will report how this release syncs "
        f"there; it will not be flagged as stuck."
    )


def stuck(person: str | None, app: str, tag: str, env: str, minutes: int, argocd_url: str | None) -> str:
    argocd = f" {link(argocd_url, 'Check Argo CD')}" if argocd_url else ""
    return (
        f":hourglass: {person_prefix(person)}*{app}* `{tag}` was deployed to *{env}* more than {minutes} minutes "
        f"ago and Argo CD has not reported a sync outcome yet.{argocd}"
    )


def _said(message: str) -> str:
    return f": {outside(message, 1500)}" if message and message.strip() else ""


# -- the card ------------------------------------------------------------------------------------------


def card_heading(app: str, tag: str) -> str:
    return f"Deploy of *{app}* `{tag}`"


ALREADY_RUNS_THIS_RELEASE = "already runs this release"
NOT_DEPLOYED = "not deployed"
AUTOMATIC_PROMOTION_BY = "CI (automatic promotion)"
PROMOTED_BY_CI = "CI automatically"


def next_already_runs(to_env: str) -> str:
    return f"{to_env} already runs this release"


def promoted_to(to_env: str, by: str, at: float) -> str:
    return f"promoted to {to_env} by {by} at {clock_time(at)}"


def promote_label(to_env: str) -> str:
    return f"Promote to {to_env}"


def confirm_production(app: str, tag: str) -> str:
    return f"This deploys *{app}* `{tag}` to production."


# -- status, history and stats ----------------------------------------------------------

STATUS_NEEDS_APP = "Say which app: `/deploy status <app>`, e.g. `/deploy status whitehall`."
HISTORY_NEEDS_APP = "Say which app, and optionally which environment: `/deploy history <app> [<environment>]`."
STATS_TAKES_ONE_APP = "Stats take at most one app: `/deploy stats` for every app, or `/deploy stats <app>`."
LOOKUP_STORE_DOWN = "I can't read the bot's records right now: the state store is unavailable. Try again in a minute."
STATUS_EXTRA_FAILED = "Some checks of this environment (freezes, deploy windows) failed; see the bot's log."
LOOKUP_FAILED = ":x: Something went wrong inside the bot while looking that up. Please try again."


def lookup_charts_not_ready(reason: str) -> str:
    return f"I can't look that up right now: {reason}. Try again in a minute."


def unknown_app(app: str, suggestions: list[str], image_tags_path: str) -> str:
    return (
        f"There is no app called `{shown(app)}` in any environment.{_did_you_mean(suggestions)} "
        f"Apps are the files in `{image_tags_path}/<environment>/` of the charts repository."
    )


def looking_up_status(app: str) -> str:
    return f":mag: Looking up where *{app}* stands in every environment…"


def looking_up_history(app: str, env: str | None) -> str:
    return f":mag: Looking up the last deploys of *{app}*{f' to *{env}*' if env else ''}…"


def looking_up_stats(app: str | None, last_env: str) -> str:
    return f":mag: Working out the delivery figures of {f'*{app}*' if app else 'every app'} in *{last_env}*…"


def day_and_time(at: float | None) -> str:
    """`29 Nov 10:32 UTC`"""
    if not at:
        return "an unknown time"
    moment = datetime.fromtimestamp(at, UTC)
    return f"{moment.day} {moment:%b %H:%M} UTC"


def duration(seconds: float | None) -> str:
    """`45s`, `12m`, `3h 20m`, `2d 4h`: short and rounded down to its two largest units."""
    if seconds is None:
        return "—"
    whole = max(0, int(seconds))
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h" if hours else f"{days}d"
    if hours:
        return f"{hours}h {minutes}m" if minutes else f"{hours}h"
    if minutes:
        return f"{minutes}m"
    return f"{secs}s"


def actor_words(actor: Any) -> str:
    """Who an audit record or a release says acted: a mention, @login, or CI."""
    if isinstance(actor, dict):
        if actor.get("slack"):
            return f"<@{actor['slack']}>"
        if actor.get("github"):
            return f"@{actor['github']}"
    return "CI"


def _seconds_of(at: Any) -> float | None:
    try:
        return datetime.fromisoformat(str(at).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def argocd_words(sight: Any, charts_tag: str | None, env: str) -> str:
    if sight.no_token:
        return f"Argo CD: not read (the bot has no `ARGOCD_TOKEN_{env.upper().replace('-', '_')}`)"
    if sight.problem:
        return f"Argo CD didn't answer: {outside(sight.problem, 200)}"
    if not sight.apps:
        return "Argo CD: no application for this app"
    shown_apps = []
    for state in sight.apps[:5]:
        words = f"{outside(state.name, 80)} {outside(state.phase or 'not synced yet', 40)}, {outside(state.health or 'health unknown', 40)}"
        if state.image_tag and state.image_tag != charts_tag:
            words += f" (runs `{outside(state.image_tag, 60)}`)"
        shown_apps.append(words)
    more = f" and {len(sight.apps) - 5} more" if len(sight.apps) > 5 else ""
    return "Argo CD: " + "; ".join(shown_apps) + more


def deployed_words(status: Any) -> str:
    if status.book_problem:
        return f"Who deployed it: unknown ({status.book_problem})"
    entry, record = status.entry, status.deployed
    if entry is None and record is None:
        return f"The bot has no record of deploying `{status.tag}` here"
    if entry is not None and entry.requester is not None:
        who = AUTOMATIC_PROMOTION_BY if entry.automatic else (entry.requester.mention)
    elif record is not None:
        who = actor_words(record.get("actor"))
    else:
        who = None
    parts = []
    if who is None:
        parts.append("Deployed without the bot")
    elif record is not None:
        parts.append(f"Deployed by {who} on {day_and_time(_seconds_of(record.get('at')))}")
    else:
        parts.append(f"Deployed by {who}")
    if entry is not None and entry.state is not None:
        parts.append(f"{entry.state.words} ({day_and_time(entry.at)})")
    if entry is None or entry.state is None or entry.state.code not in ("tests_passed", "tests_failed"):
        parts.append("no test outcome yet")
    return " · ".join(parts)


def gap_words(gap: Any) -> str:
    if not gap.earlier_tag or not gap.later_tag:
        return f"{gap.later} and {gap.earlier}: nothing to compare (one has no image tag)"
    if gap.earlier_tag == gap.later_tag:
        return f"{gap.later} runs the same tag as {gap.earlier}"
    if gap.no_token:
        return f"{gap.later} and {gap.earlier}: commits between them not counted (the bot has no `GITHUB_TOKEN`)"
    if gap.problem:
        return f"GitHub didn't answer: {escape(gap.problem)} (commits between {gap.earlier} and {gap.later})"
    compared = gap.comparison
    page = link(compared.html_url, "compare on GitHub")
    if compared.ahead_by == 0 and compared.behind_by == 0:
        return f"{gap.later} and {gap.earlier} run the same commit · {page}"
    if compared.ahead_by == 0:
        return f"{gap.later} is {_plural(compared.behind_by, 'commit')} ahead of {gap.earlier} · {page}"
    diverged = f" (and has {_plural(compared.behind_by, 'commit')} {gap.earlier} lacks)" if compared.behind_by else ""
    return f"{gap.later} is {_plural(compared.ahead_by, 'commit')} behind {gap.earlier}{diverged} · {page}"


def status_report(status: Any) -> str:
    lines = [f"*{status.app}*: where it stands"]
    for number, env in enumerate(status.envs):
        tag = f"`{escape(clip(env.tag, 130))}`" if env.tag else "no image-tag file"
        lines.append(f"• *{env.env}*: {tag}")
        lines.append(f"      {argocd_words(env.argocd, env.tag, env.env)}")
        if env.tag:
            lines.append(f"      {deployed_words(env)}")
        lines.extend(f"      {line}" for line in env.extra)
        if env.extra_failed:
            lines.append(f"      {STATUS_EXTRA_FAILED}")
        if number < len(status.gaps):
            lines.append(f"   ↓ {gap_words(status.gaps[number])}")
    return "\n".join(lines)


HISTORY_ENDINGS = {
    "committed": "committed, no sync outcome yet",
    "syncing": "committed · syncing",
    "synced": "committed · synced",
    "sync_failed": "committed · sync failed",
    "degraded": "committed · degraded",
    "tests_passed": "committed · synced · tests passed",
    "tests_failed": "committed · synced · tests failed",
    "failed": "failed",
    "refused": "refused",
    "unchanged": "nothing to do: it already ran that tag",
    "held": "held",
}
HISTORY_EMOJI = {
    "tests_passed": ":white_check_mark:",
    "synced": ":large_blue_circle:",
    "syncing": ":arrows_counterclockwise:",
    "committed": ":hourglass_flowing_sand:",
    "unchanged": ":white_circle:",
    "held": ":double_vertical_bar:",
}


def _reason_words(reason: str) -> str:
    """A recorded reason, shortened and made safe; mentions stay mentions."""
    first = clip(" ".join(reason.split()), 160)
    return re.sub(r"&lt;@([UW][A-Z0-9]+)&gt;", r"<@\1>", escape(first))


def history_report(app: str, env: str | None, deploys: list[Any]) -> str:
    where = f" to *{env}*" if env else ""
    if not deploys:
        return f"The bot has no record of a deploy of *{app}*{where}."
    lines = [f"The last {_plural(len(deploys), 'deploy')} of *{app}*{where}, newest first:"]
    for deploy in deploys:
        ended = HISTORY_ENDINGS.get(deploy.ended, escape(deploy.ended))
        if deploy.reason and deploy.ended in ("failed", "refused", "held"):
            ended += f": {_reason_words(deploy.reason)}"
        emoji = HISTORY_EMOJI.get(deploy.ended, ":x:")
        tag = f"`{escape(clip(deploy.tag, 60))}`" if deploy.tag else "(no tag)"
        env_words = escape(clip(deploy.env, 40)) if deploy.env else "?"
        lines.append(
            f"{emoji} {tag} to *{env_words}* by {actor_words(deploy.actor)} on "
            f"{day_and_time(_seconds_of(deploy.at))}: {ended}"
        )
    return "\n".join(lines)


def _period_words(period: Any) -> str:
    rate = (
        "—"
        if period.failure_rate is None
        else f"{round(period.failure_rate * 100)}% ({period.failures} of {period.deploys})"
    )  # noqa: E501
    restore = duration(period.time_to_restore)
    if period.not_restored:
        restore += f" ({period.not_restored} not restored yet)"
    return (
        f"{_plural(period.deploys, 'deploy')} · lead time {duration(period.lead_time)} · "
        f"change failure rate {rate} · time to restore {restore}"
    )


def _period_dates(period: Any) -> str:
    start, end = datetime.fromtimestamp(period.start, UTC), datetime.fromtimestamp(period.end, UTC)
    return f"{start.day} {start:%b}–{end.day} {end:%b}"


def stats_report(figures: Any) -> str:
    who = f"*{figures.app}*" if figures.app else "every app"
    lines = [f"Delivery figures of {who} in *{figures.last_env}*, the last 4 weeks (7-day periods ending now, UTC):"]
    for period in reversed(figures.periods):
        lines.append(f"• {_period_dates(period)}: {_period_words(period)}")
    lines.append(f"• *All 4 weeks*: {_period_words(figures.total)}")
    if figures.oldest_record is None:
        lines.append("The audit trail holds no deploys for this yet.")
    elif figures.oldest_record > figures.total.start:
        lines.append(
            f"The audit trail goes back only to {day_and_time(figures.oldest_record)}, so earlier weeks may be incomplete."
        )
    lines.append(
        f"_Lead time: median from a release's first deploy anywhere to its arrival in {figures.last_env}. "
        f"Change failure rate: deploys to {figures.last_env} whose sync failed, turned Degraded, failed tests or "
        "were rolled back, over all deploys there. Time to restore: median from such a failure to the next "
        "healthy release there (synced and Healthy, or tests passed)._"
    )
    return "\n".join(lines)


# -- linking a Slack account to GitHub ------------------------------------------------

LINKING_OFF = (
    "Linking is off: the bot has no GitHub OAuth app. To turn it on, a GOV.UK platform engineer creates "
    "an OAuth app on GitHub with device flow enabled and sets `GITHUB_OAUTH_CLIENT_ID` to its client ID. "
    "Until then, ask them to add you to the `users` map in BOT_CONFIG."
)
LINK_GITHUB_UNREACHABLE = (
    "GitHub did not answer (or answered with an error) when I asked it for a code, so nothing was linked. "
    "Try `/deploy link` again in a few minutes."
)
LINK_GITHUB_DOWN_WHILE_WAITING = (
    "GitHub stopped answering while I was waiting for you to enter the code, so nothing was linked. "
    "Try `/deploy link` again in a few minutes."
)
LINK_USER_UNREACHABLE = (
    "You approved the code, but GitHub did not tell me which account you are (its API failed), so nothing "
    "was linked. Try `/deploy link` again in a few minutes."
)
LINK_GITHUB_JUNK = (
    "GitHub answered with something I could not understand, so nothing was linked. "
    "Try `/deploy link` again; if it keeps happening, tell the GOV.UK platform team."
)
LINK_EXPIRED = (
    "The code expired before it was entered on GitHub, so nothing was linked. Run `/deploy link` again for a new code."
)
LINK_DENIED = "The request was cancelled on GitHub (access denied), so nothing was linked."
LINK_DEVICE_FLOW_DISABLED = (
    "The bot's GitHub OAuth app does not have device flow enabled, so linking cannot work yet. "
    "Ask a GOV.UK platform engineer to tick *Enable Device Flow* in the app's settings."
)
LINK_BAD_CLIENT_ID = (
    "GitHub does not recognise the bot's OAuth app (`GITHUB_OAUTH_CLIENT_ID`), so linking cannot work. "
    "Ask a GOV.UK platform engineer to check the setting."
)
LINK_STOPPED = (
    "The bot restarted while waiting for you to enter the code, so nothing was linked. Run `/deploy link` again."
)
SOMETHING_WENT_WRONG_LINKING = ":x: Something went wrong inside the bot while linking; nothing was linked. Try again."
LINK_REPLACED = "You started linking again, so this code no longer counts: use the newest one."
LINK_BUSY = "Too many people are linking their accounts at this moment. Try `/deploy link` again in a minute."
LINK_STORE_DOWN = "The bot's state store is unavailable, so nothing was linked. Try again in a minute."


def link_github_refused(error: str) -> str:
    return f"GitHub refused the link (`{shown(error, 60)}`), so nothing was linked. Run `/deploy link` again."


def link_instructions(verification_uri: str, user_code: str, expires_in: int) -> str:
    minutes = max(1, expires_in // 60)
    return (
        f"To link your Slack account to GitHub, open {verification_uri} and enter the code *{user_code}* "
        f"(it expires in {minutes} minutes). I'll tell you here when it is done.\n"
        "Only enter a code you asked for yourself: whoever enters a code gives its GitHub account to "
        "the Slack user who asked for it."
    )


def linked(login: str, origin_note: str) -> str:
    return f":white_check_mark: Your Slack account is now linked to GitHub @{login}.{origin_note}"


def link_overridden_by_config(config_login: str) -> str:
    return f" While the bot's `users` map names you as @{config_login}, you still act as @{config_login}."


def login_taken(login: str) -> str:
    return (
        f"GitHub @{login} is already linked to another Slack user, so nothing was linked. "
        "They must run `/deploy unlink` first (or ask a GOV.UK platform engineer)."
    )


def login_in_config(login: str) -> str:
    return (
        f"GitHub @{login} belongs to another Slack user in the bot's `users` map, so nothing was linked. "
        "Ask a GOV.UK platform engineer if that map is wrong."
    )


def link_overruled_by_config(login: str) -> str:
    return (
        f"Your link to GitHub @{login} no longer counts: the bot's `users` map now gives @{login} to another "
        "Slack user. Run `/deploy unlink`, or ask a GOV.UK platform engineer if the map is wrong."
    )


def link_announcement(mention: str, login: str) -> str:
    return f"{mention} is now linked to GitHub @{login}"


def unlinked(login: str) -> str:
    return f"Your Slack account is no longer linked to GitHub @{login}."


NOTHING_TO_UNLINK = "Your Slack account is not linked to GitHub, so there was nothing to unlink."


def unlinked_but_config(config_login: str) -> str:
    return (
        f" The bot's `users` map still names you as @{config_login}; only a GOV.UK platform engineer can change that."
    )


def whoami_config(login: str) -> str:
    return f"You act as GitHub @{login}, from the bot's `users` map (config)."


def whoami_link(login: str, at: float) -> str:
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(at)) if at else "earlier"
    return f"You act as GitHub @{login}, from your link (made {when} with `/deploy link`)."


def whoami_nobody(can_link: bool) -> str:
    how = "Run `/deploy link` to link your GitHub account." if can_link else LINKING_OFF
    return f"Your Slack account is not linked to a GitHub login, so you cannot deploy yet. {how}"


# -- approvals ------------------------------------------------------------------------

REQUEST_APPROVAL_LABEL = "Ask a team member to approve"
APPROVE_LABEL = "Approve"
DENY_LABEL = "Deny"
OR_ASK_FOR_APPROVAL = (
    "\nOr ask a member of that team to approve this deploy: the button posts a request in the alerts channel."
)
APPROVAL_BUTTON_NOT_YOURS = "That button belongs to the person whose deploy was refused. Nothing was done."
APPROVAL_ALREADY_ASKED = "You have already asked for an approval of this deploy. Nothing more was done."
APPROVAL_GONE = "That approval request no longer exists (requests are kept for 7 days). Nothing was done."


def _deploy_words(app: str, tag: str | None, env: str, source_env: str | None = None) -> str:
    came = f" (promoted from {source_env})" if source_env else ""
    return f"*{app}* `{tag or '?'}` to *{env}*{came}"


def approval_notice(
    mention: str,
    login: str | None,
    app: str,
    tag: str | None,
    env: str,
    source_env: str | None,
    org: str,
    team: str,
    *,
    required: bool,
    expires_at: float,
) -> str:
    why = (
        f"{env} needs a second member of {org}/{team} to approve every deploy"
        if required
        else f"they are not an active member of {org}/{team}"
    )
    return (
        f":raised_hand: {mention} (GitHub @{login}) asks to deploy {_deploy_words(app, tag, env, source_env)}: {why}. "
        f"An active member of *{org}/{team}* other than them can approve or deny it, "
        f"until {clock_time(expires_at)} (30 minutes)."
    )


def approval_outcome(state: str, by: str | None, at: float | None) -> str:
    if state == "approved":
        return f":white_check_mark: Approved by {by} at {clock_time(at)}; deploying, with every check made again."
    if state == "denied":
        return f":no_entry: Denied by {by} at {clock_time(at)}; nothing was deployed."
    return f":hourglass: Expired at {clock_time(at)}: nobody decided within 30 minutes; nothing was deployed."


def approval_requested(
    app: str, tag: str | None, env: str, channel: str, org: str, team: str, *, required: bool
) -> str:
    why = f"{env} needs a second member of {org}/{team} to approve every deploy, so n" if required else "N"
    return (
        f"{why}othing is committed yet: I have asked for an approval of {_deploy_words(app, tag, env)} in "
        f"#{channel}. An active member of {org}/{team} other than you must approve it within 30 minutes; "
        "I'll tell you here what they decide."
    )


def approval_own_request(decision: str) -> str:
    verb = "approve" if decision == "approved" else "deny"
    return f"You cannot {verb} your own request: another active member of the team must decide it. Nothing was done."


def approval_already(state: str, by: str | None, at: float | None) -> str:
    if state == "expired":
        return f"That request expired at {clock_time(at)} (after 30 minutes). Nothing more was done."
    return f"That request was already {state} by {by} at {clock_time(at)}. Nothing more was done."


def approval_expired_to_decider(app: str, tag: str | None, env: str) -> str:
    return (
        f"The request to deploy {_deploy_words(app, tag, env)} is more than 30 minutes old and has expired, "
        "so nothing was done. The requester can ask again."
    )


def approval_not_allowed(org: str, team: str, reason: str) -> str:
    return (
        f"Only an active member of {org}/{team} can approve or deny this request, and GitHub says no ({reason}). "
        "Nothing was done."
    )


def approval_decided_to_decider(state: str, app: str, tag: str | None, env: str) -> str:
    if state == "approved":
        return f"You approved {_deploy_words(app, tag, env)}; it is being deployed, with every check made again."
    return f"You denied {_deploy_words(app, tag, env)}; nothing will be deployed."


def approval_approved_to_requester(app: str, tag: str | None, env: str, by: str) -> str:
    return (
        f"{by} approved your deploy of {_deploy_words(app, tag, env)}; deploying it now, with every check made again."
    )


def approval_denied_to_requester(app: str, tag: str | None, env: str, by: str) -> str:
    return f"{by} denied your deploy of {_deploy_words(app, tag, env)}; nothing was deployed."


def approval_expired_to_requester(app: str, tag: str | None, env: str) -> str:
    return (
        f"Nobody approved your deploy of {_deploy_words(app, tag, env)} within 30 minutes, so the request "
        "expired and nothing was deployed. Ask again if it is still needed."
    )


# -- freezes, deploy windows and held deploys -------------------------------------------


def weekday_and_time(at: float) -> str:
    return time.strftime("%a %d %b %H:%M UTC", time.gmtime(at))


def scope_words(app: str, env: str) -> str:
    """`whitehall in staging`, `every app in staging`, `whitehall in every environment`…"""
    apps = "every app" if app == "all" else app
    envs = "every environment" if env == "all" else env
    return f"{apps} in {envs}"


def freeze_words(mention: str, login: str | None, at: float, reason: str) -> str:
    who = f"{mention} (@{login})" if login else mention
    why = f": {escape(clip(reason, 300))}" if reason else " (no reason given)"
    return f"{who} on {weekday_and_time(at)}{why}"


def override_hint(command: str) -> str:
    return f"To deploy anyway, say why: `{command} --force <reason…>` (the override is announced in the channel)."


def frozen_refusal(app: str, env: str, freezes: list[str], command: str) -> str:
    listed = "".join(f"\n• frozen by {words}" for words in freezes)
    return f":no_entry: *{app}* is frozen in *{env}*, so nothing was done.{listed}\n{override_hint(command)}"


def window_refusal(env: str, opens: str | None, command: str) -> str:
    when = f"The next window opens {opens}." if opens else "No window opens in the coming year."
    return f":no_entry: *{env}* is outside its deploy windows, so nothing was done. {when}\n{override_hint(command)}"


def override_in_thread(mention: str, tag: str, env: str, what: str, reason: str) -> str:
    return f":warning: {mention} overrode {what} to deploy {tag} to {env}: {escape(clip(reason, 300))}"


def frozen_by_words(scopes: list[str]) -> str:
    return "the freeze of " + " and ".join(scopes)


def window_words(env: str) -> str:
    return f"the deploy window of {env}"


def held_in_thread(who: str, tag: str, env: str, why: str) -> str:
    return f":double_vertical_bar: {who}'s deploy of {tag} to {env} is held, not lost: {why}. Nothing was committed."


def held_because_frozen(env: str) -> str:
    return f"{env} is frozen; it is offered here when the freeze is lifted"


def held_because_window(env: str, opens: str | None) -> str:
    when = f" (next: {opens})" if opens else ""
    return f"{env} is outside its deploy windows; it goes out by itself when one opens{when}"


def held_superseded(tag: str, env: str, newer: str) -> str:
    return f":fast_forward: The held deploy of {tag} to {env} was superseded by {newer}, which is held instead."


def held_offer(tag: str, env: str) -> str:
    return f":arrow_forward: {env} is no longer frozen. The held deploy of {tag} to {env} can go out now: nothing deploys it by itself."


def deploy_held_label(tag: str, env: str) -> str:
    return f"Deploy held {tag} to {env}"


def hold_released_in_thread(tag: str, env: str) -> str:
    return f":arrow_forward: The deploy window of {env} is open: the held deploy of {tag} is going out."


def held_answer(app: str, tag: str, env: str) -> str:
    return f"The deploy of *{app}* `{tag}` to *{env}* is held; its card says why."


def freeze_announcement(mention: str, app: str, env: str, reason: str) -> str:
    why = f": {escape(clip(reason, 300))}" if reason else ""
    return f":snowflake: {mention} froze deploys of {scope_words(app, env)}{why}"


def unfreeze_announcement(mention: str, app: str, env: str) -> str:
    return f":sunny: {mention} lifted the freeze of {scope_words(app, env)}."


def frozen_reply(app: str, env: str, replaced: bool) -> str:
    again = " (replacing the earlier freeze of that scope)" if replaced else ""
    return (
        f":snowflake: Froze {scope_words(app, env)}{again}. People's deploys there are refused unless forced; "
        f"CI's and automatic ones are held. Lift it with `/deploy unfreeze {app} {env}`."
    )


def unfrozen_reply(app: str, env: str, still: list[str]) -> str:
    if not still:
        return f":sunny: Lifted the freeze of {scope_words(app, env)}."
    listed = "".join(f"\n• {words}" for words in still)
    return f":sunny: Lifted the freeze of {scope_words(app, env)}. These freezes still cover some of it:{listed}"


def still_frozen_words(app: str, env: str, by: str) -> str:
    return f"{scope_words(app, env)}, frozen by {by}"


def no_such_freeze(app: str, env: str, others: list[str]) -> str:
    listed = "".join(f"\n• {words}" for words in others)
    hint = f" These freezes cover some of it; unfreeze each by its own scope:{listed}" if others else ""
    return f"There is no freeze of exactly {scope_words(app, env)}, so nothing was lifted.{hint}"


def freeze_team_refusal(verb: str, env: str, org: str, team: str, reason: str) -> str:
    return f"You can't {verb} {env}: {reason}. That needs active membership of the GitHub team {org}/{team}. Nothing was done."


def not_an_app_anywhere(app: str) -> str:
    return f"There is no app called `{shown(app)}` in any environment. Say `all` for every app."


def freezing(app: str, env: str) -> str:
    return f":hourglass_flowing_sand: Freezing {scope_words(app, env)}…"


def unfreezing(app: str, env: str) -> str:
    return f":hourglass_flowing_sand: Lifting the freeze of {scope_words(app, env)}…"


# -- rollback ---------------------------------------------------------------------------


def rolling_back(app: str, env: str) -> str:
    return f":hourglass_flowing_sand: Rolling back *{app}* in *{env}*…"


def rollback_label(tag: str) -> str:
    return f"Roll back to {tag}"


def confirm_rollback(app: str, env: str, tag: str) -> str:
    return (
        f"This rolls *{app}* in *{env}* back to `{tag}` (or an earlier release that passed there) and freezes it there."
    )


def nothing_to_roll_back_to(app: str, env: str, current: str | None) -> str:
    now = f" (it runs `{current}`)" if current else ""
    return (
        f"I found no earlier release of *{app}* to roll back to in *{env}*{now}: none passed its tests there "
        "as far as the bot knows, and the charts repository's history has no other tag. Nothing was committed."
    )


def rolled_back_in_thread(mention: str, old: str, tag: str, env: str) -> str:
    return (
        f":rewind: {mention} rolled {env} back from {old} to {tag}. It stays frozen there until someone unfreezes it."
    )


def rolled_back_reason(old: str) -> str:
    return f"rolled back from {old}"


# -- lines under an environment on the card ----------------------------------------------------------


def held_card_line(frozen: bool) -> str:
    why = "frozen" if frozen else "outside its deploy window"
    return f":double_vertical_bar: a deploy here is held ({why}); see the thread"


HELD_SUPERSEDED_CARD_LINE = ":fast_forward: its held deploy here was superseded by a newer tag"
HELD_OFFERED_CARD_LINE = ":arrow_forward: its held deploy here can go out now: see the thread"
HELD_RELEASED_CARD_LINE = ":arrow_forward: its held deploy here went out when the window opened"


def rolled_back_card_line(tag: str, mention: str) -> str:
    return f":rewind: rolled back to {tag} by {mention}"


STATUS_WINDOW_OPEN = "Deploy window: open now"


def status_frozen(scope: str, words: str) -> str:
    return f":snowflake: Frozen ({scope}) by {words}"


def status_window_closed(opens: str | None) -> str:
    return f"Deploy window: closed; it opens {opens}" if opens else "Deploy window: closed, and no window opens soon"
