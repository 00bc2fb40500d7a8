"""`make image-test`'s driver: the bot's image, started with buildah, answering on loopback against the fakes.

    python -m tests.image localhost/govuk-deploy-bot:test

Starts the fake Slack and GitHub and a bare charts repository on this machine, runs `python -m bot serve`
inside the image (`buildah run --isolation chroot`, which shares this machine's network, so the bot and
the fakes meet on 127.0.0.1), then checks that `/healthz` and `/readyz` answer 200, that a signed
`/deploy help` gets the usage, and that the process listening on the port is not root. Exit 0 or 1.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

from tests.fakes import FakeGitHub, FakeSlack
from tests.support.app import Client, add_standard_members, bot_environment
from tests.support.charts import make_charts_remote
from tests.support.local_servers import free_port

STARTUP_SECONDS = 120.0


def listening_uid(port: int) -> int | None:
    """The uid owning the socket that listens on 127.0.0.1:`port` (the network is shared, so /proc/net/tcp
    here shows the container's sockets too)."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, state, uid = fields[1], fields[3], fields[7]
        if state == "0A" and int(local.split(":")[1], 16) == port:  # 0A: LISTEN
            return int(uid)
    return None


def wait_healthy(client: Client, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the bot exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if client.http.get("/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"the bot did not answer /healthz in {STARTUP_SECONDS:.0f}s:\n{log.read_text()[-3000:]}")


def check(image: str) -> list[str]:
    """What is wrong with the running image (nothing: an empty list)."""
    problems: list[str] = []
    with tempfile.TemporaryDirectory(prefix="deploybot-image-") as folder, FakeSlack() as slack, FakeGitHub() as github:
        tmp = Path(folder)
        os.chmod(tmp, 0o755)  # noqa: S103 - the container's user reads the charts remote in it
        add_standard_members(github)
        remote = make_charts_remote(tmp)
        port = free_port()
        env = bot_environment(
            tmp_path=tmp,
            fake_slack=slack,
            fake_github=github,
            charts_url=remote.url,
            redis_url="memory://",
            redis_prefix="deploybot:",
            PORT=str(port),
            CHARTS_WORKDIR="/tmp/govuk-helm-charts",
        )
        # the image runs as uid 1001: it reads the charts remote and pushes to it, as on a real git server
        subprocess.run(["chown", "-R", "1001:1001", str(tmp)], check=True)
        container = f"deploybot-image-test-{uuid.uuid4().hex[:8]}"
        subprocess.run(["buildah", "from", "--name", container, image], check=True, stdout=subprocess.DEVNULL)
        log = tmp / "bot.log"
        command = ["buildah", "run", "--isolation", "chroot", "--volume", f"{tmp}:{tmp}"]
        for name, value in env.items():
            command += ["--env", f"{name}={value}"]
        command += [container, "--", "python", "-m", "bot", "serve"]  # the image's CMD
        with open(log, "wb") as output:
            process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
        client = Client(f"http://127.0.0.1:{port}")
        try:
            wait_healthy(client, process, log)
            ready = client.http.get("/readyz")
            if ready.status_code != 200:
                problems.append(f"/readyz answered {ready.status_code}: {ready.text}")
            answer = client.slash("help", response_url=slack.response_url("help"))
            if answer.status_code != 200 or "/deploy" not in answer.text:
                problems.append(f"a signed /deploy help got {answer.status_code}: {answer.text[:300]}")
            uid = listening_uid(port)
            if uid is None:
                problems.append(f"no socket listening on port {port}")
            elif uid == 0:
                problems.append("the bot runs as root")
            else:
                print(f"the bot listens on 127.0.0.1:{port} as uid {uid}")
        finally:
            client.close()
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            subprocess.run(["buildah", "rm", container], check=False, stdout=subprocess.DEVNULL)
        if problems:
            print(log.read_text()[-3000:], file=sys.stderr)
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("image")
    problems = check(parser.parse_args().image)
    for problem in problems:
        print(f"image-test: {problem}", file=sys.stderr)
    if not problems:
        print("image-test: /healthz, /readyz and a signed /deploy help answered inside the image, as a non-root user")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
