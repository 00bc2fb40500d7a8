"""A CI deploy held by a freeze that is lifted while it is being held (issue 18, suspected fault).

CI's deploy checks the freezes, then writes its hold; an unfreeze in between offers the holds it
finds, which is not yet this one. The steps below run in exactly that order (`Safety.hold` takes
what blocked the deploy as it was found): the hold must not be left marked frozen with no freeze,
where nothing would ever release or offer it.
"""

from __future__ import annotations

from bot.deploys.request import DeployRequest
from bot.releases.model import CI
from tests.fakes import FakeSlack
from tests.support.app import BotHarness
from tests.test_freeze_flow import slash, thread


def test_a_hold_written_after_the_unfreeze_that_lifted_its_freeze_is_offered_not_left_frozen(
    bot: BotHarness, fake_slack: FakeSlack
) -> None:
    safety = bot.services.safety
    slash(bot, fake_slack, "freeze", "freeze whitehall integration database migration")

    # CI's deploy finds the freeze ...
    blocked = safety.blocked("whitehall", "integration")
    assert blocked is not None and blocked.freezes
    # ... the freeze is lifted before its hold is written ...
    _, reply = slash(bot, fake_slack, "unfreeze", "unfreeze whitehall integration")
    assert reply.startswith(":sunny: Lifted the freeze of whitehall in integration")
    # ... and then the hold is written, as frozen
    carrier = DeployRequest(app="whitehall", env="integration", tag="v3233", requester=CI)
    safety.hold("whitehall", "integration", "v3233", False, carrier, blocked)
    bot.settle()

    assert safety.freezes.covering("whitehall", "integration") == []
    stuck = [h for h in safety.holds.all() if h.frozen and not safety.freezes.covering(h.app, h.env)]
    assert stuck == [], "a hold is marked frozen with no freeze left: nothing would ever offer or release it"
    offers = [m for m in thread(fake_slack, "whitehall", "v3233") if m.button("deploy_held")]
    assert len(offers) == 1, [m.text for m in thread(fake_slack, "whitehall", "v3233")]
