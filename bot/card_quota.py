"""How many new cards one webhook token may open: at most 30 in any 60 seconds (SPEC section 13).

A webhook for a release the bot has not seen before opens a card in the alerts channel. Whoever
holds a token could otherwise open thousands, bury the cards people need and fill the store. Each
token gets a sliding window in the store (one sorted set of the times it opened a card), shared
by every replica and checked and taken in one script, so two replicas can never both take the
last place. A place belongs to the release it was taken for: until the store knows that release
(the doorbell's read has not landed, or its write failed) every webhook about it asks again, and
finds its place already there, so one release never takes two. A webhook beyond it is refused
before anything is written.
"""

from __future__ import annotations

from collections.abc import Callable

from bot.releases.book import ReleaseBook
from bot.store import Store

NEW_CARDS_PER_WINDOW = 30
WINDOW_SECONDS = 60.0

# KEYS[1]: the token's window; ARGV: now, window length, limit, the release.
# Returns 0 when the release has its place (already, or taken now), else the seconds until the oldest frees.
_TAKE = """
local now, window, limit = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZSCORE', KEYS[1], ARGV[4]) then
  return '0'
end
if redis.call('ZCARD', KEYS[1]) >= limit then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return tostring(tonumber(oldest[2]) + window - now)
end
redis.call('ZADD', KEYS[1], now, ARGV[4])
redis.call('PEXPIRE', KEYS[1], math.ceil(window * 1000))
return '0'
"""


class CardQuota:
    def __init__(
        self,
        store: Store,
        book: ReleaseBook,
        clock: Callable[[], float],
        limit: int = NEW_CARDS_PER_WINDOW,
        window: float = WINDOW_SECONDS,
    ) -> None:
        self.store = store
        self.book = book
        self.clock = clock
        self.limit = limit
        self.window = window

    def _key(self, token_name: str) -> str:
        return self.store.key("new-cards", token_name)

    def admit(self, token_name: str, app: str, tag: str) -> float:
        """0 when a webhook with this token may go on for release (app, tag): the bot knows the release
        already, or the token had a place left for a new card (now taken); else seconds to wait."""
        if self.book.knows(app, tag):
            return 0.0
        return self.take(token_name, app, tag)

    def take(self, token_name: str, app: str, tag: str) -> float:
        """Take one of the token's places for release (app, tag), unless it has one: 0 when it has, else
        seconds until one frees."""
        wait = self.store.client.eval(
            _TAKE, 1, self._key(token_name), repr(self.clock()), repr(self.window), self.limit, f"{app}\n{tag}"
        )
        return max(0.0, float(wait))
