"""Prometheus metrics, in a registry of the bot's own (several bots can live in one test process)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST


class Metrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.commands = Counter("deploybot_commands", "Slash commands by kind", ["kind"], registry=self.registry)
        self.deploys = Counter("deploybot_deploys", "Deploys by how they ended", ["outcome"], registry=self.registry)
        self.webhooks = Counter(
            "deploybot_webhook_events",
            "Webhook events by endpoint and result",
            ["endpoint", "result"],
            registry=self.registry,
        )
        self.slack_calls = Counter(
            "deploybot_slack_calls",
            "Slack Web API calls by method and outcome",
            ["method", "outcome"],
            registry=self.registry,
        )
        self.outbox_pending = Gauge("deploybot_outbox_pending", "Cards waiting for Slack", registry=self.registry)
        self.reconcile_errors = Counter(
            "deploybot_reconcile_errors",
            "Failed reads of Argo CD or Argo Workflows by environment and source",
            ["environment", "source"],
            registry=self.registry,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
