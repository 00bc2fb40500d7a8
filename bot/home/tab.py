"""The Home tab of each person who looks at it: built from the store only, republished when it changes.

Opening the tab (`app_home_opened`) makes the person a watcher for 7 days and their tab due.
Changes make the tabs that show them due: a release's card (for the people who asked for it),
and, for every watcher, a freeze, an approval request, a deploy window opening or shutting, or
their own GitHub link. Due tabs live in one sorted set in the store, shared by every replica;
whichever replica's worker gets there first publishes, under a per-person claim held while it
builds and publishes and for 5 seconds after Slack has the view (SET NX PX), so nobody's tab is
published more than once in 5 seconds, however many replicas and changes there are. A change
during those 5 seconds leaves the tab due, so it is published once more when the claim ends:
changes are coalesced, never dropped.

Building a view reads only the store (the releases, the approvals, the freezes, the link) and
the configured windows. A card's link is its permalink, built from its channel and ts on the
workspace's archives URL, which is learnt once from Slack (`chat.getPermalink` of one card) and
kept in the store.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from bot import cards, messages
from bot.chat.pacing import Pacer
from bot.chat.service import Chat, ChatRejected, ChatUnavailable, RateLimited
from bot.config import SLACK_USER_ID, Settings
from bot.deploys.identity import Refusal, identify
from bot.home import view as home_view
from bot.home.view import ApprovalItem, DeployItem, HomeView
from bot.identity.approvals import EXPIRES_AFTER_SECONDS
from bot.releases.book import ReleaseBook
from bot.releases.model import Release
from bot.safety.windows import describe_opening
from bot.store import Store, StoreError

log = logging.getLogger(__name__)

WATCH_SECONDS = 7 * 24 * 3600  # a tab opened in the last 7 days is kept current
THROTTLE_MS = 5000  # at most one publish per person per 5 seconds
# held while a tab is built and published: longer than the Slack client's 10 s timeout, so no other
# replica publishes while this one's view is still on its way (it would land later, and older)
PUBLISH_LEASE_MS = 15000
RECENT_SECONDS = 24 * 3600  # "your deploys of the last 24 hours"
MAX_RELEASES_READ = 300  # of one person's last 24 hours, the newest (the view shows what fits)
DUE_PER_PASS = 500
LINK_CHECK_SECONDS = 2.0  # each watcher's GitHub link is read this often (one GET each, for linked people)
CARD_WAIT_SECONDS = 120  # a new release's card is normally on Slack within seconds

# Set each changed field of the hash and return the names of those that changed: one replica
# sees each change, so a freeze seen by two replicas makes each watcher's tab due once, not twice.
_CHANGED_FIELDS = """
local changed = {}
for i = 1, #ARGV, 2 do
  if redis.call('HGET', KEYS[1], ARGV[i]) ~= ARGV[i + 1] then
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
    table.insert(changed, ARGV[i])
  end
