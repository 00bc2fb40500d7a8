"""Fakes of Slack, GitHub, Argo CD and Argo Workflows: real HTTP servers on 127.0.0.1 speaking the real formats."""

from tests.fakes._argo_common import ArgoRequest
from tests.fakes.argo_workflows import FakeArgoWorkflows
from tests.fakes.argocd import FakeArgoCD
from tests.fakes.github import FakeGitHub, GitHubRequest
from tests.fakes.slack import FakeSlack, SlackCall, SlackMessage

__all__ = [
    "ArgoRequest",
    "FakeArgoCD",
    "FakeArgoWorkflows",
    "FakeGitHub",
    "FakeSlack",
    "GitHubRequest",
    "SlackCall",
    "SlackMessage",
]
