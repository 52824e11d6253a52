"""Rate limiting: a token bucket, in process by default, in Redis when configured.

A bucket holds up to ``burst`` tokens and refills at ``rate`` tokens per second; each request
takes one. An empty bucket answers with the seconds until the next token, which becomes the
``Retry-After`` header of a 429 problem.

Two limiters use it: one bucket per API key (every authenticated request), and one bucket per
client address for failed authentications, looked at *before* the key lookup so that guessing
keys is throttled without a database query per guess.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Decision:
    allowed: bool
    retry_after_s: float  # 0 when allowed
    remaining: int  # whole tokens left after this request


class RateLimiter(Protocol):
    def hit(self, key: str) -> Decision:
        """Take one token from ``key``'s bucket."""
        ...

    def peek(self, key: str) -> Decision:
        """Whether ``key``'s bucket holds a token now, taking none."""
        ...


def _refilled(tokens: float, last: float, now: float, rate: float, burst: float) -> float:
    return min(burst, tokens + max(0.0, now - last) * rate)


def _peek_decision(tokens: float, rate: float) -> Decision:
    if tokens >= 1.0:
        return Decision(True, 0.0, int(tokens))
    return Decision(False, (1.0 - tokens) / rate, 0)


class TokenBucketLimiter:
    """In-process token buckets, one per key; thread-safe.

    ``rate``: tokens per second (> 0); ``burst``: bucket size (>= 1). At most ``max_keys`` buckets
    are kept (least recently used evicted), so a flood of distinct keys cannot grow memory; an
    evicted bucket comes back full, which is the same as a key that has been idle.
    """

    def __init__(
        self,
        rate: float,
        burst: int,
        *,
        max_keys: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        self.rate = float(rate)
        self.burst = float(burst)
        self.max_keys = max_keys
        self._clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # key -> (tokens, t)
        self._lock = threading.Lock()

    def hit(self, key: str) -> Decision:
        now = self._clock()
        with self._lock:
            tokens, last = self._buckets.pop(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            if tokens >= 1.0:
                tokens -= 1.0
                decision = Decision(True, 0.0, int(tokens))
            else:
                decision = Decision(False, (1.0 - tokens) / self.rate, 0)
            self._buckets[key] = (tokens, now)
            if len(self._buckets) > self.max_keys:
                self._buckets.popitem(last=False)
        return decision

    def peek(self, key: str) -> Decision:
        now = self._clock()
        with self._lock:
            state = self._buckets.get(key)
        if state is None:
            return Decision(True, 0.0, int(self.burst))
        return _peek_decision(_refilled(state[0], state[1], now, self.rate, self.burst), self.rate)


# Atomic refill-and-take in Redis: KEYS[1] bucket; ARGV rate, burst, now (s). Returns
# {allowed (0/1), retry_after_ms, remaining}.
_REDIS_SCRIPT = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local state = redis.call('HMGET', KEYS[1], 'tokens', 't')
local tokens = tonumber(state[1]) or burst
local last = tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - last) * rate)
local allowed = 0
local retry_ms = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
else
  retry_ms = math.ceil((1 - tokens) / rate * 1000)
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 't', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return {allowed, retry_ms, math.floor(tokens)}
"""


class RedisTokenBucketLimiter:
    """The same token bucket shared by every server process through Redis (``redis`` package).

    Time comes from the Redis server (``TIME``) so processes on hosts with skewed clocks agree.
    """

    def __init__(self, url: str, rate: float, burst: int, *, namespace: str = "candor:rl:") -> None:
        import redis  # optional dependency: only needed when CANDOR_REDIS_URL is set

        if rate <= 0 or burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        self.rate = float(rate)
        self.burst = int(burst)
        self.namespace = namespace
        self._client = redis.Redis.from_url(url)
        self._script = self._client.register_script(_REDIS_SCRIPT)

    def hit(self, key: str) -> Decision:
        seconds, micros = self._client.time()
        now = seconds + micros / 1e6
        allowed, retry_ms, remaining = self._script(
            keys=[self.namespace + key], args=[self.rate, self.burst, repr(now)]
        )
        return Decision(bool(allowed), int(retry_ms) / 1000.0, int(remaining))

    def peek(self, key: str) -> Decision:
        # Read-only: a race with a concurrent hit errs by at most one request.
        seconds, micros = self._client.time()
        now = seconds + micros / 1e6
        tokens, last = self._client.hmget(self.namespace + key, "tokens", "t")
        if tokens is None or last is None:
            return Decision(True, 0.0, self.burst)
        return _peek_decision(_refilled(float(tokens), float(last), now, self.rate, self.burst), self.rate)


def make_rate_limiter(
    rate: float, burst: int, redis_url: str | None = None, *, namespace: str = "candor:rl:"
) -> RateLimiter:
    """A Redis-backed limiter when ``redis_url`` is given, else an in-process one (bounded LRU)."""
    if redis_url:
        return RedisTokenBucketLimiter(redis_url, rate, burst, namespace=namespace)
    return TokenBucketLimiter(rate, burst)