end
redis.call('EXPIRE', KEYS[1], 604800)
return changed
"""


class HomeTab:
    def __init__(
        self,
        *,
        settings: Settings,
        store: Store,
        book: ReleaseBook,
        approvals: Any,
        freezes: Any,
        links: Any,
        signer: Any,
        chat: Chat,
        pacer: Pacer,
        runs: cards.Runs,
        clock: Callable[[], float],
        every: float = 0.5,
        on_publish: Callable[[str], None] | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.book = book
        self.approvals = approvals
        self.freezes = freezes
        self.links = links
        self.signer = signer
        self.chat = chat
        self.pacer = pacer
        self.runs = runs
        self.clock = clock
        self.every = every
        self.on_publish = on_publish or (lambda outcome: None)
        self._changed: set[tuple[str, str]] = set()
        self._changed_lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._links_checked_at = float("-inf")  # time.monotonic() of this replica's last look at the links

    # -- keys ----------------------------------------------------------------------------------------

    @property
    def _watchers_key(self) -> str:
        return self.store.key("home", "watchers")

    @property
    def _due_key(self) -> str:
        return self.store.key("home", "due")

    @property
    def _seen_key(self) -> str:
        return self.store.key("home", "seen")

    def _throttle_key(self, user: str) -> str:
        return self.store.key("home", "published", user)

    def _deploys_key(self, user: str) -> str:
        return self.store.key("home", "deploys", user)

    @property
    def _archives_key(self) -> str:
        return self.store.key("home", "archives")

    # -- what makes a tab due --------------------------------------------------------------------------

    def opened(self, user: str) -> None:
        """`app_home_opened`: keep this person's tab current for 7 days, and show it now."""
        if not isinstance(user, str) or not SLACK_USER_ID.fullmatch(user):
            log.warning("ignored app_home_opened for something that is not a Slack user ID")
            return
        now = self.clock()
        pipe = self.store.client.pipeline()
        pipe.zadd(self._watchers_key, {user: now})
        pipe.zadd(self._due_key, {user: now}, nx=True)
        try:
            pipe.execute()
        except StoreError as error:  # the event is answered all the same; the next opening shows it
            log.warning("Home tab of %s not shown: state store unavailable (%s)", user, error)
            return
        self._wake.set()

    def release_changed(self, app: str, tag: str) -> None:
        """A card changed (the book's hook): the worker finds whose tab shows it, off this thread."""
        with self._changed_lock:
            self._changed.add((app, tag))
        self._wake.set()

    def _note_releases(self, now: float) -> None:
        with self._changed_lock:
            changed, self._changed = self._changed, set()
        if not changed:
            return
        try:
            releases = self.book.get_many(sorted(changed))
            pipe = self.store.client.pipeline()
            people: set[str] = set()
            for release in releases:
                for user in _requesters(release):
                    people.add(user)
                    pipe.zadd(self._deploys_key(user), {f"{release.app}\n{release.tag}": now})
                    pipe.zremrangebyscore(self._deploys_key(user), "-inf", now - RECENT_SECONDS)
                    pipe.expire(self._deploys_key(user), RECENT_SECONDS + 3600)
            pipe.execute()
            self._make_due(sorted(people), now)
        except StoreError:
            with self._changed_lock:  # not lost: the next pass notes them again
                self._changed |= changed
            raise

    def _make_due(self, users: list[str], now: float) -> None:
        """Mark the tabs of those of `users` who watch it as due (the first change's time is kept)."""
        if not users:
            return
        pipe = self.store.client.pipeline()
        for user in users:
            pipe.zscore(self._watchers_key, user)
        watching = [
            u for u, opened in zip(users, pipe.execute(), strict=True) if opened and opened > now - WATCH_SECONDS
        ]
        if watching:
            self.store.client.zadd(self._due_key, dict.fromkeys(watching, now), nx=True)

    def watchers(self, now: float) -> list[str]:
        return self.store.client.zrangebyscore(self._watchers_key, now - WATCH_SECONDS, "+inf")

    def _note_shared_changes(self, watchers: list[str], now: float) -> None:
        """Freezes, approval requests, windows (everyone's tab) and each watcher's link (their own)."""
        fields = {"*": self._shared_fingerprint(now)}
        if time.monotonic() - self._links_checked_at >= LINK_CHECK_SECONDS:
            self._links_checked_at = time.monotonic()
            for user in watchers:
                fields[f"link:{user}"] = self._link_words(user)
        argv = [item for pair in fields.items() for item in pair]
        changed = self.store.client.eval(_CHANGED_FIELDS, 1, self._seen_key, *argv)
        if not changed:
            return
        if "*" in changed:
            self._make_due(watchers, now)
        else:
            self._make_due([name.split(":", 1)[1] for name in changed], now)

    def _shared_fingerprint(self, now: float) -> str:
        freezes = [f.to_json() for f in self.freezes.all()]
        # a request past its 30 minutes leaves the tab even before the expiry job gets to it
        pending = [
            (approval_id, now - requested_at > EXPIRES_AFTER_SECONDS)
            for approval_id, requested_at in self.approvals.pending_since()
        ]
        windows = self._window_lines(now)
        return hashlib.sha256(json.dumps([freezes, pending, windows]).encode()).hexdigest()[:32]

    # -- building a view (the store only) --------------------------------------------------------------

    def build(self, user: str) -> HomeView:
        now = self.clock()
        return HomeView(
            user=user,
            link_words=self._link_words(user),
            deploys=tuple(self._deploys(user, now)),
            approvals=tuple(self._approvals(user, now)),
            freezes=tuple(
                messages.home_freeze(f.app, f.env, messages.freeze_words(f.by.mention, f.by.login, f.at, f.reason))
                for f in self.freezes.all()
            ),
            windows=tuple(self._window_lines(now)),
            built_at=now,
        )

    def _recent_releases(self, user: str, now: float) -> list[Release]:
        members = self.store.client.zrevrangebyscore(
            self._deploys_key(user), "+inf", now - RECENT_SECONDS, start=0, num=MAX_RELEASES_READ
        )
        pairs = [tuple(m.split("\n", 1)) for m in members if "\n" in m]
        releases = []
        for release in self.book.get_many(pairs):  # type: ignore[arg-type]
            asked = [e.at or 0.0 for e in release.envs.values() if e.requester and e.requester.slack_user == user]
            if asked and max(asked) >= now - RECENT_SECONDS:
                releases.append((max(asked), release))
        releases.sort(key=lambda item: item[0], reverse=True)
        return [release for _, release in releases]

    def _deploys(self, user: str, now: float) -> list[DeployItem]:
        archives = self.store.client.get(self._archives_key)
        items = []
        for release in self._recent_releases(user, now):
            lines = cards.card_view(self.settings, self.signer, release, runs=self.runs).lines
            card = release.card
            # a root message's permalink is the workspace's archives, the channel, and `p` + its ts without the dot
            link = f"{archives}{card.channel}/p{card.ts.replace('.', '')}" if archives and card else None
            items.append(DeployItem(release.app, release.tag, link, tuple(lines)))
        return items

    def _approvals(self, user: str, now: float) -> list[ApprovalItem]:
        items = []
        for approval in self.approvals.pending():
            if approval.request.requester.slack_user == user or now - approval.requested_at > EXPIRES_AFTER_SECONDS:
                continue
            items.append(
                ApprovalItem(self.approvals.notice_text(approval), tuple(self.approvals.decision_buttons(approval)))
            )
        return items

    def _window_lines(self, now: float) -> list[str]:
        moment = datetime.fromtimestamp(now, UTC)
        lines = []
        for environment in self.settings.environments:
            windows = self.settings.deploy_windows(environment.name)
            is_open = windows.is_open(moment)
            opening = None if is_open else windows.next_opening(moment)
            lines.append(
                messages.home_window(
                    environment.name,
                    windows.always_open,
                    is_open,
                    describe_opening(opening, moment) if opening else None,
                )
            )
        return lines

    def _link_words(self, user: str) -> str:
        who = identify(self.settings, user, self.links)
        if isinstance(who, Refusal):
            if who.text == messages.STORE_DOWN:
                return who.text
            return messages.home_not_linked(bool(self.settings.github_oauth_client_id))
        return messages.home_linked(who.login or "?", who.origin or "config")

    def _learn_archives(self, user: str, now: float) -> None:
        """Before building, once for good: the workspace's archives URL, from Slack's permalink of one card."""
        if self.store.client.exists(self._archives_key):
            return
        card = next((r.card for r in self._recent_releases(user, now) if r.card is not None), None)
        if card is None:
            return
        try:
            found = self.pacer.call("chat.getPermalink", lambda: self.chat.permalink(card.channel, card.ts))
        except (RateLimited, ChatUnavailable, ChatRejected) as error:
            log.info("no permalink of a card yet: %s", error)
            return
        suffix = f"{card.channel}/p{card.ts.replace('.', '')}"
        if found and found.endswith(suffix) and "/archives/" in found:
            self.store.client.set(self._archives_key, found[: -len(suffix)])

    # -- publishing ------------------------------------------------------------------------------------

    def run_once(self) -> int:
        """One pass: note what changed, publish every due tab whose person may have one now; how many."""
        now = self.clock()
        self._note_releases(now)
        self.store.client.zremrangebyscore(self._watchers_key, "-inf", now - WATCH_SECONDS)
        watchers = self.watchers(now)
        if watchers:
            self._note_shared_changes(watchers, now)
        published = 0
        for user in self.store.client.zrangebyscore(self._due_key, "-inf", "+inf", start=0, num=DUE_PER_PASS):
            published += self._publish_due(user, now)
        return published

    def _publish_due(self, user: str, now: float) -> bool:
        opened = self.store.client.zscore(self._watchers_key, user)
        if not opened or opened <= now - WATCH_SECONDS:
            self.store.client.zrem(self._due_key, user)
            return False
        if not self.store.client.set(self._throttle_key(user), "1", nx=True, px=PUBLISH_LEASE_MS):
            return False  # published less than 5 s ago: still due, published when the claim ends
        # no longer due from here on: a change from now is shown by this publish or makes it due again
        self.store.client.zrem(self._due_key, user)
        try:
            self._learn_archives(user, now)
            blocks = home_view.to_blocks(self.build(user))
            self.pacer.call("views.publish", lambda: self.chat.publish_home(user, blocks))
        except (RateLimited, ChatUnavailable) as error:
            log.warning("Home tab of %s not published (%s); trying again", user, error)
            self.store.client.pexpire(self._throttle_key(user), THROTTLE_MS)  # tried again in 5 s, not 15
            self.store.client.zadd(self._due_key, {user: now}, nx=True)
            self.on_publish("retry")
            return False
        except ChatRejected as error:
            log.error("Slack refused the Home tab of %s: %s", user, error)
            self.on_publish("rejected")
            return False
        except Exception:
            # a store error (or any fault) while building: due again, shown once the claim ends and the store answers
            self._due_again(user, now)
            raise
        # the 5 seconds run from when Slack has it, not from the claim: never two within 5 s, whatever the build took
        self.store.client.pexpire(self._throttle_key(user), THROTTLE_MS)
        if self._cards_coming(user, now):
            self.store.client.zadd(self._due_key, {user: now}, nx=True)  # shown again, linked, in 5 s
        self.on_publish("ok")
        return True

    def _due_again(self, user: str, now: float) -> None:
        try:
            self.store.client.zadd(self._due_key, {user: now}, nx=True)
            self.store.client.pexpire(self._throttle_key(user), THROTTLE_MS)  # tried again in 5 s, not 15
        except StoreError as error:
            log.warning("Home tab of %s may stay out of date until its next change: %s", user, error)

    def _cards_coming(self, user: str, now: float) -> bool:
        """A new release of theirs shown without its card's link yet: posting a card changes no release."""
        archives_known = bool(self.store.client.exists(self._archives_key))
        return any(
            (release.card is None or not archives_known) and release.created > now - CARD_WAIT_SECONDS
            for release in self._recent_releases(user, now)
        )

    def next_due_in(self) -> float:
        """Seconds until a due tab's 5-second claim ends (or the usual pass interval), for the worker's sleep."""
        due = self.store.client.zrange(self._due_key, 0, 20)
        waits = [self.every]
        if due:
            pipe = self.store.client.pipeline()
            for user in due:
                pipe.pttl(self._throttle_key(user))
            waits.extend(max(0.01, ttl / 1000) for ttl in pipe.execute() if ttl and ttl > 0)
        return min(waits)

    def start(self) -> None:
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="home-tab", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stopping.is_set():
            wait = self.every
            self._wake.clear()  # before the pass: a change noted during it wakes the next one at once
            try:
                self.run_once()
                wait = self.next_due_in()
            except StoreError as error:
                log.warning("Home tabs not brought up to date: state store unavailable (%s)", error)
            except Exception:
                log.exception("Home tabs not brought up to date")
            self._wake.wait(wait)


def _requesters(release: Release) -> set[str]:
    """The Slack users who asked for this release anywhere: it is one of their deploys."""
    return {e.requester.slack_user for e in release.envs.values() if e.requester and e.requester.slack_user}
