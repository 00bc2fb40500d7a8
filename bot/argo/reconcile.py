"""One reconciliation pass: read every environment's Argo CD and Argo Workflows once, emit what changed.

Per environment and source (`argocd`, `workflows`) the store keeps what the last pass saw:
- applications: per Application, for each tag file it follows, the tag the charts repo held and
  the outcome read for it (`releases`), and its `slackChannel` annotation;
- post-sync workflows: per (repoName, application, imageTag), the newest workflow's name and phase.
A pass makes exactly one list request per environment and source that has a token, plus one
`GET /api/v1/applications/{name}` for each Application whose failure it is about to tell (the list's
`fields=` allowlist has no message). An Application speaks only for the tags its files hold now in
the charts repo (`releases`, caught up by `before_pass`); `bot.argo.outcomes.release_event` says
when its outcome counts. The first pass for an environment and source (nothing recorded yet)
records what already runs or already finished and emits nothing for it, except for releases the
bot follows (`follows`: their cards are its own). Later passes emit one event for each release
whose fingerprint differs from the record and then record it; an event whose callback raises
stays unrecorded, so the next pass emits it again (callbacks treat repeats as duplicates, as for
webhooks). Tag files no Application follows are handed to `on_unfollowed` after a complete read.
A failed read calls `on_error` and changes nothing for that environment and source.

The caller runs `run_once` in one replica at a time (bot.scheduler.exclusive) every
RECONCILE_SECONDS; `ring_argocd` and `ring_workflows` are the doorbell's reads of one Application
or one environment's tests (bot.argo.doorbell). Nothing here is Slack-aware.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from bot.argo.client import ArgoCD, ArgoWorkflows, Revealable
from bot.argo.models import AppState, ArgoUnavailable, Workflow
from bot.argo.outcomes import (
    DEGRADED,
    SYNC_FAILED,
    followed_files,
    newest_workflows,
    release_event,
    smoke_event,
    sync_outcome,
)
from bot.store import Store, StoreError
from bot.webhooks import MAX_TEXT, SmokeEvent, SyncEvent

log = logging.getLogger(__name__)

ARGOCD = "argocd"
WORKFLOWS = "workflows"
STORE = "store"
Releases = Callable[[str], Mapping[str, tuple[str, float | None]]]  # env -> {tag file: (tag, since)}
Follows = Callable[[str, str, str], bool]  # (tag file, tag, env) -> the bot follows that release there
Unfollowed = Callable[[str, list[tuple[str, str]]], None]  # (env, [(tag file, tag)]) nobody follows


@dataclass(frozen=True)
class ArgoEnvironment:
    """What the reconciler needs of one environment; a source without a token is not read."""

    name: str
    argocd_url: str
    argocd_token: str | Revealable | None
    workflows_url: str
    workflows_namespace: str = "apps"
    workflows_token: str | Revealable | None = None
    argocd_project: str = "govuk"
    tests_workflow_template: str = "post-sync"
    log_container: str = "app"
    registry_path: str = "govuk"


def argo_environments(settings: Any) -> list[ArgoEnvironment]:
    """The reconciler's view of `bot.config.Settings` (argocd_tokens, workflows_tokens, environments)."""
    return [
        ArgoEnvironment(
            name=env.name,
            argocd_url=env.argocd_url,
            argocd_token=settings.argocd_tokens.get(env.name),
            workflows_url=env.workflows_url,
            workflows_namespace=getattr(env, "workflows_namespace", "apps"),
            workflows_token=settings.workflows_tokens.get(env.name),
            argocd_project=getattr(settings, "argocd_project", "govuk"),
            tests_workflow_template=getattr(settings, "tests_workflow_template", "post-sync"),
            log_container=getattr(settings, "log_container", "app"),
            registry_path=getattr(settings, "registry_path", "govuk"),
        )
        for env in settings.environments
    ]


def recorded_application(store: Store, env: str, application: str) -> dict[str, Any] | None:
    """What the last pass recorded of an application: `tag`, `outcome`, `channel` (its slackChannel)."""
    raw = store.client.hget(_recorded_key(store, env, ARGOCD), application)
    return json.loads(raw) if raw else None


def _recorded_key(store: Store, env: str, source: str) -> str:
    return store.key("argo", env, source)


class ArgoClients:
    """One Argo CD and one Argo Workflows client per environment that has a token for it."""

    def __init__(self, environments: Sequence[ArgoEnvironment]) -> None:
        self._argocd = {
            e.name: ArgoCD(e.argocd_url, e.argocd_token, project=e.argocd_project, log_container=e.log_container)
            for e in environments
            if _token(e.argocd_token)
        }
        self._workflows = {
            e.name: ArgoWorkflows(
                e.workflows_url, e.workflows_namespace, e.workflows_token, template=e.tests_workflow_template
            )
            for e in environments
            if _token(e.workflows_token)
        }

    def argocd(self, env: str) -> ArgoCD | None:
        return self._argocd.get(env)

    def workflows(self, env: str) -> ArgoWorkflows | None:
        return self._workflows.get(env)

    def close(self) -> None:
        for client in [*self._argocd.values(), *self._workflows.values()]:
            client.close()


