"""Helpers shared by the tests: a local charts repository and Slack request builders."""
