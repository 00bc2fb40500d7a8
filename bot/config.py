"""Settings: environment variables over the optional BOT_CONFIG YAML, validated once at start-up.

Secrets only ever come from the environment and are wrapped in `Secret`, which prints as
`**********`, so a settings object can be logged or shown in an error without leaking them.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import yaml

from bot.names import is_valid_app_name
from bot.safety.windows import DeployWindows, Window, parse_no_deploy_days, parse_windows, parse_zone
from bot.tokens import variable_for

DEFAULT_ENVIRONMENTS = (
    ("integration", "gov-uk"),
    ("staging", "gov-uk-production-deploy"),  # GOV.UK's deploy team: its CI gate and Argo CD's read-write team
    ("production", "gov-uk-production-deploy"),
)
SLACK_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")
GITHUB_LOGIN = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}$")
TEAM_SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
K8S_NAMESPACE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
SLACK_CHANNEL = re.compile(r"^(?:[CG][A-Z0-9]{5,}|[a-z0-9][a-z0-9._-]{0,79})$")


class Secret:
    """A string that never shows itself in repr, str or formatting."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __repr__(self) -> str:
        return "Secret('**********')"

    def __str__(self) -> str:
        return "**********"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


@dataclass(frozen=True)
class Environment:
    name: str
    team: str
    argocd_url: str
    workflows_url: str
    workflows_namespace: str = "apps"
    approvals_required: int = 0  # 1: a second member of the team approves every person's deploy
    deploy_windows: tuple[Window, ...] = ()  # none: always open

    def argocd_app_url(self, application: str) -> str:
        return f"{self.argocd_url.rstrip('/')}/applications/{application}"


@dataclass(frozen=True)
class Settings:
    environments: tuple[Environment, ...]
    users: Mapping[str, str]
    slack_bot_token: Secret = field(default_factory=lambda: Secret(""))
    slack_signing_secret: Secret = field(default_factory=lambda: Secret(""))
    slack_api_url: str = "https://slack.com/api/"
    alerts_channel: str = "govuk-deploy-alerts"
    charts_repo_url: Secret = field(default_factory=lambda: Secret(""))
    charts_repo_branch: str = "main"
    charts_workdir: Path = Path()
    image_tags_path: str = "charts/app-config/image-tags"
    git_author_name: str = "govuk-deploy-bot"
    git_author_email: str = "govuk-deploy-bot@users.noreply.github.com"
    github_api_url: str = "https://api.github.com"
    github_token: Secret = field(default_factory=lambda: Secret(""))
    github_org: str = "alphagov"
    redis_url: Secret = field(default_factory=lambda: Secret("memory://"))
    redis_prefix: str = "deploybot:"
    webhook_token: Secret = field(default_factory=lambda: Secret(""))
    argocd_tokens: Mapping[str, Secret] = field(default_factory=dict)
    stuck_after_minutes: int = 20
    host: str = "0.0.0.0"
    port: int = 3000
    config_path: str | None = None
    workflows_tokens: Mapping[str, Secret] = field(default_factory=dict)
    reconcile_seconds: int = 30
    team_channels: Mapping[str, str] = field(default_factory=dict)
    log_format: str = "text"
    audit_max_entries: int = 100_000
    webhook_env_tokens: Mapping[str, Secret] = field(default_factory=dict)  # environment -> its own token
    ci_environments: tuple[str, ...] = ()  # where WEBHOOK_TOKEN may deploy directly (load_settings: the first)
    button_signing_key: Secret = field(default_factory=lambda: Secret(""))
    button_signing_key_previous: Secret = field(default_factory=lambda: Secret(""))
    github_url: str = "https://github.com"
    github_oauth_client_id: str = ""
    timezone: str = "Europe/London"
    no_deploy_days: frozenset[date] = frozenset()
    argocd_project: str = "govuk"  # the Argo CD project listed (others share the server)
    tests_workflow_template: str = "post-sync"  # the WorkflowTemplate whose runs are the tests
    log_container: str = "app"  # the container whose logs the diagnosis shows
    registry_path: str = "govuk"  # images are <registry>/…/<registry_path>/<tag file>:<tag>
    team_channels_url: str = ""  # a JSON list of {"app_name", "alerts_team"} (the developer docs' repos.json)
    release_url: str = ""  # GOV.UK's Release app, told of every committed deploy with release_api_token
    release_api_token: Secret = field(default_factory=lambda: Secret(""))
    slack_app_token: Secret = field(default_factory=lambda: Secret(""))  # xapp-...: Socket Mode beside HTTP

    @property
    def environment_names(self) -> list[str]:
        return [env.name for env in self.environments]

    def environment(self, name: str) -> Environment | None:
        return next((env for env in self.environments if env.name == name), None)

    def next_environment(self, name: str) -> Environment | None:
        names = self.environment_names
        index = names.index(name)
        return self.environments[index + 1] if index + 1 < len(names) else None

    def previous_environment(self, name: str) -> Environment | None:
        index = self.environment_names.index(name)
        return self.environments[index - 1] if index > 0 else None

    def deploy_windows(self, env: str) -> DeployWindows:
        environment = self.environment(env)
        windows = environment.deploy_windows if environment else ()
        return DeployWindows(windows, ZoneInfo(self.timezone), self.no_deploy_days)

    @property
    def user_admins_hint(self) -> str:
        where = f"`users` in {self.config_path}" if self.config_path else "the `users` map in BOT_CONFIG"
        return f"Ask a GOV.UK platform engineer (the maintainers of {where}) to add you."


