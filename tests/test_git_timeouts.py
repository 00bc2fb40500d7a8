"""A charts remote that stops answering ends in a reported failure, never a wait without end.

The charts remote is served over smart HTTP by `tests/fakes/git_http.py` (git's own
http-backend); `hang()` makes it accept connections and never answer, as a stalled load balancer
would. Every git call has a wall-clock limit and HTTP transfers a low-speed limit (tuning knobs in
bot/intervals.py, made short here): the requester is told, the working-copy lock is let go, and
the next deploy goes through once the remote answers again.
"""

from __future__ import annotations

import time

import pytest

from bot.intervals import Intervals
from tests.fakes import FakeSlack
from tests.fakes.git_http import FakeGitHost
from tests.support.app import BotHarness
from tests.support.charts import ChartsRemote

# each case leaves one of the two limits far away, so the other one alone must end the hung call
LIMITS = [
    pytest.param(Intervals(git_timeout=3, git_low_speed_time=600), id="the wall clock"),
    pytest.param(Intervals(git_timeout=600, git_history_timeout=600, git_low_speed_time=2), id="the low-speed limit"),
]


@pytest.mark.parametrize("intervals", LIMITS)
def test_a_hung_remote_ends_in_a_reported_failure_and_later_deploys_go_on(
    intervals: Intervals, bot_env: dict[str, str], fake_slack: FakeSlack, charts_remote: ChartsRemote
) -> None:
    with FakeGitHost(charts_remote.path) as host:
        bot = BotHarness({**bot_env, "CHARTS_REPO_URL": host.url}, intervals=intervals)
        try:
            host.hang()
            started = time.monotonic()
            answer = bot.slash("whitehall v3233 integration", response_url=fake_slack.response_url("hung"))
            assert answer.status_code == 200, answer.text
            reply = fake_slack.wait_for_response("hung", timeout=90)[0]["text"]
            assert reply.startswith(":x: The deploy of *whitehall* `v3233` to *integration* failed: "), reply
            assert "Nothing was committed" in reply
            assert time.monotonic() - started < 60
            assert host.hung, "the deploy never reached the charts remote"
            assert "image_tag: v3232\n" in charts_remote.read("integration", "whitehall")

            host.answer()
            answer = bot.slash("whitehall v3234 integration", response_url=fake_slack.response_url("after"))
            assert answer.status_code == 200, answer.text
            reply = fake_slack.wait_for_response("after", timeout=90)[0]["text"]
            assert reply.startswith(":white_check_mark: Committed *whitehall* `v3234` to *integration*"), reply
            assert "image_tag: v3234\n" in charts_remote.read("integration", "whitehall")
        finally:
            host.answer()
            bot.stop()


def test_a_push_that_hangs_is_killed_checked_against_the_remote_and_reported(
    bot_env: dict[str, str], fake_slack: FakeSlack, charts_remote: ChartsRemote
) -> None:
    """The fetch answers, the push never does: after the limit git is killed, ls-remote shows the branch
    where it was (the push never landed), and the requester hears it failed."""
    with FakeGitHost(charts_remote.path) as host:
        bot = BotHarness({**bot_env, "CHARTS_REPO_URL": host.url}, intervals=Intervals(git_timeout=3))
        try:
            host.hang(only="git-receive-pack")
            answer = bot.slash("whitehall v3233 integration", response_url=fake_slack.response_url("hung"))
            assert answer.status_code == 200, answer.text
            reply = fake_slack.wait_for_response("hung", timeout=90)[0]["text"]
            assert reply.startswith(":x: The deploy of *whitehall* `v3233` to *integration* failed: "), reply
            assert "git push had no answer from the charts repository within 3 seconds" in reply
            assert any("git-receive-pack" in path for path in host.hung)
            assert "image_tag: v3232\n" in charts_remote.read("integration", "whitehall")

            host.answer()
            answer = bot.slash("whitehall v3234 integration", response_url=fake_slack.response_url("after"))
            reply = fake_slack.wait_for_response("after", timeout=90)[0]["text"]
            assert reply.startswith(":white_check_mark: Committed *whitehall* `v3234` to *integration*"), reply
        finally:
            host.answer()
            bot.stop()
