"""Who you are, and a second pair of eyes.

- `links`: Slack user -> GitHub login links made with `/deploy link`, one holder per login.
- `device_flow`: GitHub's OAuth device flow: a code, polling, `/user`; the token dropped.
- `linking`: `/deploy link`, `unlink`, `whoami`.
- `approvals`: `request_approval`, `approve`, `deny`: requests decided once, expiring.

The rule that turns a Slack user into a requester (or a refusal) is `bot.deploys.identity`.
"""
