"""Every sentence the bot says to a person, in one place.

Slack, the console and the tests all read these words from here. Each function takes plain
values and returns Slack mrkdwn; text that came from outside (Argo CD, test runs, git) is
escaped and clipped by the caller's values passing through `escape`/`clip` here, never raw.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from bot.chat.mrkdwn import clip, escape, link
from bot.names import shown

USAGE = (
    "*Usage*\n"
    "• `/deploy <app> <tag> <environment>`: deploy image `<tag>` of `<app>`, e.g. `/deploy whitehall v3232 integration`\n"
    "• `/deploy promote <app> [to] <environment>`: deploy to `<environment>` the tag the environment "
    "before it runs, e.g. `/deploy promote whitehall to staging`\n"
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


def no_such_app(app: str, env: str, suggestions: list[str], image_tags_path: str) -> str:
    hint = f" Did you mean {' or '.join(f'`{s}`' for s in suggestions)}?" if suggestions else ""
    return (
        f"There is no app called `{app}` in {env}.{hint} "
        f"Apps are the files in `{image_tags_path}/{env}/` of the charts repository."
    )


def nothing_before(env: str) -> str:
    return (
        f"{env} is the first environment, so there is nothing to promote from. "
        f"Deploy a tag there with `/deploy <app> <tag> {env}`."
    )


def not_linked(user_id: str, admins_hint: str) -> str:
    return (
        f"Your Slack account (`{shown(user_id, 20)}`) is not linked to a GitHub login, so I can't check "
        f"your GitHub team membership. {admins_hint}"
    )


BUTTON_NOT_MINE = "That button is not one of mine, or it has been tampered with. Nothing was done."
BUTTON_STALE_ENVIRONMENTS = "That button no longer matches the configured environments. Nothing was done."
STORE_DOWN = "The bot's state store is unavailable right now, so nothing was done. Try again in a minute."


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


def not_ready_words(source_env: str, state: str | None) -> str:
    """What a forced promotion overrode, for the card's thread."""
    return {
        "sync_failed": f"a failed sync in {source_env}",
        "degraded": f"a degraded release in {source_env}",
        "tests_failed": f"failed tests in {source_env}",
    }.get(state or "", f"tests not passed in {source_env}")


PROMOTION_STORE_DOWN = "The state store is unavailable, so I can't promote safely right now. Nothing was done."
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


STORE_DOWN_DURING_DEPLOY = "The bot's state store is unavailable, so nothing was done. Try again in a minute."
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
    listed = clip("".join(f"\n• {escape(clip(f, 300))}" for f in failures), 2500)
    run = f"{link(workflow_url, 'Workflow run')} · " if workflow_url else ""
    return (
        f":x: {person_prefix(person)}{escape(suite)} tests {status.lower()} for *{app}* "
        f"`{tag}` in *{env}*{listed}\n{run}{link(argocd_url, 'Argo CD')}"
    )


def stuck(person: str | None, app: str, tag: str, env: str, minutes: int, argocd_url: str | None) -> str:
    argocd = f" {link(argocd_url, 'Check Argo CD')}" if argocd_url else ""
    return (
        f":hourglass: {person_prefix(person)}*{app}* `{tag}` was deployed to *{env}* more than {minutes} minutes "
        f"ago and Argo CD has not reported a sync outcome yet.{argocd}"
    )


def _said(message: str) -> str:
    return f": {escape(clip(message, 1500))}" if message else ""


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


# -- freezes, deploy windows and held deploys (SPEC §11) -------------------------------------------


def day_and_time(at: float) -> str:
    return time.strftime("%a %d %b %H:%M UTC", time.gmtime(at))


def scope_words(app: str, env: str) -> str:
    """`whitehall in staging`, `every app in staging`, `whitehall in every environment`…"""
    apps = "every app" if app == "all" else app
    envs = "every environment" if env == "all" else env
    return f"{apps} in {envs}"


def freeze_words(mention: str, login: str | None, at: float, reason: str) -> str:
    who = f"{mention} (@{login})" if login else mention
    why = f": {escape(clip(reason, 300))}" if reason else " (no reason given)"
    return f"{who} on {day_and_time(at)}{why}"


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


# -- rollback (SPEC §11.3) ---------------------------------------------------------------------------


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
