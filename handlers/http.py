"""The bot's HTTP endpoints as one WSGI application.

Each route checks who is asking and whether the body is acceptable, makes one call into the
core and turns the answer into JSON. Every failure has a deliberate status; no request,
however malformed, reaches a 500 or shows a traceback.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import math
import time
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs

from slack_bolt import App, BoltRequest

from bot import messages, tokens, webhooks
from bot.gitops.charts import ChartsError
from bot.names import is_valid_app_name
from bot.services import Services
from bot.store import LockNotAcquired, StoreError, StoreUnavailable

log = logging.getLogger(__name__)

Response = tuple[int, dict[str, str], bytes]
STATUS_TEXT = {
    200: "OK",
    202: "Accepted",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    413: "Payload Too Large",
    429: "Too Many Requests",
    503: "Service Unavailable",
}
REPLAY_WINDOW_SECONDS = 600


def _json(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    return status, {"Content-Type": "application/json", **(headers or {})}, json.dumps(body).encode()


def _error(status: int, message: str) -> Response:
    return _json(status, {"ok": False, "error": message})


class HttpApp:
    def __init__(self, services: Services, bolt: App, clock: Callable[[], float] = time.time) -> None:
        self.services = services
        self.bolt = bolt
        self.clock = clock
        self.signing_secret = services.settings.slack_signing_secret.reveal().encode()
        self.webhook_token = services.settings.webhook_token.reveal().encode()
        self.env_tokens = {env: token.reveal().encode() for env, token in services.settings.webhook_env_tokens.items()}
        self.routes: dict[tuple[str, str], Callable[[dict[str, Any]], Response]] = {
            ("GET", "/healthz"): lambda environ: _json(200, {"ok": True}),
            ("GET", "/readyz"): self.readyz,
            ("GET", "/metrics"): self.metrics,
            ("POST", "/slack/events"): self.slack_events,
            ("POST", "/webhooks/argocd"): self.webhook(self.argocd),
            ("POST", "/webhooks/smokey"): self.webhook(self.smokey),
            ("POST", "/webhooks/tests"): self.webhook(self.tests),
            ("POST", "/update-image-tag"): self.webhook(self.update_image_tag),
        }

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        try:
            status, headers, body = self.dispatch(environ)
        except Exception:
            log.exception("unhandled error on %s %s", environ.get("REQUEST_METHOD"), environ.get("PATH_INFO"))
            status, headers, body = _error(503, "the bot could not handle this request; it has been logged")
        start_response(
            f"{status} {STATUS_TEXT.get(status, 'OK')}",
            [*headers.items(), ("Content-Length", str(len(body)))],
        )
        return [body]

    def dispatch(self, environ: dict[str, Any]) -> Response:
        method, path = environ.get("REQUEST_METHOD", "GET"), environ.get("PATH_INFO", "/")
        route = self.routes.get((method, path))
        if route is not None:
            return route(environ)
        if any(known_path == path for _, known_path in self.routes):
            return _error(405, f"{method} is not allowed on {path}")
        return _error(404, "no such endpoint")

    # -- health -----------------------------------------------------------------------------

    def readyz(self, environ: dict[str, Any]) -> Response:
        reason = self.services.readiness()
        return _json(200, {"ok": True}) if reason is None else _error(503, reason)

    def metrics(self, environ: dict[str, Any]) -> Response:
        return 200, {"Content-Type": self.services.metrics.content_type}, self.services.metrics.render()

    # -- Slack ------------------------------------------------------------------------------

    def slack_events(self, environ: dict[str, Any]) -> Response:
        started = time.perf_counter()
        try:
            return self._slack_events(environ)
        finally:
            self.services.metrics.slack_ack_seconds.labels("http").observe(time.perf_counter() - started)

    def _slack_events(self, environ: dict[str, Any]) -> Response:
        body = _read_body(environ)
        if body is None:
            return _error(413, f"the body is larger than {webhooks.MAX_BODY} bytes")
        timestamp = environ.get("HTTP_X_SLACK_REQUEST_TIMESTAMP", "")
        signature = environ.get("HTTP_X_SLACK_SIGNATURE", "")
        if not self._signed_by_slack(body, timestamp, signature):
            return _error(401, "invalid or stale Slack signature")
        try:
            first_time = self.services.store.claim(
                self.services.store.key("slack-request", hashlib.sha256(signature.encode()).hexdigest()),
                REPLAY_WINDOW_SECONDS,
            )
        except StoreError:
            return _json(200, {"response_type": "ephemeral", "text": messages.STORE_DOWN})
        if not first_time:
            log.warning("ignored a replayed Slack request (same signature seen within %ss)", REPLAY_WINDOW_SECONDS)
            return 200, {"Content-Type": "text/plain"}, b""
        headers = {
            name[5:].replace("_", "-").lower(): value for name, value in environ.items() if name.startswith("HTTP_")
        }
        headers["content-type"] = environ.get("CONTENT_TYPE", "")
        text = body.decode("utf-8", "replace")
        if not _slack_shaped(text, headers["content-type"]):
            return _error(400, "not a Slack request body")
        try:
            request = BoltRequest(body=text, headers=headers)
        except (ValueError, TypeError, AttributeError, KeyError, IndexError):
            return _error(400, "not a Slack request body")  # Bolt's parser rejects it; say so plainly
        response = self.bolt.dispatch(request)
        response_headers = {k: v[0] for k, v in response.headers.items() if v and k.lower() != "content-length"}
        if response.status >= 500:
            log.error("Bolt answered %s for a Slack request", response.status)
            return _json(200, {"response_type": "ephemeral", "text": "Something went wrong; nothing was done."})
        return response.status, response_headers, (response.body or "").encode()

    def _signed_by_slack(self, body: bytes, timestamp: str, signature: str) -> bool:
        """Slack's v0 signature over `v0:{timestamp}:{body}`, within five minutes of now."""
        if not self.signing_secret or not _plausible_unix_time(timestamp):
            return False
        if abs(self.clock() - int(timestamp)) > 300:
            return False
        expected = (
            "v0=" + hmac.new(self.signing_secret, b"v0:" + timestamp.encode() + b":" + body, hashlib.sha256).hexdigest()
        )
        return hmac.compare_digest(expected.encode(), signature.encode("utf-8", "replace"))

    # -- webhooks ---------------------------------------------------------------------------

    def webhook(
        self, handle: Callable[[dict[str, Any], tokens.Grant], Response]
    ) -> Callable[[dict[str, Any]], Response]:
        endpoint = handle.__name__

        def route(environ: dict[str, Any]) -> Response:
            grant = self._authorised(environ.get("HTTP_AUTHORIZATION", ""))
            if grant is None:
                self.services.metrics.webhooks.labels(endpoint, "unauthorised").inc()
                status, headers, body = _error(401, "missing or wrong bearer token")
                return status, {**headers, "WWW-Authenticate": "Bearer"}, body
            body = _read_body(environ)
            if body is None:
                self.services.metrics.webhooks.labels(endpoint, "too_large").inc()
                return _error(413, f"the body is larger than {webhooks.MAX_BODY} bytes")
            try:
                response = handle(webhooks.parse_json(body), grant)
            except webhooks.Invalid as invalid:
                self.services.metrics.webhooks.labels(endpoint, "invalid").inc()
                return _error(400, str(invalid))
            except (StoreError, StoreUnavailable, LockNotAcquired):
                self.services.metrics.webhooks.labels(endpoint, "store_unavailable").inc()
                return _error(503, "state store unavailable; retry later")
            self.services.metrics.webhooks.labels(endpoint, str(response[0])).inc()
            return response

        return route

    def _authorised(self, header: str) -> tokens.Grant | None:
        scheme, _, token = header.partition(" ")
        grant = tokens.identify(token.strip().encode("utf-8", "replace"), self.webhook_token, self.env_tokens)
        return grant if scheme.lower() == "bearer" else None

    def argocd(self, data: dict[str, Any], grant: tokens.Grant) -> Response:
        event = webhooks.sync_event(data, self.services.settings.environment_names)
        refused = self._outcome_refused(grant, event.env, event.app, event.tag)
        return refused or _event_answer(self.services.doorbell.sync(event))

    def smokey(self, data: dict[str, Any], grant: tokens.Grant) -> Response:
        event = webhooks.smoke_event(data, self.services.settings.environment_names)
        refused = self._outcome_refused(grant, event.env, event.app, event.tag)
        return refused or _event_answer(self.services.doorbell.tests(event))

    def tests(self, data: dict[str, Any], grant: tokens.Grant) -> Response:
        event = webhooks.smoke_event(data, self.services.settings.environment_names, default_suite="e2e")
        refused = self._outcome_refused(grant, event.env, event.app, event.tag)
        return refused or _event_answer(self.services.doorbell.tests(event))

    def _outcome_refused(self, grant: tokens.Grant, env: str, app: str, tag: str) -> Response | None:
        """403 for a token that may not report for `env`; 400 for an app with no image-tag file there;
        429 for a release new to the bot once the token has opened its share of new cards."""
        refusal = tokens.may_report(grant, env)
        if refusal:
            return _error(403, refusal)
        return self._unknown_app(env, app) or self._over_quota(grant, app, tag)

    def _over_quota(self, grant: tokens.Grant, app: str, tag: str) -> Response | None:
        quota = self.services.card_quota
        wait = quota.admit(grant.name, app, tag) if quota else 0.0
        if wait <= 0:
            return None
        status, headers, body = _error(429, messages.too_many_new_cards(grant.name, quota.limit, quota.window))
        return status, {**headers, "Retry-After": str(max(1, math.ceil(wait)))}, body

    def _unknown_app(self, env: str, app: str) -> Response | None:
        charts = self.services.charts
        if is_valid_app_name(app) and app in charts.apps(env):
            return None
        not_ready = charts.is_usable()
        if not_ready:
            return _error(503, not_ready)
        if is_valid_app_name(app):
            try:
                charts.catch_up()  # an app added since the last sync is not unknown; costs one ls-remote
            except ChartsError:
                return _error(503, "the charts repository cannot be read right now; retry later")
            if app in charts.apps(env):
                return None
        return _error(400, f"no app called {app} in {env}")

    def update_image_tag(self, data: dict[str, Any], grant: tokens.Grant) -> Response:
        settings = self.services.settings
        deploy = webhooks.ci_deploy(data, settings.environment_names)
        right = tokens.deploy_right(grant, deploy.env, settings.environment_names, settings.ci_environments)
        if not right.allowed:
            return _error(403, right.refusal or "")
        not_ready = self.services.charts.is_usable()
        if not_ready:
            return _error(503, not_ready)
        unknown = self._unknown_app(deploy.env, deploy.app)
        if unknown:
            return unknown
        if right.source_env is not None:
            refusal = self._promotion_refusal(grant, deploy, right.source_env)
            if refusal:
                return _error(403, refusal)
        held = self.services.safety.hold_if_blocked(
            deploy.app, deploy.env, deploy.tag, deploy.promote_deployment, source_env=right.source_env
        )
        if held:
            return _json(202, {"ok": True, "held": True})  # frozen or outside its window: kept, not deployed
        recorded = self.services.deployer.ci_deploy(
            deploy.app, deploy.env, deploy.tag, deploy.promote_deployment, source_env=right.source_env
        )
        if not recorded:
            return _error(503, "state store unavailable; retry later")  # not recorded, so not accepted
        return _json(202, {"ok": True})

    def _promotion_refusal(self, grant: tokens.Grant, deploy: webhooks.CiDeploy, source_env: str) -> str | None:
        """Checked on the snapshot at once; only when it disagrees is the remote asked whether it moved.

        The charts writer checks again on the fresh head before committing (the deploy carries its source).
        """
        charts = self.services.charts
        refusal = tokens.promotion_refusal(
            grant, deploy.env, source_env, deploy.tag, charts.current_tag(source_env, deploy.app)
        )
        if refusal is None:
            return self._untested(deploy, source_env)
        try:
            charts.catch_up()
        except ChartsError:
            return f"{refusal}; the charts repository could not be read to check again"
        return tokens.promotion_refusal(
            grant, deploy.env, source_env, deploy.tag, charts.current_tag(source_env, deploy.app)
        ) or self._untested(deploy, source_env)

    def _untested(self, deploy: webhooks.CiDeploy, source_env: str) -> str | None:
        """A release whose tests failed there never moves on; where the bot reads an environment's tests
        itself, only one whose tests passed there does."""
        return self.services.book.promotion_blocked_by_tests(
            deploy.app,
            deploy.tag,
            source_env,
            deploy.env,
            must_pass=source_env in self.services.settings.workflows_tokens,
        )


