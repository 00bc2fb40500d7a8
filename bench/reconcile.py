"""Benchmark 7: one reconciliation pass over GOV.UK's real topology scaled to 700 Applications in
each of 3 environments (issues 10 and 17).

Every environment has its own fake Argo CD and fake Argo Workflows (tests/fakes, real HTTP on
loopback, answering as the real servers do: `fields=` trimmed to Argo CD's allowlist,
`projects=` honoured, `deploy-image` workflows beside the post-sync tests). Their Applications are
GOV.UK's own (tests/fakes/govuk_topology: draft stacks, whitehall-admin, licensify's imageValues,
the no-tests apps, another project's apps) grown to 700 by copies of the same shape; each is
synced and healthy. 10 releases are in flight, 5 of which fail. The store is a real Redis.

Part 1, the pass alone: `bot.argo.reconcile.Reconciler` as the bot builds it (its own Argo
clients), with callbacks that count the events and the charts repo's tags given as the bot's
working copy gives them.
- the first pass records what already runs and must emit nothing;
- then steady-state passes, between which the 10 in-flight releases each move one step: odd
  steps, a new tag reaches the charts repo, the app-of-apps flips each follower's annotation and
  Argo CD starts the operation (syncing); even steps, 5 releases end synced and healthy with
  their post-sync tests passed, 5 end Failed and Degraded. Every step also adds `deploy-image`
  workflows (CI deploys) that must count for nothing;
- API calls per pass are counted by the fakes themselves: one list per environment and source,
  plus exactly one `GET /api/v1/applications/{name}` per failed Application (its message), on the
  pass that sees it fail and never again.
The baseline is what a bot without the list endpoint would do: one GET per application.

Part 2, end to end: the whole bot in this process (`handlers.server.Server`, as tests/support's
BotHarness runs it) with RECONCILE_SECONDS = 2, tokens set and BOT_CONFIG environments pointing
at the same kind of fakes, a real charts remote holding the topology's tag files, fake GitHub and
Slack. Per trial: a signed `/deploy <app> <tag> integration` (committed, its card posted), then
the fake Argo CD's Application flips to the new tag, starts and finishes the operation, Succeeded
and Healthy, with NO webhook; measured: from that finish until the fake Slack's card says
`*integration*: synced`. Goal: one interval plus 2 s. The switches are spread over the
scheduler's phase (trial k waits k/n of an interval first).

    .venv/bin/python -m bench.reconcile [--quick]   # this benchmark alone, on a throwaway Redis
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx

from bot.argo.models import parse_application
from bot.argo.reconcile import ArgoEnvironment, Reconciler
from bot.store import Store, connect
from tests.fakes import FakeArgoCD, FakeArgoWorkflows, FakeGitHub, FakeSlack, _http, govuk_topology
from tests.fakes.argo_workflows import DEFAULT_TOKEN as WORKFLOWS_TOKEN
from tests.fakes.argocd import DEFAULT_TOKEN as ARGOCD_TOKEN
from tests.support.app import MEMBER, USERS, BotHarness, add_standard_members, bot_environment
from tests.support.charts import make_charts_remote

ENVIRONMENTS = (
    ("integration", "gov-uk"),
    ("staging", "gov-uk-production-deploy"),
    ("production", "gov-uk-production-deploy"),
)
APPS = 700
IN_FLIGHT = 10
FAILING = 5
LONG_AGO = "2024-01-01T00:00:00Z"
INTERVAL = 2  # RECONCILE_SECONDS in the end-to-end part
GOAL_SLACK = 2.0  # seconds allowed on top of one interval
SIZES = {
    "full": {"apps": APPS, "passes": 15, "naive_repeats": 5, "trials": 10},
    "quick": {"apps": APPS, "passes": 3, "naive_repeats": 1, "trials": 3},
}


def shapes(count: int) -> dict[str, govuk_topology.Topology]:
    return {env: govuk_topology.scaled(env, count) for env, _ in ENVIRONMENTS}


def movable(shape: govuk_topology.Topology) -> list[tuple[str, str]]:
    """(tag file, its one Application) of files one tested, non-draft Application follows alone."""
    found = []
    for file in shape.tag_files:
        followers = shape.following(file)
        if len(followers) == 1 and followers[0].post_sync == "true" and not followers[0].image_values:
            found.append((file, followers[0].name))
    return found


@contextmanager
def without_nagle() -> Iterator[None]:
    """Fakes started meanwhile answer without Nagle's algorithm (TCP_NODELAY), restored afterwards.

    The fakes write a reply's headers and body in two sends; with Nagle's algorithm on, the body
    waits for the client's delayed ACK of the headers, about 40 ms on Linux. One list request pays
    it once, but the naive baseline's 2,100 small GETs would pay it 2,100 times (measured: 45 ms per
    GET instead of 1 ms), an artefact of the fake that no real Argo CD has. The end-to-end part
    keeps the fakes as the test suite has them.
    """
    before = _http._Handler.disable_nagle_algorithm
    _http._Handler.disable_nagle_algorithm = True
    try:
        yield
    finally:
        _http._Handler.disable_nagle_algorithm = before


@contextmanager
def argo_fakes(
    topologies: dict[str, govuk_topology.Topology],
) -> Iterator[dict[str, tuple[FakeArgoCD, FakeArgoWorkflows]]]:
    """Per environment a fake Argo CD and a fake Argo Workflows: every Application synced and
    healthy on v100 long ago, a passed post-sync run for each, another project's apps beside."""
    with ExitStack() as stack:
        fakes = {}
        for env, shape in topologies.items():
            argocd = stack.enter_context(FakeArgoCD())
            workflows = stack.enter_context(FakeArgoWorkflows())
            govuk_topology.populate(argocd, shape, started_at=LONG_AGO)
            for app in shape.applications:
                workflows.add_workflow(f"post-sync-{app.name}-v100", repo_name=app.repo_name, application=app.name, image_tag="v100", created=LONG_AGO)  # fmt: skip
            fakes[env] = (argocd, workflows)
        yield fakes


