"""The test support's local servers: a port picked for a server that turns out to be taken is not a flake."""

from __future__ import annotations

import socket

import pytest

import tests.support.app as app_support
from tests.support.app import ServeProcess
from tests.support.local_servers import free_port


def test_ports_handed_out_are_never_the_same_twice_and_nobody_listens_on_them() -> None:
    ports = [free_port() for _ in range(50)]
    assert len(set(ports)) == len(ports)
    for port in ports[:5]:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", port))  # free: nothing listens there


def test_a_bot_whose_port_was_taken_before_it_listened_starts_on_another(
    bot_env, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    taken = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    taken.bind(("127.0.0.1", 0))
    taken.listen()  # someone else took the port between it being picked and the bot listening on it
    picks = iter([taken.getsockname()[1]])
    monkeypatch.setattr(app_support, "free_port", lambda: next(picks, None) or free_port())
    try:
        process = ServeProcess(bot_env, log_path=tmp_path / "serve.log")
        try:
            assert process.process.poll() is None
            assert int(process.env["PORT"]) != taken.getsockname()[1]
            assert process.http.get("/healthz", timeout=5).status_code == 200
        finally:
            process.stop()
    finally:
        taken.close()