def _event_answer(result: str) -> Response:
    if result == "duplicate":
        return _json(200, {"ok": True, "duplicate": True})
    return _json(202, {"ok": True})


def _plausible_unix_time(timestamp: str) -> bool:
    """ASCII digits only and at most 11 of them (until the year 5138): anything longer would overflow
    the comparison with the clock, and no genuine Slack request carries it."""
    return 0 < len(timestamp) <= 11 and timestamp.isascii() and timestamp.isdigit()


def _slack_shaped(text: str, content_type: str) -> bool:
    """A body Bolt can parse: a JSON object, or a form whose `payload` (if any) is a JSON object."""
    try:
        if content_type.startswith("application/json"):
            return isinstance(json.loads(text), dict)
        fields = parse_qs(text, keep_blank_values=True)
        if "payload" in fields:
            payload = json.loads(fields["payload"][0])
            return isinstance(payload, dict) and isinstance(payload.get("type", ""), str)
        return True
    except (ValueError, RecursionError):
        return False


def _read_body(environ: dict[str, Any]) -> bytes | None:
    """The request body, or None when it is over the limit (read no further than that)."""
    try:
        declared = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > webhooks.MAX_BODY:
        return None
    stream = environ.get("wsgi.input")
    body = stream.read(min(declared, webhooks.MAX_BODY) if declared else webhooks.MAX_BODY + 1) if stream else b""
    return None if len(body) > webhooks.MAX_BODY else body
