"""Webhook bodies as Argo CD Notifications and the post-sync workflow send them."""

from __future__ import annotations


def smokey_payload(app: str, env: str, tag: str, status: str = "Succeeded", application: str | None = None) -> dict:
    payload = {
        "application": application or app,
        "repoName": app,
        "environment": env,
        "imageTag": tag,
        "status": status,
        "suite": "smokey",
        "workflowName": "post-sync-x7k2p",
        "workflowUrl": "https://argo-workflows.test/x7k2p",
    }
    if status != "Succeeded":
        payload["failures"] = ["Smokey: the homepage did not load"]
    return payload
