"""What the bot holds for identity cannot be forged (SPEC 13): links and approvals in the store are
signed with the bot's own key, and a button value has one spelling only.

A "writer to the store" is played by a second Redis connection writing under the bot's prefix.
"""

from __future__ import annotations

from tests.fakes import FakeGitHub, FakeSlack
from tests.support.app import INTEGRATION_ONLY, BotHarness
from tests.support.slack_requests import find_button
from tests.test_approvals import approvals_env, click


def test_one_refused_deploy_gets_one_approval_request_however_its_button_value_is_spelt(
    bot_env, tmp_path, fake_github: FakeGitHub, fake_slack: FakeSlack
):
    bot = BotHarness(approvals_env(bot_env, tmp_path, fake_github))
    try:
        bot.slash("whitehall v5000 staging", user=INTEGRATION_ONLY, response_url=fake_slack.response_url("deploy"))
        [refusal] = fake_slack.wait_for_response("deploy", timeout=30)
        encoded, mac = find_button(refusal, "request_approval")["value"].split(".")
        for number, padding in enumerate(("", "=", "==", "===")):
            click(
                bot,
                "request_approval",
                f"{encoded}{padding}.{mac}",
                INTEGRATION_ONLY,
                fake_slack.response_url(f"c{number}"),
            )
            fake_slack.wait_for_response(f"c{number}", timeout=10)
        bot.settle()
        assert len([m for m in fake_slack.roots() if "asks to deploy" in m.text]) == 1
    finally:
        bot.stop()
