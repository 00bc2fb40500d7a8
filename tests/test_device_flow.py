"""GitHub's device flow against the fake GitHub on loopback, with every answer GitHub gives.

The sleep is a fake that moves a fake clock, so a flow of minutes runs in milliseconds while
every request still crosses real HTTP.
"""

from __future__ import annotations

import logging

import httpx
import pytest

from bot import messages
from bot.identity.device_flow import DEVICE_GRANT, FlowFailed, GitHubDeviceFlow
from tests.fakes._http import Reply


class PretendTime:
    def __init__(self, on_sleep=None) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []
        self.on_sleep = on_sleep

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        if self.on_sleep:
            self.on_sleep(len(self.sleeps))


def _flow(fake_github, pretend: PretendTime, timeout: float = 2.0) -> GitHubDeviceFlow:
    return GitHubDeviceFlow(
        github_url=fake_github.url,
        api_url=fake_github.url,
        client_id=fake_github.oauth_client_id,
        http=httpx.Client(timeout=timeout),
        sleep=pretend.sleep,
        clock=pretend.clock,
    )


def test_the_code_request_and_the_polls_speak_githubs_protocol(fake_github):
    pretend = PretendTime(on_sleep=lambda n: n == 3 and fake_github.approve("octocat"))
    flow = _flow(fake_github, pretend)
    code = flow.request_code()
    assert code.user_code == fake_github.device_grants[-1].user_code
    assert code.verification_uri == fake_github.url + "/login/device"
    assert (code.expires_in, code.interval) == (899, 5)
    assert flow.wait_for_login(code) == "octocat"
    assert pretend.sleeps == [5, 5, 5]  # pending, pending, then the token
    polls = [r for r in fake_github.requests if r.path == "/login/oauth/access_token"]
    assert len(polls) == 3 and all(r.headers["accept"] == "application/json" for r in polls)
    user = [r for r in fake_github.requests if r.path == "/user"]
    assert len(user) == 1 and user[0].headers["authorization"] == f"Bearer {fake_github.issued_tokens[0]}"


def test_the_poll_sends_the_device_code_grant(fake_github):
    seen = []
    original = fake_github._device_flow

    def spy(request):
        if request.path == "/login/oauth/access_token":
            seen.append(fake_github._form(request))
        return original(request)

    fake_github._device_flow = spy
    pretend = PretendTime(on_sleep=lambda n: fake_github.approve("octocat"))
    flow = _flow(fake_github, pretend)
    code = flow.request_code()
    flow.wait_for_login(code)
    assert seen == [
        {"client_id": fake_github.oauth_client_id, "device_code": code.device_code, "grant_type": DEVICE_GRANT}
    ]


def test_slow_down_adds_five_seconds_or_takes_githubs_new_interval(fake_github):
    fake_github.token_answers = [
        "slow_down",
        Reply.json({"error": "slow_down", "error_description": "Too many requests."}),  # no interval given
        "authorization_pending",
    ]
    pretend = PretendTime(on_sleep=lambda n: n == 4 and fake_github.approve("octocat"))
    flow = _flow(fake_github, pretend)
    assert flow.wait_for_login(flow.request_code()) == "octocat"
    assert pretend.sleeps == [5, 10, 15, 15]


def test_expired_token_and_access_denied_end_the_flow_in_plain_words(fake_github):
    pretend = PretendTime()
    flow = _flow(fake_github, pretend)
    fake_github.token_answers = ["authorization_pending", "expired_token"]
    with pytest.raises(FlowFailed) as failed:
        flow.wait_for_login(flow.request_code())
    assert (failed.value.reason, failed.value.text) == ("expired", messages.LINK_EXPIRED)
    code = flow.request_code()
    fake_github.deny(code.user_code)
    with pytest.raises(FlowFailed) as failed:
        flow.wait_for_login(code)
    assert (failed.value.reason, failed.value.text) == ("denied", messages.LINK_DENIED)