def requests_answered(fakes: dict[str, tuple[FakeArgoCD, FakeArgoWorkflows]]) -> int:
    return sum(len(argocd.requests) + len(workflows.requests) for argocd, workflows in fakes.values())


def gets_answered(fakes: dict[str, tuple[FakeArgoCD, FakeArgoWorkflows]]) -> int:
    """GETs of one application (the message of a failure), as opposed to lists."""
    return sum(len([r for r in argocd.requests if r.path != "/api/v1/applications"]) for argocd, _ in fakes.values())


def reset_requests(fakes: dict[str, tuple[FakeArgoCD, FakeArgoWorkflows]]) -> None:
    for argocd, workflows in fakes.values():
        argocd.reset_requests()
        workflows.reset_requests()


def in_flight_releases(topologies: dict[str, govuk_topology.Topology]) -> list[tuple[str, str, str]]:
    """(environment, tag file, Application) of the 10 releases in flight, environments in turn."""
    envs = [env for env, _ in ENVIRONMENTS]
    choices = {env: movable(topologies[env]) for env in envs}
    picked = []
    for index in range(IN_FLIGHT):
        env = envs[index % len(envs)]
        options = choices[env]
        file, app = options[(index * 7) % len(options)]
        options.remove((file, app))
        picked.append((env, file, app))
    return picked


class ChartsTags:
    """What the charts repo's working copy says: each file's tag and when it got it (the bot's `releases`)."""

    def __init__(self, topologies: dict[str, govuk_topology.Topology]) -> None:
        self.tags = {env: {file: ("v100", 0.0) for file in shape.tag_files} for env, shape in topologies.items()}

    def __call__(self, env: str) -> dict[str, tuple[str, float | None]]:
        return self.tags[env]

    def commit(self, env: str, file: str, tag: str) -> None:
        self.tags[env][file] = (tag, float(int(time.time())))


