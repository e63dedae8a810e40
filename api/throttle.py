"""Failed tokens counted per client address, and refused past a limit: guessing gets slow.

Without a limit, the sign-in page (and the bearer header) answered as fast as they were asked: a
token that is a word falls to a dictionary in seconds. Past ``per_minute`` failures from one
address in a minute, every attempt from it is refused with 429 until the minute ends, right
token or wrong, so a guess past the limit tells nothing. The count is in Redis, so every API
replica shares it. A session cookie is not counted or refused: it is signed with a token
(``api.session``) and cannot be guessed.

Redis being unreachable does not lock anyone out: the check then lets the attempt through, uncounted
(the routes that need Redis answer 503 on their own). That is logged once when it starts and once
when counting resumes, not at every request (a client polling once a second logged a warning a second).

The address is the connection's, or, from a proxy uvicorn trusts (``FORWARDED_ALLOW_IPS``,
by default localhost only), the client's it forwards; behind an untrusted proxy every client shares
the proxy's address, and one guesser throttles them all (docs/api.md).
"""

import logging
import time
from dataclasses import dataclass, field

import redis

from emostream import keys
from emostream.lifecycle import describe_outage

log = logging.getLogger(__name__)

WINDOW_S = 60


@dataclass
class FailureLimit:
    client: "redis.Redis"
    per_minute: int  # 0: no limit
    counting: bool = field(default=True, init=False)  # False while Redis cannot be reached

    def wait_s(self, address: str) -> int:
        """Seconds until ``address`` may try a token again; 0: it may now."""
        if self.per_minute <= 0:
            return 0
        now = time.time()
        try:
            failures = self.client.get(keys.auth_failures_key(address, int(now // WINDOW_S)))
        except redis.RedisError as exc:
            self._redis_lost(exc)
            return 0
        self._redis_back()
        if int(failures or 0) < self.per_minute:
            return 0
        return max(1, WINDOW_S - int(now % WINDOW_S))

    def failed(self, address: str) -> None:
        if self.per_minute <= 0:
            return
        key = keys.auth_failures_key(address, int(time.time() // WINDOW_S))
        try:
            counting = self.client.pipeline()
            counting.incr(key)
            counting.expire(key, 2 * WINDOW_S)
            counting.execute()
        except redis.RedisError as exc:
            self._redis_lost(exc)
            return
        self._redis_back()

    def _redis_lost(self, exc: redis.RedisError) -> None:
        if self.counting:
            self.counting = False
            log.warning("wrong tokens are not counted until Redis answers again: %s", describe_outage(exc))

    def _redis_back(self) -> None:
        if not self.counting:
            self.counting = True
            log.warning("wrong tokens are counted again: Redis answers")


def weak_tokens(tokens: frozenset[str]) -> list[int]:
    """The lengths of the tokens short enough to guess (``keys.API_WEAK_TOKEN_CHARS``), shortest first."""
    return sorted(len(t) for t in tokens if len(t) < keys.API_WEAK_TOKEN_CHARS)
