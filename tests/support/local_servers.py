"""Local servers for tests and benchmarks: free loopback ports and a throwaway redis-server."""

from __future__ import annotations

import os
import random
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import redis

_handed_out: set[int] = set()
_handing_out = threading.Lock()


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


def _own_slice() -> range:
    """Ports below the kernel's ephemeral range (which outgoing connections and every `bind(0)` draw
    from, so one of them cannot take the port between now and its use), split between pytest-xdist
    workers so two workers never pick the same one."""
    low, _ = _ephemeral_range()
    first, last = 20000, min(low, 32768)
    if last - first < 1000:
        return range(0)
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw")
    workers = max(1, int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1") or 1))
    index = int(worker) % workers if worker.isdigit() else 0
    span = (last - first) // workers
    return range(first + index * span, first + (index + 1) * span)


def _nobody_listens(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port() -> int:
    """A loopback port nobody listens on, never handed out twice in one process. A server that may
    still find it taken (another test run on the machine) retries with another (`ServeProcess` does)."""
    own = _own_slice()
    with _handing_out:
        for _ in range(200 if own else 0):
            port = random.choice(own)
            if port not in _handed_out and _nobody_listens(port):
                _handed_out.add(port)
                return port
        while True:  # no slice of our own: what the kernel gives, never the same twice
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                sock.bind(("127.0.0.1", 0))
                port = sock.getsockname()[1]
            if port not in _handed_out:
                _handed_out.add(port)
                return port


def answers_ping(url: str) -> bool:
    try:
        client = redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except (redis.RedisError, OSError, ValueError):
        return False


@contextmanager
def throwaway_redis(port: int | None = None) -> Iterator[str]:
    """A redis-server of its own on loopback (nothing saved to disk); yields its URL.

    Raises FileNotFoundError when redis-server is not installed, RuntimeError when it will not start.
    """
    binary = shutil.which("redis-server")
    if binary is None:
        raise FileNotFoundError("redis-server is not on the PATH")
    workdir = tempfile.mkdtemp(prefix="throwaway-redis-")
    port = port or free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", workdir],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    try:
        deadline = time.monotonic() + 10
        while not answers_ping(url):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("redis-server did not start")
            time.sleep(0.05)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(workdir, ignore_errors=True)