def move_releases(fakes, charts: ChartsTags, releases, step: int) -> tuple[int, int, int]:  # type: ignore[no-untyped-def]
    """Move every in-flight release one step; (sync events, test events, failed Applications) the next
    pass must see. Odd steps: a new tag, flipped and syncing. Even steps: half synced and tested, half failed."""
    tag = f"v{9000 + (step + 1) // 2}"
    failed = 0
    for index, (env, file, app) in enumerate(releases):
        argocd, workflows = fakes[env]
        workflows.add_deploy_image(f"deploy-image-{file}-{tag}-{step}", repo_name=file, image_tag=tag, environment=env)
        if step % 2:
            charts.commit(env, file, tag)
            argocd.flip_image_tag(app, tag)
            argocd.start_operation(app)
        elif index < FAILING:
            argocd.finish_operation(app, phase="Failed", health="Degraded", message="one or more objects failed")
            failed += 1
        else:
            argocd.finish_operation(app)
            workflows.add_workflow(f"post-sync-{app}-{tag}", repo_name=file, application=app, image_tag=tag, phase="Succeeded")  # fmt: skip
    tests = 0 if step % 2 else len(releases) - FAILING
    return len(releases), tests, failed


def environments(fakes: dict[str, tuple[FakeArgoCD, FakeArgoWorkflows]], *, workflows: bool) -> list[ArgoEnvironment]:
    return [
        ArgoEnvironment(
            name=env,
            argocd_url=argocd.url,
            argocd_token=ARGOCD_TOKEN,
            workflows_url=fake_workflows.url,
            workflows_token=WORKFLOWS_TOKEN if workflows else None,
        )
        for env, (argocd, fake_workflows) in fakes.items()
    ]


class NaiveReader:
    """One GET per application, keep-alive clients kept across passes (as the bot keeps its own)."""

    def __init__(self, fakes: dict[str, tuple[FakeArgoCD, FakeArgoWorkflows]]) -> None:
        headers = {"Authorization": f"Bearer {ARGOCD_TOKEN}", "Accept": "application/json"}
        self.clients = {
            env: httpx.Client(base_url=argocd.url, headers=headers, timeout=10) for env, (argocd, _) in fakes.items()
        }

    def read(self, targets: dict[str, list[str]]) -> int:
        """Read each target application, parsed as the bot parses a listed item; returns the count."""
        read = 0
        for env, apps in targets.items():
            client = self.clients[env]
            for app in apps:
                response = client.get(f"/api/v1/applications/{app}")
                response.raise_for_status()
                parse_application(json.loads(response.content))
                read += 1
        return read

    def close(self) -> None:
        for client in self.clients.values():
            client.close()


