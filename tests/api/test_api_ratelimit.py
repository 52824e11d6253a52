import socket
import uuid

import pytest

from candor.api.ratelimit import RedisTokenBucketLimiter, TokenBucketLimiter


class FakeClock:
    """A controllable monotonic clock (seconds) so the bucket arithmetic is tested exactly."""

    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_burst_then_refill_at_rate():
    clock = FakeClock()
    limiter = TokenBucketLimiter(rate=2.0, burst=3, clock=clock)
    assert [limiter.hit("k").allowed for _ in range(3)] == [True, True, True]
    denied = limiter.hit("k")
    assert not denied.allowed
    assert denied.retry_after_s == pytest.approx(0.5)  # one token at 2 tokens/s
    clock.t += 0.5
    assert limiter.hit("k").allowed
    assert not limiter.hit("k").allowed


def test_keys_have_independent_buckets():
    clock = FakeClock()
    limiter = TokenBucketLimiter(rate=1.0, burst=1, clock=clock)
    assert limiter.hit("a").allowed
    assert not limiter.hit("a").allowed
    assert limiter.hit("b").allowed


def test_idle_bucket_never_exceeds_burst():
    clock = FakeClock()
    limiter = TokenBucketLimiter(rate=100.0, burst=2, clock=clock)
    limiter.hit("k")
    clock.t += 3600
    assert [limiter.hit("k").allowed for _ in range(3)] == [True, True, False]


def test_bucket_table_is_bounded():
    limiter = TokenBucketLimiter(rate=1.0, burst=1, max_keys=10)
    for i in range(100):
        limiter.hit(f"key-{i}")
    assert len(limiter._buckets) == 10


def test_invalid_parameters_are_refused():
    with pytest.raises(ValueError):
        TokenBucketLimiter(rate=0, burst=1)
    with pytest.raises(ValueError):
        TokenBucketLimiter(rate=1, burst=0)


def _redis_up() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=0.5):
            return True
    except OSError:
        return False


@pytest.mark.skipif(not _redis_up(), reason="no Redis server on 127.0.0.1:6379")
def test_redis_bucket_is_shared_between_limiters():
    namespace = f"candor:test:{uuid.uuid4().hex}:"
    a = RedisTokenBucketLimiter("redis://127.0.0.1:6379/0", rate=0.5, burst=2, namespace=namespace)
    b = RedisTokenBucketLimiter("redis://127.0.0.1:6379/0", rate=0.5, burst=2, namespace=namespace)
    assert a.hit("k").allowed
    assert b.hit("k").allowed  # the second process sees the same bucket
    denied = a.hit("k")
    assert not denied.allowed
    assert 0 < denied.retry_after_s <= 2.0
    assert b.hit("other").allowed
