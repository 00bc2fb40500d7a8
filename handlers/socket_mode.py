"""Socket Mode (`SLACK_APP_TOKEN`): Slack's requests over a WebSocket this replica opens, beside `/slack/events`.

Bolt's own built-in handler (`slack_bolt.adapter.socket_mode.builtin`, no extra dependency) gives each
envelope to the same Bolt app that answers `/slack/events`, so every listener (slash command, buttons,
events such as `app_home_opened`) works over either transport. Each replica opens one connection. Slack
hands an envelope to one open connection, and hands it again (perhaps to another replica) when its ack
did not arrive in time, so each request is claimed in the store first, as HTTP's replay check does, and
a second delivery is acknowledged and dropped: a request is acted on once.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time

from slack_bolt import App
from slack_bolt.adapter.socket_mode.builtin import SocketModeHandler
from slack_bolt.adapter.socket_mode.internals import run_bolt_app, send_response
from slack_sdk import WebClient
from slack_sdk.socket_mode.builtin import SocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse

from bot import messages
from bot.services import Services
from bot.store import StoreError, StoreUnavailable

log = logging.getLogger(__name__)

# Slack re-delivers an unacknowledged envelope within seconds and gives up after a few tries; ten minutes
# is the same window as HTTP's replay check.
CLAIM_SECONDS = 600
RECONNECT_SECONDS = 5.0


def delivery_key(request: SocketModeRequest) -> str:
    """What stays the same when Slack delivers a request again: the event's ID, the command's or click's
    trigger_id, else the envelope's ID."""
    payload = request.payload if isinstance(request.payload, dict) else {}
    identity = payload.get("event_id") or payload.get("trigger_id") or request.envelope_id
    return hashlib.sha256(f"{request.type}:{identity}".encode()).hexdigest()


class _OnceHandler(SocketModeHandler):
    """Bolt's built-in handler, acting on each request once however often Slack delivers it."""

    def __init__(self, bolt: App, app_token: str, web_client: WebClient, services: Services) -> None:
        super().__init__(bolt, app_token, web_client=web_client, logger=log)
        self.services = services

    def handle(self, client: SocketModeClient, req: SocketModeRequest) -> None:  # type: ignore[override]
        started, wall = time.perf_counter(), time.time()
        try:
            self._handle(client, req, wall)
        finally:
            self.services.metrics.slack_ack_seconds.labels("socket_mode").observe(time.perf_counter() - started)

    def _handle(self, client: SocketModeClient, req: SocketModeRequest, wall: float) -> None:
        store = self.services.store
        try:
            first_time = store.claim(store.key("slack-envelope", delivery_key(req)), CLAIM_SECONDS)
        except (StoreError, StoreUnavailable):
            payload = {"response_type": "ephemeral", "text": messages.STORE_DOWN}
            client.send_socket_mode_response(
                SocketModeResponse(req.envelope_id, payload if req.type == "slash_commands" else None)
            )
            return
        if not first_time:
            log.warning(
                "acknowledged and ignored a Slack %s envelope delivered again (retry %s)", req.type, req.retry_attempt
            )
            client.send_socket_mode_response(SocketModeResponse(req.envelope_id))
            return
        response = run_bolt_app(self.app, req)
        if response.status == 200:
            send_response(client, req, response, wall)
            return
        # Acknowledged all the same: unacknowledged, Slack would deliver it again only to be dropped above.
        failed = response.status >= 500
        log.log(
            logging.ERROR if failed else logging.INFO,
            "Bolt answered %s for a Slack %s envelope",
            response.status,
            req.type,
        )
        said = {"response_type": "ephemeral", "text": messages.SOCKET_MODE_FAILED}
        client.send_socket_mode_response(
            SocketModeResponse(req.envelope_id, said if failed and req.type == "slash_commands" else None)
        )


class SocketMode:
    """This replica's one Socket Mode connection: asked for in the background until Slack hands out a URL,
    then kept open by the SDK (which opens a new one on a `disconnect` from Slack, a refused or lost one)."""

    def __init__(self, services: Services, bolt: App, *, reconnect_seconds: float = RECONNECT_SECONDS) -> None:
        settings = services.settings
        self.handler = _OnceHandler(
            bolt,
            settings.slack_app_token.reveal(),
            # apps.connections.open is called with the app-level token, at SLACK_API_URL like every other call
            WebClient(base_url=settings.slack_api_url),
            services,
        )
        self.reconnect_seconds = reconnect_seconds
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        services.metrics.socket_mode_connected.set_function(lambda: 1.0 if self.handler.client.is_connected() else 0.0)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._connect, name="socket-mode", daemon=True)
        self._thread.start()

    def _connect(self) -> None:
        while not self._stopping.is_set():
            try:
                self.handler.connect()
            except Exception as error:  # Slack refused apps.connections.open, or could not be reached: retry
                log.warning(
                    "Socket Mode could not connect (%s: %s); trying again in %ss",
                    type(error).__name__,
                    error,
                    self.reconnect_seconds,
                )
                self._stopping.wait(self.reconnect_seconds)
                continue
            # From here the SDK keeps the connection open: it asks for a new URL whenever one fails or closes.
            if self.handler.client.is_connected():
                log.info("Socket Mode connected: Slack's requests arrive over this replica's WebSocket too")
            else:
                log.warning("Socket Mode could not open its WebSocket yet; the Slack SDK keeps trying")
            return

    def stop(self) -> None:
        """Close the connection; envelopes being handled finish first (the SDK's workers are joined)."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.handler.close()


def socket_mode(services: Services, bolt: App) -> SocketMode | None:
    """Socket Mode when SLACK_APP_TOKEN is set, else None (HTTP alone)."""
    return SocketMode(services, bolt) if services.settings.slack_app_token else None