class ConfigError(Exception):
    """Every problem found, one plain line each."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


REQUIRED_FOR_SERVE = ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "CHARTS_REPO_URL", "WEBHOOK_TOKEN")


def default_workdir(env: Mapping[str, str]) -> Path:
    cache = env.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "govuk-deploy-bot" / "charts"


def load_settings(env: Mapping[str, str] | None = None, *, require_serve: bool = True) -> Settings:
    """Build Settings from `env` (default: os.environ); raise ConfigError listing every problem."""
    env = os.environ if env is None else env
    problems: list[str] = []
    file_config, config_path = _read_config_file(env.get("BOT_CONFIG"), problems)

    if require_serve:
        for name in REQUIRED_FOR_SERVE:
            if not env.get(name, "").strip():
                problems.append(f"{name} is required but not set.")

    environments = _parse_environments(file_config.get("environments"), problems)
    users = _parse_users(file_config.get("users"), problems)

    def url(name: str, default: str) -> str:
        value = env.get(name, "").strip() or default
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            problems.append(f"{name} must be an http(s) URL, got {_shown(value)}.")
        return value

    def optional_url(name: str) -> str:
        value = env.get(name, "").strip()
        return url(name, value) if value else ""

    def integer(name: str, default: int, low: int, high: int) -> int:
        raw = env.get(name, "").strip()
        if not raw:
            return default
        if not (raw.isascii() and raw.isdigit()) or not low <= int(raw) <= high:
            problems.append(f"{name} must be a whole number from {low} to {high}, got {_shown(raw)}.")
            return default
        return int(raw)

    redis_url = env.get("REDIS_URL", "").strip() or "memory://"
    if urlsplit(redis_url).scheme not in ("redis", "rediss", "unix", "memory"):
        problems.append("REDIS_URL must start with redis://, rediss://, unix:// or memory://.")

    github_org = env.get("GITHUB_ORG", "").strip() or str(file_config.get("github_org") or "alphagov")
    if not GITHUB_LOGIN.fullmatch(github_org):
        problems.append(f"GITHUB_ORG {_shown(github_org)} is not a GitHub organisation name.")
    alerts_channel = (
        env.get("DEPLOY_ALERTS_CHANNEL", "").strip() or str(file_config.get("alerts_channel") or "govuk-deploy-alerts")
    ).lstrip("#")

    image_tags_path = env.get("IMAGE_TAGS_PATH", "").strip().strip("/") or "charts/app-config/image-tags"
    if ".." in image_tags_path.split("/") or image_tags_path.startswith("-"):
        problems.append("IMAGE_TAGS_PATH must be a relative path inside the charts repository.")
    branch = env.get("CHARTS_REPO_BRANCH", "").strip() or "main"
    if not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_./-]*", branch) or ".." in branch:
        problems.append(f"CHARTS_REPO_BRANCH {_shown(branch)} is not a safe branch name.")

    settings = Settings(
        environments=environments,
        users=users,
        slack_bot_token=Secret(env.get("SLACK_BOT_TOKEN", "").strip()),
        slack_signing_secret=Secret(env.get("SLACK_SIGNING_SECRET", "").strip()),
        slack_api_url=url("SLACK_API_URL", "https://slack.com/api/"),
        alerts_channel=alerts_channel,
        charts_repo_url=Secret(env.get("CHARTS_REPO_URL", "").strip()),
        charts_repo_branch=branch,
        charts_workdir=Path(env.get("CHARTS_WORKDIR", "").strip() or default_workdir(env)),
        image_tags_path=image_tags_path,
        git_author_name=env.get("GIT_AUTHOR_NAME", "").strip() or "govuk-deploy-bot",
        git_author_email=env.get("GIT_AUTHOR_EMAIL", "").strip() or "govuk-deploy-bot@users.noreply.github.com",
        github_api_url=url("GITHUB_API_URL", "https://api.github.com"),
        github_token=Secret(env.get("GITHUB_TOKEN", "").strip()),
        github_org=github_org,
        redis_url=Secret(redis_url),
        redis_prefix=env.get("REDIS_PREFIX", "deploybot:"),
        webhook_token=_webhook_token(env, problems),
        argocd_tokens={
            e.name: Secret(env[f"ARGOCD_TOKEN_{e.name.upper().replace('-', '_')}"])
            for e in environments
            if env.get(f"ARGOCD_TOKEN_{e.name.upper().replace('-', '_')}")
        },
        stuck_after_minutes=integer("STUCK_AFTER_MINUTES", 20, 1, 24 * 60),
        host=env.get("HOST", "").strip() or "0.0.0.0",
        port=integer("PORT", 3000, 0, 65535),  # 0: any free port (tests)
        config_path=config_path,
        workflows_tokens=_environment_tokens(env, "ARGO_WORKFLOWS_TOKEN_", environments),
        reconcile_seconds=integer("RECONCILE_SECONDS", 30, 0, 24 * 3600),
        team_channels=_parse_team_channels(file_config.get("team_channels"), problems),
        log_format=_log_format(env, problems),
        audit_max_entries=integer("AUDIT_MAX_ENTRIES", 100_000, 1, 1_000_000_000),
        webhook_env_tokens=_parse_webhook_env_tokens(env, environments, problems),
        ci_environments=_parse_ci_environments(file_config.get("ci_environments"), environments, problems),
        button_signing_key=_button_key(env, "BUTTON_SIGNING_KEY", problems),
        button_signing_key_previous=_button_key(env, "BUTTON_SIGNING_KEY_PREVIOUS", problems),
        github_url=url("GITHUB_URL", "https://github.com").rstrip("/"),
        github_oauth_client_id=_oauth_client_id(env, problems),
        timezone=parse_zone(file_config.get("timezone"), problems).key,
        no_deploy_days=parse_no_deploy_days(file_config.get("no_deploy_days"), problems),
        **_parse_argo_names(file_config, problems),
        team_channels_url=optional_url("TEAM_CHANNELS_URL"),
        release_url=optional_url("RELEASE_URL").rstrip("/"),
        release_api_token=_release_api_token(env, problems),
        slack_app_token=_slack_app_token(env, problems),
    )
    if problems:
        raise ConfigError(problems)
    return settings


LOG_FORMATS = ("text", "json")


def _release_api_token(env: Mapping[str, str], problems: list[str]) -> Secret:
    """RELEASE_API_TOKEN, which only means something beside RELEASE_URL (and RELEASE_URL nothing without it)."""
    token = env.get("RELEASE_API_TOKEN", "").strip()
    has_url = bool(env.get("RELEASE_URL", "").strip())
    if has_url and not token:
        problems.append("RELEASE_URL is set but RELEASE_API_TOKEN is not: the Release app needs both, or neither.")
    elif token and not has_url:
        problems.append("RELEASE_API_TOKEN is set but RELEASE_URL is not: the Release app needs both, or neither.")
    return Secret(token)


def _slack_app_token(env: Mapping[str, str], problems: list[str]) -> Secret:
    """SLACK_APP_TOKEN: an app-level token turns Socket Mode on; a bot or user token there is a mistake."""
    value = env.get("SLACK_APP_TOKEN", "").strip()
    if value and not value.startswith("xapp-"):
        problems.append(
            "SLACK_APP_TOKEN must be an app-level token starting with xapp- (Basic Information, App-Level Tokens)."
        )
    return Secret(value)


def _log_format(env: Mapping[str, str], problems: list[str]) -> str:
    value = env.get("LOG_FORMAT", "").strip().lower() or "text"
    if value not in LOG_FORMATS:
        problems.append(f"LOG_FORMAT must be text or json, got {_shown(env.get('LOG_FORMAT', ''))}.")
        return "text"
    return value


def _shown(value: str) -> str:
    """Quote a user-supplied value for an error line, cut short so a mistake stays readable."""
    return repr(value if len(value) <= 60 else value[:57] + "...")


def _read_config_file(path: str | None, problems: list[str]) -> tuple[dict, str | None]:
    if not path:
        return {}, None
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as error:
        problems.append(f"BOT_CONFIG {path}: cannot be read ({error.strerror or error}).")
        return {}, path
    except UnicodeDecodeError:
        problems.append(f"BOT_CONFIG {path}: is not UTF-8 text.")
        return {}, path
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        problems.append(f"BOT_CONFIG {path}: not valid YAML{where}.")
        return {}, path
    if data is None:
        return {}, path
    if not isinstance(data, dict):
        problems.append(f"BOT_CONFIG {path}: must be a mapping of settings.")
        return {}, path
    known = {"github_org", "alerts_channel", "environments", "users", "team_channels", "ci_environments"}
    known |= {"timezone", "no_deploy_days"}
    known |= set(ARGO_NAMES)
    for key in data:
        if key not in known:
            problems.append(f"BOT_CONFIG {path}: unknown setting {key!r} (known: {', '.join(sorted(known))}).")
    return data, path


ARGO_NAMES = {  # BOT_CONFIG key -> (default, what it must be)
    "argocd_project": ("govuk", "an Argo CD project name"),
    "tests_workflow_template": ("post-sync", "a WorkflowTemplate name"),
    "log_container": ("app", "a container name"),
    "registry_path": ("govuk", "an image path segment"),
}
KUBE_NAME = re.compile(r"^[a-z0-9](?:[a-z0-9.-]{0,251}[a-z0-9])?$")


def _parse_argo_names(file_config: dict, problems: list[str]) -> dict[str, str]:
    """The names section 10 reads Argo by; each must be a plain Kubernetes name (it goes into a query)."""
    names = {}
    for key, (default, what) in ARGO_NAMES.items():
        raw = file_config.get(key)
        value = default if raw is None else str(raw).strip()
        if not KUBE_NAME.fullmatch(value) or (key == "log_container" and len(value) > 63):
            problems.append(f"{key} {_shown(value)} is not {what} ([a-z0-9], '-' and '.' inside).")
            value = default
        names[key] = value
    return names


def _default_environment(name: str, team: str) -> Environment:
    return Environment(
        name=name,
        team=team,
        argocd_url=f"https://argo.eks.{name}.govuk.digital",
        workflows_url=f"https://argo-workflows.eks.{name}.govuk.digital",
    )


def _parse_environments(raw: object, problems: list[str]) -> tuple[Environment, ...]:
    if raw is None:
        return tuple(_default_environment(name, team) for name, team in DEFAULT_ENVIRONMENTS)
    if not isinstance(raw, list) or not raw:
        problems.append("environments must be a non-empty list, in promotion order.")
        return ()
    environments: list[Environment] = []
    for position, item in enumerate(raw, start=1):
        if not isinstance(item, dict):
            problems.append(f"environments[{position}] must be a mapping with name and team.")
            continue
        name, team = str(item.get("name") or ""), str(item.get("team") or "")
        if not is_valid_app_name(name):
            problems.append(f"environments[{position}].name {_shown(name)} must match [a-z0-9][a-z0-9-]*.")
            continue
        if not TEAM_SLUG.fullmatch(team):
            problems.append(f"environments[{position}] ({name}): team {_shown(team)} is not a GitHub team slug.")
            continue
        if any(env.name == name for env in environments):
            problems.append(f"environments: {name} is listed twice.")
            continue
        default = _default_environment(name, team)
        urls = {}
        for key in ("argocd_url", "workflows_url"):
            value = str(item.get(key) or getattr(default, key))
            if urlsplit(value).scheme not in ("http", "https"):
                problems.append(f"environments[{position}] ({name}): {key} must be an http(s) URL.")
            urls[key] = value.rstrip("/")
        namespace = str(item.get("workflows_namespace") or "apps")
        if not K8S_NAMESPACE.fullmatch(namespace):
            problems.append(
                f"environments[{position}] ({name}): workflows_namespace {_shown(namespace)} is not a Kubernetes namespace."
            )
        approvals = _approvals_required(item.get("approvals_required"), position, name, problems)
        windows = parse_windows(item.get("deploy_windows"), f"environments[{position}] ({name})", problems)
        environments.append(
            Environment(
                name=name,
                team=team,
                **urls,
                workflows_namespace=namespace,
                approvals_required=approvals,
                deploy_windows=windows,
            )
        )
    return tuple(environments)


def _approvals_required(raw: object, position: int, name: str, problems: list[str]) -> int:
    """How many other team members approve a person's deploy here: 0 (none) or 1."""
    if raw is None:
        return 0
    if isinstance(raw, bool) or not isinstance(raw, int) or raw not in (0, 1):
        problems.append(
            f"environments[{position}] ({name}): approvals_required must be 0 or 1, got {_shown(str(raw))}."
        )
        return 0
    return raw


