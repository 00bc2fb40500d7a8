"""Deploys: who may deploy what where, and seeing each accepted request through to its end.

- `request`: one deploy request, as every kind of caller makes it.
- `checks`: the quick checks made before acknowledging (environment, app, tag); no I/O.
- `identity`: who a Slack user is on GitHub, or why they cannot deploy.
- `promotions`: one promotion per release and environment, however many clicks.
- `journal`: accepted deploys recorded in the store, so a crash never loses one.
- `deployer`: the path every request takes, from the team check to the requester's answer.
"""
