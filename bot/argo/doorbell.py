"""Where the bot can read the truth, a webhook is a doorbell, not a witness (SPEC 13).

In an environment with an Argo CD token, a sync-outcome webhook makes the bot read that
Application now (one `GET /api/v1/applications/{name}`) and only what Argo CD says counts; with an
Argo Workflows token, a test-outcome webhook makes it read the test workflows now. So no token can
fake a sync or a passing test there, and a webhook for a release Argo CD never ran posts nothing.
Where there is no token, the webhook is the only witness, as before.

Only an Application the last list pass recorded is read: the list asks for `argocd_project` alone,
so a webhook naming an Application that does not exist (a 403 from the real server), one of
another project, or any Application before the first pass has recorded what already ran, reads
nothing, counts no error and posts nothing; the next pass sees whatever is real. That also bounds
the reads waiting to the Applications of the project, however many names a token holder sends.

The read happens off the request thread (the webhook is answered 202 at once: SPEC 10.5, reading
the APIs never delays a webhook). Rings for the same Application, or the same environment's
workflows, that arrive while one is waiting are one read.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

from bot.webhooks import SmokeEvent, SyncEvent

log = logging.getLogger(__name__)

ACCEPTED = "applied"  # answered as an accepted event: what it leads to is Argo's to say


class Witness(Protocol):
    def sync(self, event: SyncEvent) -> str: ...
    def tests(self, event: SmokeEvent) -> str: ...


class Reader(Protocol):
    def ring_argocd(self, env: str, application: str) -> Any: ...
    def ring_workflows(self, env: str) -> Any: ...
    def recorded_application(self, env: str, application: str) -> Any: ...


class Doorbell:
    def __init__(
        self,
        *,
        witness: Witness,
        reader: Reader,
        reads_argocd: Callable[[str], bool],
        reads_workflows: Callable[[str], bool],
    ) -> None:
        self.witness = witness  # the release events a webhook applies where nothing can be read
        self.reader = reader
        self.reads_argocd = reads_argocd
        self.reads_workflows = reads_workflows
        self.jobs = ThreadPoolExecutor(max_workers=2, thread_name_prefix="argo-doorbell")
        self._waiting: set[tuple[str, ...]] = set()
        self._pending = 0
        self._idle = threading.Condition()

    def sync(self, event: SyncEvent) -> str:
        if not self.reads_argocd(event.env):
            return self.witness.sync(event)
        if not self._listed(event.env, event.application):
            return ACCEPTED  # not (yet) an Application of the project: the next pass sees what is real
        self._ring(("argocd", event.env, event.application), self.reader.ring_argocd, event.env, event.application)
        return ACCEPTED

    def tests(self, event: SmokeEvent) -> str:
        if not self.reads_workflows(event.env):
            return self.witness.tests(event)
        self._ring(("workflows", event.env), self.reader.ring_workflows, event.env)
        return ACCEPTED

    def _listed(self, env: str, application: str) -> bool:
        try:
            return self.reader.recorded_application(env, application) is not None
        except Exception as error:  # the store unreadable: the next pass reads Argo CD anyway
            log.warning("doorbell: could not tell whether %s is listed: %s", application, type(error).__name__)
            return False

    def _ring(self, key: tuple[str, ...], read: Callable[..., Any], *args: str) -> None:
        with self._idle:
            if key in self._waiting:
                return  # a read already waits: it will see whatever this webhook is about
            self._waiting.add(key)
            self._pending += 1

        def run() -> None:
            with self._idle:
                self._waiting.discard(key)
            try:
                read(*args)
            except Exception:  # a read must never take the webhook path down with it
                log.exception("doorbell: reading %s failed", key[0])
            finally:
                with self._idle:
                    self._pending -= 1
                    self._idle.notify_all()

        self.jobs.submit(run)

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Wait until every read rung for so far is done (tests, shutdown)."""
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout=timeout)

    def stop(self) -> None:
        self.jobs.shutdown(wait=True)