def test_the_flow_gives_up_at_expires_in_even_if_github_keeps_saying_pending(fake_github):
    fake_github.device_expires_in = 30
    pretend = PretendTime()
    flow = _flow(fake_github, pretend)
    with pytest.raises(FlowFailed) as failed:
        flow.wait_for_login(flow.request_code())
    assert failed.value.reason == "expired"
    assert fake_github.token_polls() == 5  # at 5, 10, 15, 20, 25 s; at 30 s it has expired


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        (Reply.json({"message": "Server Error"}, 502), "github_unreachable"),
        (Reply(disconnect=True), "github_unreachable"),
    ],
)
def test_github_failing_while_polling_is_retried_then_told(fake_github, answer, reason):
    fake_github.token_answers = [answer, answer, "authorization_pending", answer, answer, answer]
    flow = _flow(fake_github, PretendTime())
    with pytest.raises(FlowFailed) as failed:
        flow.wait_for_login(flow.request_code())
    assert failed.value.reason == reason
    assert failed.value.text == messages.LINK_GITHUB_DOWN_WHILE_WAITING
    assert fake_github.token_polls() == 6  # two failures forgiven by the pending answer between


def test_a_github_that_does_not_answer_in_time_is_told(fake_github):
    flow = _flow(fake_github, PretendTime(), timeout=0.2)
    code = flow.request_code()
    fake_github.slow_seconds = 0.5
    with pytest.raises(FlowFailed) as failed:
        flow.wait_for_login(code)
    assert failed.value.text == messages.LINK_GITHUB_DOWN_WHILE_WAITING
    with pytest.raises(FlowFailed) as failed:
        flow.request_code()
    assert failed.value.text == messages.LINK_GITHUB_UNREACHABLE


@pytest.mark.parametrize(
    ("answer", "text"),
    [
        (Reply.text("<html>oops</html>"), messages.LINK_GITHUB_JUNK),
        (Reply.json({"nothing": "useful"}), messages.LINK_GITHUB_JUNK),
        ("incorrect_device_code", messages.link_github_refused("incorrect_device_code")),
        ("device_flow_disabled", messages.LINK_DEVICE_FLOW_DISABLED),
    ],
)
def test_junk_and_refusals_from_the_token_endpoint_are_told(fake_github, answer, text):
    fake_github.token_answers = [answer]
    flow = _flow(fake_github, PretendTime())
    with pytest.raises(FlowFailed) as failed:
        flow.wait_for_login(flow.request_code())
    assert failed.value.text == text


def test_a_code_request_github_refuses_says_why(fake_github):
    flow = _flow(fake_github, PretendTime())
    fake_github.device_flow_enabled = False
    with pytest.raises(FlowFailed) as failed:
        flow.request_code()
    assert failed.value.text == messages.LINK_DEVICE_FLOW_DISABLED
    fake_github.device_flow_enabled, fake_github.oauth_client_id = True, "Iv1.someoneelse"
    with pytest.raises(FlowFailed) as failed:
        flow.request_code()
    assert failed.value.text == messages.LINK_BAD_CLIENT_ID
    fake_github.down = True
    with pytest.raises(FlowFailed) as failed:
        flow.request_code()
    assert failed.value.text == messages.LINK_GITHUB_UNREACHABLE


def test_a_failing_user_endpoint_is_told(fake_github):
    fake_github.user_status = 503
    flow = _flow(fake_github, PretendTime(on_sleep=lambda n: fake_github.approve("octocat")))
    with pytest.raises(FlowFailed) as failed:
        flow.wait_for_login(flow.request_code())
    assert failed.value.text == messages.LINK_USER_UNREACHABLE


def test_the_token_appears_in_no_log_line(fake_github, caplog):
    caplog.set_level(logging.DEBUG)
    fake_github.token_answers = [Reply.json({"message": "Server Error"}, 500), "slow_down"]
    flow = _flow(fake_github, PretendTime(on_sleep=lambda n: n == 3 and fake_github.approve("octocat")))
    assert flow.wait_for_login(flow.request_code()) == "octocat"
    (token,) = fake_github.issued_tokens
    assert caplog.records, "the flow logs something (the 500), so this test can see a leak"
    assert all(token not in record.getMessage() for record in caplog.records)
    assert token not in caplog.text


def test_a_flow_the_person_replaced_stops_at_its_next_poll_without_asking_github(fake_github):
    pretend = PretendTime()
    flow = _flow(fake_github, pretend)
    code = flow.request_code()
    wanted = iter([True, True, False])
    with pytest.raises(FlowFailed) as failed:
        flow.wait_for_login(code, lambda: next(wanted))
    assert failed.value.reason == "replaced" and failed.value.text == messages.LINK_REPLACED
    assert fake_github.token_polls() == 2