class ApplicationsReader(Protocol):
    def applications(self) -> list[AppState]: ...
    def application(self, name: str) -> AppState: ...


class WorkflowsReader(Protocol):
    def post_sync_workflows(self) -> list[Workflow]: ...


@dataclass
class PassReport:
    """What one pass did, for logs, tests and the benchmark."""

    reads: list[tuple[str, str]] = field(default_factory=list)  # (environment, source), one per API call
    sync_events: int = 0
    test_events: int = 0
    details: list[tuple[str, str]] = field(default_factory=list)  # (environment, application): one GET each
    baselined: list[tuple[str, str]] = field(default_factory=list)
    errors: list[tuple[str, str, str]] = field(default_factory=list)  # (environment, source, reason)
    seconds: float = 0.0


def _token(token: str | Revealable | None) -> bool:
    if token is None:
        return False
    return bool(token if isinstance(token, str) else token.reveal())


class Reconciler:
    def __init__(
        self,
        environments: Sequence[ArgoEnvironment],
        store: Store,
        *,
        on_sync: Callable[[SyncEvent], None],
        on_tests: Callable[[SmokeEvent], None],
        on_error: Callable[[str, str, str], None] = lambda env, source, reason: None,
        argocd_factory: Callable[[ArgoEnvironment], ApplicationsReader] | None = None,
        workflows_factory: Callable[[ArgoEnvironment], WorkflowsReader] | None = None,
        releases: Releases | None = None,
        follows: Follows = lambda tag_file, tag, env: False,
        on_unfollowed: Unfollowed = lambda env, releases: None,
        before_pass: Callable[[], None] = lambda: None,
    ) -> None:
        self.environments = list(environments)
        self.store = store
        self.on_sync = on_sync
        self.on_tests = on_tests
        self.on_error = on_error
        # what the charts repo holds now; without one, each Application's own annotation stands in
        self.releases = releases
        self.follows = follows
        self.on_unfollowed = on_unfollowed
        self.before_pass = before_pass
        if argocd_factory is None or workflows_factory is None:
            clients = ArgoClients(self.environments)  # one client per environment and API that has a token
            argocd_factory = argocd_factory or (lambda e: clients.argocd(e.name))
            workflows_factory = workflows_factory or (lambda e: clients.workflows(e.name))
        make_argocd, make_workflows = argocd_factory, workflows_factory
        self._argocd = {e.name: make_argocd(e) for e in self.environments if _token(e.argocd_token)}
        self._workflows = {e.name: make_workflows(e) for e in self.environments if _token(e.workflows_token)}

    # -- for the caller --------------------------------------------------------------------

    def argocd(self, env: str) -> Any:
        """This environment's Argo CD client (for the diagnosis), or None without a token."""
        return self._argocd.get(env)

    def workflows(self, env: str) -> Any:
        """This environment's Argo Workflows client (for resubmitting), or None without a token."""
        return self._workflows.get(env)

    def recorded_application(self, env: str, application: str) -> dict[str, Any] | None:
        """What the last pass recorded of an application: `tag`, `outcome`, `channel` (its slackChannel)."""
        return recorded_application(self.store, env, application)

    def close(self) -> None:
        for client in [*self._argocd.values(), *self._workflows.values()]:
            close = getattr(client, "close", None)
            if close:
                close()

    # -- the pass --------------------------------------------------------------------------

    def run_once(self) -> PassReport:
        report = PassReport()
        started = time.monotonic()
        try:
            self.before_pass()  # the charts working copy, refreshed at least once a pass
        except Exception as error:  # a stale copy still reads: only a newer tag waits a pass
            log.warning("reconcile: could not refresh the charts repo: %s", type(error).__name__)
        for env in self.environments:
            if env.name in self._argocd:
                self._applications_pass(env, report)
            if env.name in self._workflows:
                self._workflows_pass(env, report)
        report.seconds = time.monotonic() - started
        return report

    def _key(self, env: str, source: str) -> str:
        return _recorded_key(self.store, env, source)

    def _baseline_key(self, env: str, source: str) -> str:
        return self.store.key("argo", env, source, "baseline")

    def _fail(self, report: PassReport, env: str, source: str, reason: str) -> None:
        log.warning("reconcile: %s %s unavailable: %s", env, source, reason)
        report.errors.append((env, source, reason))
        try:
            self.on_error(env, source, reason)
        except Exception as error:  # counting an error must not end the pass
            log.warning("reconcile: on_error failed: %s", type(error).__name__)

    def _read(self, report: PassReport, env: str, source: str, read: Callable[[], list[Any]]) -> list[Any] | None:
        report.reads.append((env, source))
        try:
            return read()
        except ArgoUnavailable as error:
            self._fail(report, env, source, error.reason)
        except Exception as error:  # a bug or surprise in one environment must not stop the others
            self._fail(report, env, source, f"unexpected {type(error).__name__}")
        return None

    def _recorded(self, report: PassReport, env: str, source: str) -> tuple[dict[str, str], bool] | None:
        try:
            pipe = self.store.client.pipeline(transaction=False)
            pipe.hgetall(self._key(env, source))
            pipe.exists(self._baseline_key(env, source))
            recorded, baselined = pipe.execute()
            return recorded, bool(baselined)
        except StoreError:
            self._fail(report, env, STORE, "store unavailable")
            return None

    def _record(self, report: PassReport, env: str, source: str, snapshot: dict[str, str]) -> None:
        try:
            with self.store.client.pipeline(transaction=True) as pipe:
                pipe.delete(self._key(env, source))
                if snapshot:
                    pipe.hset(self._key(env, source), mapping=snapshot)
                pipe.set(self._baseline_key(env, source), str(int(time.time())))
                pipe.execute()
        except StoreError:
            self._fail(report, env, STORE, "store unavailable")

    def _emit(self, callback: Callable[[Any], None], event: SyncEvent | SmokeEvent) -> bool:
        try:
            callback(event)
            return True
        except Exception as error:
            log.warning(
                "reconcile: %s %s %s in %s not handled (%s); next pass retries",
                type(event).__name__,
                event.app,
                event.tag,
                event.env,
                type(error).__name__,
            )
            return False

    def _current(self, env: str, apps: list[AppState]) -> Mapping[str, tuple[str, float | None]]:
        if self.releases is not None:
            return self.releases(env)
        return {app.repo_name: (app.image_tag, 0.0) for app in apps if app.image_tag}

    def _applications_pass(self, env: ArgoEnvironment, report: PassReport) -> None:
        apps = self._read(report, env.name, ARGOCD, self._argocd[env.name].applications)
        if apps is None:
            return
        found = self._recorded(report, env.name, ARGOCD)
        if found is None:
            return
        recorded, baselined = found
        try:
            current = self._current(env.name, apps)
        except Exception as error:  # without the charts repo's tags nothing can be said for a release
            self._fail(report, env.name, "charts", f"unexpected {type(error).__name__}")
            return
        snapshot: dict[str, str] = {}
        following = {app.name: followed_files(app, env.registry_path, current) for app in apps}
        followed = {tag_file for files in following.values() for tag_file in files}
        # a file whose deciding (non-draft) Applications all run no post-sync tests: synced ends the line
        tested = {f for app in apps if app.post_sync and not app.is_draft for f in following[app.name]}
        decided = {f for app in apps if not app.is_draft for f in following[app.name]}
        untested = decided - tested
        for app in apps:
            snapshot[app.name] = self._application(
                env, app, following[app.name], current, recorded.get(app.name), baselined, untested, report
            )
        if not baselined:
            report.baselined.append((env.name, ARGOCD))
        self._record(report, env.name, ARGOCD, snapshot)
        unfollowed = sorted((f, tag) for f, (tag, _) in current.items() if f not in followed and tag)
        if unfollowed:
            try:
                self.on_unfollowed(env.name, unfollowed)
            except Exception as error:
                log.warning("reconcile: telling of unfollowed tag files failed: %s", type(error).__name__)

    def _application(
        self,
        env: ArgoEnvironment,
        app: AppState,
        files: list[str],
        current: Mapping[str, tuple[str, float | None]],
        recorded: str | None,
        baselined: bool,
        untested: set[str],
        report: PassReport,
        detail: AppState | None = None,
    ) -> str:
        """Emit what one Application says of the releases it follows; returns its new record.

        `detail` is the Application read in full already (the doorbell's GET); otherwise a failure
        costs one GET of it, at most one per pass however many files it follows.
        """
        before = _app_record(recorded)
        told: dict[str, str] = {} if files else dict(before.get("releases") or {})
        details: list[AppState | None] = [detail] if detail is not None else []
        for tag_file in files:
            tag, since = current[tag_file]
            event = release_event(app, env.name, tag_file, tag, since, env.registry_path)
            if event is not None and tag_file in untested:
                event = replace(event, no_tests=True)
            outcome = sync_outcome(event.state, event.health) if event else "none"
            fingerprint = f"{tag}|{outcome}"
            old = (before.get("releases") or {}).get(tag_file)
            if event is None or old == fingerprint or not (baselined or self._follows(tag_file, tag, env.name)):
                told[tag_file] = fingerprint  # nothing to tell, told already, or what ran before the bot looked
                continue
            if outcome in (SYNC_FAILED, DEGRADED):
                if not details:
                    details.append(self._detail(report, env.name, app.name))
                if details[0] is None:
                    if old is not None:
                        told[tag_file] = old  # unread: the next pass tries again
                    continue
                event = _with_message(event, details[0])
            if self._emit(self.on_sync, event):
                report.sync_events += 1
                told[tag_file] = fingerprint
            elif old is not None:
                told[tag_file] = old  # not handled: emitted again next pass
        main = told.get(app.repo_name) or next(iter(told.values()), "|")
        tag, _, outcome = main.partition("|")
        return json.dumps(
            {"tag": tag, "outcome": outcome, "channel": app.slack_channel, "releases": told}, sort_keys=True
        )

    # -- the doorbell (SPEC 13): a webhook makes the bot read Argo now ------------------------------

    def ring_argocd(self, env_name: str, application: str) -> PassReport:
        """Read one Application now (one GET) and act on what Argo CD says, never on the webhook."""
        report = PassReport()
        env = next((e for e in self.environments if e.name == env_name), None)
        if env is None or env_name not in self._argocd:
            return report
        app = self._detail(report, env_name, application)
        if app is None:
            return report
        try:
            recorded = self.store.client.hget(self._key(env_name, ARGOCD), app.name)
            current = self._current(env_name, [app])
        except Exception as error:
            self._fail(report, env_name, STORE, f"unexpected {type(error).__name__}")
            return report
        files = followed_files(app, env.registry_path, current)
        untested = set() if app.post_sync or app.is_draft else set(files)
        value = self._application(env, app, files, current, recorded, True, untested, report, detail=app)
        try:
            self.store.client.hset(self._key(env_name, ARGOCD), app.name, value)
        except StoreError:
            self._fail(report, env_name, STORE, "store unavailable")
        return report

    def ring_workflows(self, env_name: str) -> PassReport:
        """Read the environment's test workflows now (one list) and act on what Argo Workflows says."""
        report = PassReport()
        env = next((e for e in self.environments if e.name == env_name), None)
        if env is not None and env_name in self._workflows:
            self._workflows_pass(env, report)
        return report

    def _follows(self, tag_file: str, tag: str, env: str) -> bool:
        try:
            return bool(self.follows(tag_file, tag, env))
        except Exception as error:  # unknown: treated as not followed, as before the rule
            log.warning("reconcile: could not tell whether %s %s is followed: %s", tag_file, tag, type(error).__name__)
            return False

    def _detail(self, report: PassReport, env: str, application: str) -> AppState | None:
        """One `GET /api/v1/applications/{name}`: the operation's message is only there (SPEC 10.0)."""
        report.details.append((env, application))
        try:
            return self._argocd[env].application(application)
        except ArgoUnavailable as error:
            self._fail(report, env, ARGOCD, error.reason)
        except Exception as error:
            self._fail(report, env, ARGOCD, f"unexpected {type(error).__name__}")
        return None

    def _workflows_pass(self, env: ArgoEnvironment, report: PassReport) -> None:
        workflows = self._read(report, env.name, WORKFLOWS, self._workflows[env.name].post_sync_workflows)
        if workflows is None:
            return
        found = self._recorded(report, env.name, WORKFLOWS)
        if found is None:
            return
        recorded, baselined = found
        snapshot: dict[str, str] = {}
        for release, workflow in newest_workflows(workflows).items():
            field_name = "|".join(release)
            value = f"{workflow.name}|{workflow.phase or ''}"
            before = recorded.get(field_name)
            event = smoke_event(workflow, env.name, env.workflows_url, env.workflows_namespace)
            follows = event is not None and (baselined or self._follows(event.app, event.tag, env.name))
            if follows and before != value and event is not None:
                if self._emit(self.on_tests, event):
                    report.test_events += 1
                elif before is None:
                    continue
                else:
                    value = before
            snapshot[field_name] = value
        if not baselined:
            report.baselined.append((env.name, WORKFLOWS))
        self._record(report, env.name, WORKFLOWS, snapshot)


def _app_record(raw: str | None) -> dict[str, Any]:
    if not raw:
        return {}
    try:
        data = json.loads(raw)
    except ValueError:
        return {}  # an unreadable record counts as changed: at worst a duplicate event
    return data if isinstance(data, dict) else {}


def _with_message(event: SyncEvent, detail: AppState) -> SyncEvent:
    message = (detail.message or detail.health_message or event.message).strip()
    return replace(event, message=message[:MAX_TEXT], revision=(detail.revision or event.revision)[:200])
