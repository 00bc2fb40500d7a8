"""Prometheus metrics, in a registry of the bot's own (several bots can live in one test process)."""

from __future__ import annotations

import math
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST


class Metrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.commands = Counter("deploybot_commands", "Slash commands by kind", ["kind"], registry=self.registry)
        self.actions = Counter(
            "deploybot_button_clicks", "Button clicks by action_id", ["action"], registry=self.registry
        )
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
        self.release_outcomes = Counter(
            "deploybot_release_outcomes",
            "Sync and test outcomes applied to releases, by environment and outcome (e.g. failed, tests_failed)",
            ["environment", "outcome"],
            registry=self.registry,
        )
        # Slack wants every request acknowledged within 3 seconds, over HTTP or Socket Mode alike.
        self.slack_ack_seconds = Histogram(
            "deploybot_slack_ack_seconds",
            "Time from a Slack request's arrival to its acknowledgement, by transport",
            ["transport"],
            buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0),
            registry=self.registry,
        )
        self.ready = Gauge("deploybot_ready", "1 while /readyz answers 200, else 0", registry=self.registry)
        self.socket_mode_connected = Gauge(
            "deploybot_socket_mode_connected",
            "1 while this replica's Socket Mode connection is open; 0 when it is closed or Socket Mode is off",
            registry=self.registry,
        )
        self.release_app_failures = Counter(
            "deploybot_release_app_failures",
            "Calls to the Release app that failed, by what happened next (retry, gave_up, dropped)",
            ["next"],
            registry=self.registry,
        )

        # Delivery figures of every app in the last environment, for the last 7 and 28 days:
        # set when they are computed (a scheduled job, and every `/deploy stats`), NaN when there is no figure.
        delivery = ("period",)
        self.delivery_deploys = Gauge(
            "deploybot_last_environment_deploys", "Deploys to the last environment", delivery, registry=self.registry
        )
        self.delivery_lead_time = Gauge(
            "deploybot_lead_time_median_seconds",
            "Median time from a release's first deploy to its arrival in the last environment",
            delivery,
            registry=self.registry,
        )
        self.delivery_failure_rate = Gauge(
            "deploybot_change_failure_rate",
            "Deploys to the last environment that failed or were rolled back, over all deploys there",
            delivery,
            registry=self.registry,
        )
        self.delivery_restore = Gauge(
            "deploybot_time_to_restore_median_seconds",
            "Median time from a failed deploy in the last environment to the next healthy release there",
            delivery,
            registry=self.registry,
        )

    def show_delivery(self, figures: Any) -> None:
        """Put `bot.reports.stats.Stats` (every app) into the delivery gauges."""
        for period, numbers in (("7d", figures.periods[-1]), ("28d", figures.total)):
            self.delivery_deploys.labels(period).set(numbers.deploys)
            for gauge, value in (
                (self.delivery_lead_time, numbers.lead_time),
                (self.delivery_failure_rate, numbers.failure_rate),
                (self.delivery_restore, numbers.time_to_restore),
            ):
                gauge.labels(period).set(math.nan if value is None else value)

    def render(self) -> bytes:
        return generate_latest(self.registry)