def timed(call: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = call()
    return time.perf_counter() - started, result


# -- part 1: the pass alone ---------------------------------------------------------------------


def pass_alone(redis_url: str, topologies, passes: int, naive_repeats: int, log) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    client = connect(redis_url)
    prefix = f"bench:reconcile:{uuid.uuid4().hex[:12]}:"
    errors: list[tuple[str, str, str]] = []

    charts = ChartsTags(topologies)
    apps = [app.name for app in topologies["integration"].applications]

    def reconciler(fakes, name: str, counted: dict[str, int], *, workflows: bool) -> Reconciler:  # type: ignore[no-untyped-def]
        def count(kind: str) -> Callable[[Any], None]:
            return lambda event: counted.__setitem__(kind, counted[kind] + 1)

        return Reconciler(
            environments(fakes, workflows=workflows),
            Store(client, f"{prefix}{name}:"),
            on_sync=count("sync"),
            on_tests=count("tests"),
            on_error=lambda env, source, reason: errors.append((env, source, reason)),
            releases=charts,
        )

    try:
        with without_nagle(), argo_fakes(topologies) as fakes:
            releases = in_flight_releases(topologies)
            counted = {"sync": 0, "tests": 0}
            counted_argocd = {"sync": 0, "tests": 0}
            bot = reconciler(fakes, "full", counted, workflows=True)
            argocd_only = reconciler(fakes, "argocd", counted_argocd, workflows=False)
            try:
                log(f"  first pass over {len(apps)} apps × {len(fakes)} environments (recording what runs) ...")
                reset_requests(fakes)
                first = bot.run_once()
                first_calls = requests_answered(fakes)
                first_events = counted["sync"] + counted["tests"]
                argocd_only.run_once()
                first_events += counted_argocd["sync"]
                steady = []
                log(f"  {passes} steady-state passes, {IN_FLIGHT} releases moving between them ...")
                for step in range(1, passes + 1):
                    want_sync, want_tests, want_gets = move_releases(fakes, charts, releases, step)
                    before, before_argocd = dict(counted), dict(counted_argocd)
                    reset_requests(fakes)
                    report = bot.run_once()
                    calls = requests_answered(fakes)
                    gets = gets_answered(fakes)
                    reset_requests(fakes)
                    argocd_report = argocd_only.run_once()
                    steady.append(
                        {
                            "seconds": report.seconds,
                            "calls": calls,
                            "gets": gets,
                            "expected_gets": want_gets,
                            "sync_events": counted["sync"] - before["sync"],
                            "test_events": counted["tests"] - before["tests"],
                            "expected_sync_events": want_sync,
                            "expected_test_events": want_tests,
                            "argocd_only_seconds": argocd_report.seconds,
                            "argocd_only_calls": requests_answered(fakes),
                            "argocd_only_sync_events": counted_argocd["sync"] - before_argocd["sync"],
                        }
                    )
            finally:
                bot.close()
                argocd_only.close()

            log(f"  naive: one GET per application, {len(apps)} × {len(fakes)} ...")
            every_app = {env: [app.name for app in topologies[env].applications] for env in fakes}
            only_in_flight: dict[str, list[str]] = {}
            for env, _, app in releases:
                only_in_flight.setdefault(env, []).append(app)
            naive = NaiveReader(fakes)
            try:
                naive.read(
                    {env: names[:1] for env, names in every_app.items()}
                )  # connections open, as the bot's are after a pass
                reset_requests(fakes)
                naive_all = [timed(lambda: naive.read(every_app)) for _ in range(naive_repeats)]
                naive_all_calls = requests_answered(fakes) // naive_repeats
                reset_requests(fakes)
                few_repeats = max(3, naive_repeats)
                naive_few = [timed(lambda: naive.read(only_in_flight)) for _ in range(few_repeats)]
                naive_few_calls = requests_answered(fakes) // few_repeats
            finally:
                naive.close()
    finally:
        for key in client.scan_iter(match=prefix + "*"):
            client.delete(key)
        client.close()

    wrong = [
        row
        for row in steady
        if (row["sync_events"], row["test_events"]) != (row["expected_sync_events"], row["expected_test_events"])
        or row["argocd_only_sync_events"] != row["expected_sync_events"]
        or row["gets"] != row["expected_gets"]
        or row["calls"] != 2 * len(ENVIRONMENTS) + row["expected_gets"]
    ]
    if first_events or wrong or errors:
        raise AssertionError(f"first pass events {first_events}; wrong passes {wrong}; errors {errors}")
    bot_median = statistics.median(row["seconds"] for row in steady)
    argocd_median = statistics.median(row["argocd_only_seconds"] for row in steady)
    naive_median = statistics.median(seconds for seconds, _ in naive_all)
    few_median = statistics.median(seconds for seconds, _ in naive_few)
    return {
        "environments": len(ENVIRONMENTS),
        "apps_per_environment": len(apps),
        "in_flight": IN_FLIGHT,
        "failing": FAILING,
        "first_pass": {
            "seconds": round(first.seconds, 3),
            "calls": first_calls,
            "events": first_events,
            "baselined": len(first.baselined),
        },
        "steady": {
            "passes": len(steady),
            "seconds_median": round(bot_median, 3),
            "seconds_min": round(min(row["seconds"] for row in steady), 3),
            "seconds_max": round(max(row["seconds"] for row in steady), 3),
            "calls_per_pass": sorted({row["calls"] for row in steady}),
            "gets_per_pass": [row["gets"] for row in steady],
            "events_per_pass": [row["sync_events"] + row["test_events"] for row in steady],
            "events_total": sum(row["sync_events"] + row["test_events"] for row in steady),
            "events_expected": sum(row["expected_sync_events"] + row["expected_test_events"] for row in steady),
            "argocd_only_seconds_median": round(argocd_median, 3),
            "argocd_only_calls_per_pass": sorted({row["argocd_only_calls"] for row in steady}),
        },
        "naive_all_apps": {
            "calls_per_pass": naive_all_calls,
            "seconds_median": round(naive_median, 3),
            "repeats": len(naive_all),
        },
        "naive_in_flight_only": {
            "calls_per_pass": naive_few_calls,
            "seconds_median": round(few_median, 4),
            "repeats": len(naive_few),
        },
        "speedup_vs_argocd_only": round(naive_median / argocd_median, 1) if argocd_median else None,
        "speedup_vs_full_pass": round(naive_median / bot_median, 1) if bot_median else None,
        "calls_ratio": round(naive_all_calls / max(1, min(row["calls"] for row in steady)), 1),
    }


# -- part 2: end to end -------------------------------------------------------------------------


def _bot_config(folder: Path, fakes: dict[str, tuple[FakeArgoCD, FakeArgoWorkflows]]) -> Path:
    lines = ["environments:"]
    for env, team in ENVIRONMENTS:
        argocd, workflows = fakes[env]
        lines += [
            f"  - name: {env}",
            f"    team: {team}",
            f"    argocd_url: {argocd.url}",
            f"    workflows_url: {workflows.url}",
        ]
    lines += ["users:"] + [f"  {slack}: {login}" for slack, login in USERS.items()]
    path = folder / "argo-bot-config.yaml"  # bot_environment writes bot-config.yaml itself
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _card_text(slack: FakeSlack, tag: str) -> str | None:
    for message in slack.roots():
        text = message.all_text()
        if tag in text:
            return text
    return None


def quiet_stop(bot: BotHarness) -> None:
    """Stop the bot once no reconcile pass is running: one cut short by the shutdown only makes noise."""
    services = bot.services
    with contextlib.suppress(Exception):
        services.scheduler.pause_job("reconcile")
        with services.store.locked("job:reconcile", timeout=30, wait=30):
            pass
    bot.stop()


def end_to_end(redis_url: str, topologies, trials: int, log) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    prefix = f"bench:reconcile-e2e:{uuid.uuid4().hex[:12]}:"
    goal = INTERVAL + GOAL_SLACK
    rows = []
    with (
        tempfile.TemporaryDirectory(prefix="bench-reconcile-") as folder,
        argo_fakes(topologies) as fakes,
        FakeSlack() as slack,
        FakeGitHub() as github,
    ):
        scratch = Path(folder)
        add_standard_members(github)
        seed = {env: {f: "image_tag: v100\nautomatic_deploys_enabled: true\npromote_deployment: false\n" for f in shape.tag_files} for env, shape in topologies.items()}  # fmt: skip
        remote = make_charts_remote(scratch, seed)
        env = bot_environment(
            tmp_path=scratch,
            fake_slack=slack,
            fake_github=github,
            charts_url=remote.url,
            redis_url=redis_url,
            redis_prefix=prefix,
            BOT_CONFIG=str(_bot_config(scratch, fakes)),
            RECONCILE_SECONDS=str(INTERVAL),
            LOG_LEVEL="WARNING",
        )
        for name, _ in ENVIRONMENTS:
            env[f"ARGOCD_TOKEN_{name.upper()}"] = ARGOCD_TOKEN
            env[f"ARGO_WORKFLOWS_TOKEN_{name.upper()}"] = WORKFLOWS_TOKEN
        bot = BotHarness(env)
        try:
            log(f"  whole bot in-process, RECONCILE_SECONDS={INTERVAL}; waiting for the first passes ...")
            for argocd, _ in fakes.values():  # a second read means the first pass (the baseline) has ended
                if not argocd.wait_until(lambda argocd=argocd: len(argocd.list_requests()) >= 2, timeout=60):
                    raise AssertionError("the reconcile job never read Argo CD twice")
            if slack.roots():
                raise AssertionError(f"the first pass posted {len(slack.roots())} card(s)")
            deployable = movable(topologies["integration"])
            argocd, _ = fakes["integration"]
            for trial in range(trials):
                (app, application), tag = deployable[(trial * 13) % len(deployable)], f"v{7000 + trial}"
                name = f"trial-{trial}"
                bot.slash(f"{app} {tag} integration", user=MEMBER, response_url=slack.response_url(name))
                replies = slack.wait_for_response(name, timeout=60)
                if "Committed" not in replies[-1].get("text", ""):
                    raise AssertionError(f"{app} {tag}: {replies[-1].get('text')!r}")
                if not slack.wait_until(lambda tag=tag: _card_text(slack, tag) is not None, timeout=30):
                    raise AssertionError(f"no card for {app} {tag}")
                time.sleep(INTERVAL * trial / trials)  # spread the switches over the scheduler's phase
                argocd.flip_image_tag(application, tag)  # the app-of-apps; then Argo CD syncs it
                argocd.start_operation(application)
                argocd.finish_operation(application)  # synced and healthy; the webhook is lost
                switched = time.monotonic()
                synced = slack.wait_until(
                    lambda tag=tag: "*integration*: synced" in (_card_text(slack, tag) or ""), timeout=goal * 5
                )
                seconds = time.monotonic() - switched
                rows.append(
                    {
                        "app": app,
                        "tag": tag,
                        "seconds": round(seconds, 3),
                        "ratio": round(seconds / goal, 2),
                        "synced": synced,
                    }
                )
                log(f"    {app} {tag}: card synced after {seconds:.2f} s")
            posted = len(slack.roots())
        finally:
            quiet_stop(bot)
            client = connect(redis_url)
            for key in client.scan_iter(match=prefix + "*"):
                client.delete(key)
            client.close()
    seconds = [row["seconds"] for row in rows]
    return {
        "interval_seconds": INTERVAL,
        "goal_seconds": goal,
        "apps_per_environment": len(topologies["integration"].applications),
        "trials": rows,
        "median_seconds": round(statistics.median(seconds), 3),
        "max_seconds": round(max(seconds), 3),
        "median_ratio": round(statistics.median(seconds) / goal, 2),
        "max_ratio": round(max(seconds) / goal, 2),
        "all_synced": all(row["synced"] for row in rows),
        "cards_posted": posted,
        "met": all(row["synced"] for row in rows) and max(seconds) <= goal,
    }


def run(redis_url: str, *, quick: bool = False, log: Callable[[str], None] = print) -> dict[str, Any]:
    sizes = SIZES["quick" if quick else "full"]
    topologies = shapes(sizes["apps"])
    result = pass_alone(redis_url, topologies, sizes["passes"], sizes["naive_repeats"], log)
    result["end_to_end"] = end_to_end(redis_url, topologies, sizes["trials"], log)
    return result


# -- printing -----------------------------------------------------------------------------------


def show(result: dict[str, Any]) -> str:
    from bench.__main__ import table, x

    first, steady = result["first_pass"], result["steady"]
    naive, few = result["naive_all_apps"], result["naive_in_flight_only"]
    apps, envs = result["apps_per_environment"], result["environments"]
    rows = [
        [
            "bot, first pass (records what runs)",
            first["calls"],
            f"{first['seconds'] * 1000:.0f} ms",
            first["events"],
            None,
        ],
        [
            f"bot, steady pass (median of {steady['passes']})",
            ", ".join(map(str, steady["calls_per_pass"])),
            f"{steady['seconds_median'] * 1000:.0f} ms (min {steady['seconds_min'] * 1000:.0f}, "
            f"max {steady['seconds_max'] * 1000:.0f})",
            f"{steady['events_total']} in {steady['passes']} passes",
            x(result["speedup_vs_full_pass"]),
        ],
        [
            "bot, Argo CD only (same work as the baseline)",
            ", ".join(map(str, steady["argocd_only_calls_per_pass"])),
            f"{steady['argocd_only_seconds_median'] * 1000:.0f} ms",
            "",
            x(result["speedup_vs_argocd_only"]),
        ],
        [
            f"baseline: GET each application ({apps} × {envs})",
            naive["calls_per_pass"],
            f"{naive['seconds_median'] * 1000:.0f} ms",
            "",
            None,
        ],
        [
            f"naive, in-flight apps only ({result['in_flight']} GETs)",
            few["calls_per_pass"],
            f"{few['seconds_median'] * 1000:.1f} ms",
            "",
            None,
        ],
    ]
    e2e = result["end_to_end"]
    notes = [
        f"{apps} applications in each of {envs} environments (fake Argo CD + fake Argo Workflows each, loopback), "
        f"{result['in_flight']} releases in flight, real Redis.",
        f"API calls: every request the 6 fakes answered during the pass; must be one list per environment and source "
        f"({2 * envs}) plus one GET per failed Application ({result['failing']} on every second pass: "
        f"{steady['gets_per_pass']}). Events: {steady['events_total']} emitted, {steady['events_expected']} expected; "
        f"first pass: {first['events']}. deploy-image workflows added every step counted for nothing.",
        "ratio = baseline time / bot time. The in-flight-only row cannot see a tag deployed without the bot.",
        "GOV.UK's real topology (draft stacks, whitehall-admin, licensify's images, no-tests apps, datagovuk's apps) "
        "grown to 700 Applications by copies of the same shape; fields= trimmed to Argo CD's allowlist by the fakes.",
        "Fakes with TCP_NODELAY here (see `without_nagle`): otherwise each small GET waits ~40 ms for a delayed ACK.",
    ]
    part1 = table(
        f"7. Reconciliation pass: {apps} apps × {envs} environments, {result['in_flight']} releases in flight, "
        f"{result['failing']} failing",
        ["", "API calls", "time per pass", "events", "ratio"],
        rows,
        notes,
    )
    trial_rows = [
        [row["app"], row["tag"], f"{row['seconds']:.2f} s", f"{row['ratio']:.2f}", "yes" if row["synced"] else "NO"]
        for row in e2e["trials"]
    ]
    trial_rows.append(
        [
            "median / max",
            "",
            f"{e2e['median_seconds']:.2f} / {e2e['max_seconds']:.2f} s",
            f"{e2e['median_ratio']:.2f} / {e2e['max_ratio']:.2f}",
            "",
        ]
    )
    part2 = table(
        f"7b. Lost webhook to card: whole bot, RECONCILE_SECONDS={e2e['interval_seconds']}, "
        f"{e2e['apps_per_environment']} apps × 3 environments",
        ["app", "tag", "switch → card synced", "measured / goal", "synced"],
        trial_rows,
        [
            f"goal: one interval + {GOAL_SLACK:g} s = {e2e['goal_seconds']:g} s; met: {e2e['met']}. "
            "Fake Argo CD switched to the new tag, Succeeded/Healthy, no webhook sent;",
            "time until the fake Slack's card shows '*integration*: synced' (polled as it changes). "
            f"Cards posted: {e2e['cards_posted']} (one per trial, none by the first pass).",
        ],
    )
    return part1 + "\n" + part2


def main(argv: list[str] | None = None) -> int:
    from bench.harness import redis_server

    parser = argparse.ArgumentParser(prog="python -m bench.reconcile", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer passes and trials (same 700 × 3 applications)")
    args = parser.parse_args(argv)
    with redis_server() as (redis_url, description):
        print(f"store: {description}", file=sys.stderr)
        result = run(redis_url, quick=args.quick, log=lambda m: print(m, file=sys.stderr, flush=True))
    print(show(result))
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
