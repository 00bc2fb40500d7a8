"""Deploy windows end to end, and two replicas agreeing on one freeze.

The bot's clock is moved, not slept: `FakeClock` puts it on a Saturday, then on the Monday
morning after, while the scheduler's job runs on real time as in production.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.fakes import FakeSlack
from tests.support.app import USERS, BotHarness, FakeClock
from tests.support.charts import ChartsRemote
from tests.test_freeze_flow import audit, card, passes_in_integration, slash, thread

SATURDAY_NOON = datetime(2026, 12, 5, 12, 0, tzinfo=UTC).timestamp()
MONDAY_0931 = datetime(2026, 12, 7, 9, 31, tzinfo=UTC).timestamp()  # GMT in December: London time is UTC
CONFIG = """\
environments:
  - name: integration
    team: gov-uk
  - name: staging
    team: gov-uk-production
    deploy_windows:
      - {days: [mon, tue, wed, thu], start: "09:30", end: "17:00"}
      - {days: [fri], start: "09:30", end: "16:00"}
  - name: production
    team: gov-uk-production
timezone: Europe/London
users:
"""


def clock_at(moment: float) -> FakeClock:
    clock = FakeClock()
    clock.offset = moment - time.time()
    return clock


@pytest.fixture
def windowed(bot_env: dict[str, str], tmp_path: Path):
    config = tmp_path / "windows.yaml"
    config.write_text(CONFIG + "".join(f"  {slack}: {login}\n" for slack, login in USERS.items()), encoding="utf-8")
    harness = BotHarness({**bot_env, "BOT_CONFIG": str(config)}, clock=clock_at(SATURDAY_NOON), post_interval=0.0)
    try:
        yield harness
    finally:
        harness.stop()


def test_outside_its_window_a_persons_deploy_is_refused_with_when_it_opens_and_force_overrides(
    windowed: BotHarness, fake_slack: FakeSlack, charts_remote: ChartsRemote
) -> None:
    before = charts_remote.commit_count()
    _, refusal = slash(windowed, fake_slack, "deploy", "whitehall v3300 staging")
    assert refusal == (
        ":no_entry: *staging* is outside its deploy windows, so nothing was done. "
        "The next window opens Monday 09:30 Europe/London.\n"
        "To deploy anyway, say why: `/deploy whitehall v3300 staging --force <reason…>` "
        "(the override is announced in the channel)."
    )
    assert charts_remote.commit_count() == before
    assert audit(windowed, "deploy_refused", env="staging")[0]["outcome"] == "outside_window"
    # an environment without windows is always open
    _, reply = slash(windowed, fake_slack, "integration", "whitehall v3300 integration")
    assert reply.startswith(":white_check_mark: Committed")

    _, reply = slash(windowed, fake_slack, "force", "whitehall v3301 staging --force weekend security fix")
    assert reply.startswith(":white_check_mark: Committed *whitehall* `v3301` to *staging*")
    [note] = [m for m in thread(fake_slack, "whitehall", "v3301") if "overrode" in m.text]
    assert note.reply_broadcast and "the deploy window of staging" in note.text and "weekend security fix" in note.text


def test_a_held_automatic_promotion_goes_out_by_itself_once_the_window_opens(
    windowed: BotHarness, fake_slack: FakeSlack, charts_remote: ChartsRemote
) -> None:
    before = charts_remote.commit_count()
    passes_in_integration(windowed, "whitehall", "v3232")
    assert charts_remote.commit_count() == before
    assert any(
        "staging is outside its deploy windows; it goes out by itself when one opens "
        "(next: Monday 09:30 Europe/London)" in m.text
        for m in thread(fake_slack, "whitehall", "v3232")
    )
    assert windowed.services.safety.release_window_holds() == 0  # still Saturday: nothing goes

    windowed.fake_clock.offset = MONDAY_0931 - time.time()
    deadline = time.monotonic() + 40  # the scheduler's job runs every 20 seconds
    while "image_tag: v3232" not in charts_remote.read("staging", "whitehall"):
        assert time.monotonic() < deadline, "the held promotion did not go out after the window opened"
        time.sleep(0.2)
    windowed.settle()
    subject = charts_remote.log(1)[0][1]
    assert subject == "Update whitehall image tag to v3232 for staging"
    assert "promote_deployment: true" in charts_remote.read("staging", "whitehall")
    assert [r["tag"] for r in audit(windowed, "hold_released", app="whitehall")] == ["v3232"]
    assert any("window of staging is open" in m.text for m in thread(fake_slack, "whitehall", "v3232"))
    assert "a deploy here is held" not in card(fake_slack, "whitehall", "v3232").text


def test_a_window_hold_stays_held_when_a_freeze_covers_it_at_opening(
    windowed: BotHarness, fake_slack: FakeSlack, charts_remote: ChartsRemote
) -> None:
    passes_in_integration(windowed, "whitehall", "v3232")
    slash(windowed, fake_slack, "freeze", "freeze whitehall staging")
    before = charts_remote.commit_count()
    windowed.fake_clock.offset = MONDAY_0931 - time.time()
    assert windowed.services.safety.release_window_holds() == 0
    windowed.settle()
    assert charts_remote.commit_count() == before
    # unfreezing now (the window open) offers it, as any held deploy
    slash(windowed, fake_slack, "unfreeze", "unfreeze whitehall staging")
    assert any(m.button("deploy_held") for m in thread(fake_slack, "whitehall", "v3232"))
    assert charts_remote.commit_count() == before


def test_two_replicas_agree_on_one_freeze(
    bot_env: dict[str, str], fake_slack: FakeSlack, charts_remote: ChartsRemote, tmp_path: Path
) -> None:
    first = BotHarness(bot_env, post_interval=0.0)
    second = BotHarness({**bot_env, "CHARTS_WORKDIR": str(tmp_path / "second-copy")}, post_interval=0.0)
    try:
        slash(first, fake_slack, "freeze", "freeze all production change freeze")
        _, refusal = slash(second, fake_slack, "deploy", "whitehall v3300 production")
        assert "is frozen in *production*" in refusal and "change freeze" in refusal
        _, reply = slash(second, fake_slack, "unfreeze", "unfreeze all production")
        assert reply == ":sunny: Lifted the freeze of every app in production."
        _, reply = slash(first, fake_slack, "deploy-again", "whitehall v3300 production")
        assert reply.startswith(":white_check_mark: Committed")
    finally:
        first.stop()
        second.stop()