OAUTH_CLIENT_ID = re.compile(r"^[A-Za-z0-9._-]{1,100}$")


def _oauth_client_id(env: Mapping[str, str], problems: list[str]) -> str:
    """GITHUB_OAUTH_CLIENT_ID (public, not a secret): empty turns `/deploy link` off."""
    value = env.get("GITHUB_OAUTH_CLIENT_ID", "").strip()
    if value and not OAUTH_CLIENT_ID.fullmatch(value):
        problems.append(f"GITHUB_OAUTH_CLIENT_ID {_shown(value)} is not an OAuth app client ID.")
        return ""
    return value


def _parse_users(raw: object, problems: list[str]) -> dict[str, str]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        problems.append("users must map Slack user IDs to GitHub logins.")
        return {}
    users: dict[str, str] = {}
    for slack_id, login in raw.items():
        slack_id, login = str(slack_id), str(login or "")
        if not SLACK_USER_ID.fullmatch(slack_id):
            problems.append(f"users: {_shown(slack_id)} is not a Slack user ID (like U012AB3CD).")
        elif not GITHUB_LOGIN.fullmatch(login):
            problems.append(f"users: {slack_id} maps to {_shown(login)}, which is not a GitHub login.")
        else:
            users[slack_id] = login
    holders: dict[str, str] = {}
    for slack_id, login in users.items():
        # GitHub logins are case-insensitive: two people on one login would act as each other
        first = holders.setdefault(login.lower(), slack_id)
        if first != slack_id:
            problems.append(
                f"users: {first} and {slack_id} both map to the GitHub login {users[first]}; one login per person."
            )
    return users


