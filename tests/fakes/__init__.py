"""Fakes of Slack and GitHub that are real HTTP servers on 127.0.0.1 speaking the real formats."""

from tests.fakes.github import FakeGitHub, GitHubRequest
from tests.fakes.slack import FakeSlack, SlackCall, SlackMessage

__all__ = ["FakeGitHub", "FakeSlack", "GitHubRequest", "SlackCall", "SlackMessage"]
