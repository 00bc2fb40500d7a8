"""Fakes of Slack, GitHub, Argo CD, Argo Workflows and the Release app: real HTTP servers on 127.0.0.1 speaking the real formats."""

from tests.fakes._argo_common import ArgoRequest
from tests.fakes.argo_workflows import FakeArgoWorkflows
from tests.fakes.argocd import FakeArgoCD
from tests.fakes.github import FakeGitHub, GitHubRequest
from tests.fakes.release_app import FakeReleaseApp
from tests.fakes.slack import FakeSlack, SlackCall, SlackMessage

__all__ = [
    "ArgoRequest",
    "FakeArgoCD",
    "FakeArgoWorkflows",
    "FakeGitHub",
    "FakeReleaseApp",
    "FakeSlack",
    "GitHubRequest",
    "SlackCall",
    "SlackMessage",
]