def _environment_tokens(
    env: Mapping[str, str], prefix: str, environments: tuple[Environment, ...]
) -> dict[str, Secret]:
    """`<prefix><ENV>` for each environment that has one, `<ENV>` upper-cased with `-` as `_`."""
    tokens = {}
    for environment in environments:
        value = env.get(prefix + environment.name.upper().replace("-", "_"), "").strip()
        if value:
            tokens[environment.name] = Secret(value)
    return tokens


def _parse_team_channels(raw: object, problems: list[str]) -> dict[str, str]:
    """App (repoName or application) -> the team channel told of its failures."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        problems.append("team_channels must map app names to Slack channels.")
        return {}
    channels: dict[str, str] = {}
    for app, channel in raw.items():
        app, channel = str(app), str(channel or "").strip().lstrip("#")
        if not is_valid_app_name(app):
            problems.append(f"team_channels: {_shown(app)} is not an app name ([a-z0-9][a-z0-9-]*).")
        elif not SLACK_CHANNEL.fullmatch(channel):
            problems.append(f"team_channels: {app} maps to {_shown(channel)}, which is not a Slack channel name or ID.")
        else:
            channels[app] = channel
    return channels


# Webhook tokens and button keys: 32 characters at least, so none can be guessed or brute-forced (SPEC 13).
MIN_SECRET_LENGTH = 32


def _long_enough(name: str, value: str, problems: list[str]) -> bool:
    if value and len(value) < MIN_SECRET_LENGTH:
        problems.append(f"{name} must be at least {MIN_SECRET_LENGTH} characters long (it has {len(value)}).")
        return False
    return True


def _webhook_token(env: Mapping[str, str], problems: list[str]) -> Secret:
    value = env.get("WEBHOOK_TOKEN", "").strip()
    _long_enough("WEBHOOK_TOKEN", value, problems)
    return Secret(value)


def _parse_webhook_env_tokens(
    env: Mapping[str, str], environments: tuple[Environment, ...], problems: list[str]
) -> dict[str, Secret]:
    """`WEBHOOK_TOKEN_<ENV>` for each configured environment; every token must differ from every other."""
    by_variable = {variable_for(e.name): e.name for e in environments}
    tokens: dict[str, Secret] = {}
    for variable in sorted(name for name in env if name.startswith("WEBHOOK_TOKEN_")):
        value = env[variable].strip()
        if variable not in by_variable:
            known = ", ".join(sorted(by_variable)) or "none"
            problems.append(f"{variable} names no configured environment (known: {known}).")
        elif value and _long_enough(variable, value, problems):
            tokens[by_variable[variable]] = Secret(value)
    seen = {env.get("WEBHOOK_TOKEN", "").strip(): "WEBHOOK_TOKEN"} if env.get("WEBHOOK_TOKEN", "").strip() else {}
    for name, token in tokens.items():
        variable = variable_for(name)
        if token.reveal() in seen:
            problems.append(f"{variable} is the same as {seen[token.reveal()]}; every webhook token must differ.")
        else:
            seen[token.reveal()] = variable
    return tokens


def _parse_ci_environments(raw: object, environments: tuple[Environment, ...], problems: list[str]) -> tuple[str, ...]:
    names = [e.name for e in environments]
    if raw is None:
        return tuple(names[:1])
    if not isinstance(raw, list) or not all(isinstance(item, str) for item in raw):
        problems.append("ci_environments must be a list of environment names.")
        return tuple(names[:1])
    unknown = [item for item in raw if item not in names]
    if unknown and names:
        problems.append(
            f"ci_environments: {', '.join(_shown(item) for item in unknown)} is not a configured environment "
            f"(known: {', '.join(names)})."
        )
    return tuple(item for item in dict.fromkeys(raw) if item in names)


def _button_key(env: Mapping[str, str], name: str, problems: list[str]) -> Secret:
    value = env.get(name, "").strip()
    _long_enough(name, value, problems)
    return Secret(value)
