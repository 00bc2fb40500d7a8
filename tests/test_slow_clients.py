"""Requests are read with a deadline (SPEC 13): slow clients cannot stop the bot answering.

Real sockets on loopback against the whole bot (the harness runs the same HTTP server as
`python -m bot serve`). A slow client opens a request and sends one header line every couple of
seconds, which an inactivity timeout alone never cuts off. Every loop here is bounded.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest

from tests.support.app import MEMBER, BotHarness, ServeProcess

SLOW_CLIENTS = 200
DRIP_EVERY = 2.0  # seconds between one slow client's header lines
IN_TIME = 3.0  # Slack wants a slash command answered within 3 s; health checks get no longer


HEADERS_BEGUN = b"POST /slack/events HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain\r\n"
BODY_BEGUN = HEADERS_BEGUN + b"Content-Length: 60000\r\n\r\n"  # then the body, a line at a time


def open_slow_client(port: int, first: bytes = HEADERS_BEGUN) -> socket.socket:
    client = socket.create_connection(("127.0.0.1", port), timeout=5)
    client.sendall(first)
    return client


@contextmanager
def slow_clients(port: int, count: int, first: bytes = HEADERS_BEGUN) -> Iterator[list[socket.socket]]:
    """`count` clients that each send one more line every DRIP_EVERY seconds, never finishing."""
    clients = [open_slow_client(port, first) for _ in range(count)]
    stop = threading.Event()

    def drip() -> None:
        deadline = time.monotonic() + 120  # bounded, whatever the test does
        while not stop.wait(DRIP_EVERY) and time.monotonic() < deadline:
            for client in clients:
                with contextlib.suppress(OSError):  # cut off by the bot: what it should do, eventually
                    client.send(b"X-Slow: 1\r\n")

    dripper = threading.Thread(target=drip, name="slow-clients", daemon=True)
    dripper.start()
    try:
        yield clients
    finally:
        stop.set()
        dripper.join(timeout=10)
        for client in clients:
            client.close()


def timed(call) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = call()
    return response, time.monotonic() - started


def test_two_hundred_slow_clients_do_not_stop_health_checks_or_a_signed_slash_command(bot: BotHarness):
    port = bot.server.port
    with slow_clients(port, SLOW_CLIENTS), httpx.Client(base_url=bot.base_url, timeout=10) as http:
        for _ in range(3):  # over several drips, not only the first moment
            health, took = timed(lambda: http.get("/healthz"))
            assert health.status_code == 200 and took < IN_TIME, (health.status_code, took)
            ready, took = timed(lambda: http.get("/readyz"))
            assert ready.status_code == 200 and took < IN_TIME, (ready.status_code, ready.text, took)
            slash, took = timed(lambda: bot.slash("whoami", user=MEMBER))
            assert slash.status_code == 200 and "octocat" in slash.text and took < IN_TIME, (slash.text, took)
            time.sleep(DRIP_EVERY)


@pytest.mark.parametrize("first", [HEADERS_BEGUN, BODY_BEGUN], ids=["headers", "body"])
def test_a_request_not_all_arrived_within_ten_seconds_is_cut_off_and_a_slow_but_timely_one_is_answered(
    bot: BotHarness, first: bytes
):
    port = bot.server.port
    with slow_clients(port, 1, first) as [client]:
        client.settimeout(30)
        started = time.monotonic()
        try:
            cut = client.recv(1024)  # b"" (closed) or whatever the bot says before closing
        except ConnectionResetError:
            cut = b""
        after = time.monotonic() - started
    assert b"200" not in cut.split(b"\r\n")[0]
    assert 9.0 <= after <= 25.0, after

    timely = socket.create_connection(("127.0.0.1", port), timeout=30)
    try:
        for line in (b"GET /healthz HTTP/1.1\r\n", b"Host: 127.0.0.1\r\n", b"X-Slow: 1\r\n", b"\r\n"):
            timely.sendall(line)
            time.sleep(1.0)  # four seconds in all: slow, but within the deadline
        answer = timely.recv(1024)
    finally:
        timely.close()
    assert answer.startswith(b"HTTP/1.1 200"), answer


def test_python_m_bot_serve_answers_through_two_hundred_slow_clients(bot_env, tmp_path):
    process = ServeProcess(bot_env, log_path=tmp_path / "serve.log")
    try:
        port = int(process.env["PORT"])
        with slow_clients(port, SLOW_CLIENTS), httpx.Client(base_url=process.base_url, timeout=10) as http:
            time.sleep(DRIP_EVERY)  # every slow client has sent more than its first line
            health, took = timed(lambda: http.get("/healthz"))
            assert health.status_code == 200 and took < IN_TIME, (health.status_code, took)
            slash, took = timed(lambda: process.slash("whoami", user=MEMBER))
            assert slash.status_code == 200 and "octocat" in slash.text and took < IN_TIME, (slash.text, took)
    finally:
        process.stop()
