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


def test_peek_takes_no_token():
    clock = FakeClock()
    limiter = TokenBucketLimiter(rate=1.0, burst=1, clock=clock)
    assert limiter.peek("k").allowed and limiter.peek("k").allowed  # an unseen key: a full bucket
    assert limiter.hit("k").allowed
    assert not limiter.peek("k").allowed
    clock.t += 1.0
    assert limiter.peek("k").allowed


@pytest.mark.skipif(not _redis_up(), reason="no Redis server on 127.0.0.1:6379")
def test_redis_peek_sees_the_shared_bucket():
    namespace = f"candor:test:{uuid.uuid4().hex}:"
    a = RedisTokenBucketLimiter("redis://127.0.0.1:6379/0", rate=0.01, burst=1, namespace=namespace)
    b = RedisTokenBucketLimiter("redis://127.0.0.1:6379/0", rate=0.01, burst=1, namespace=namespace)
    assert b.peek("client").allowed
    assert a.hit("client").allowed
    blocked = b.peek("client")
    assert not blocked.allowed and blocked.retry_after_s > 50


@pytest.mark.parametrize(
    "redis", [False, pytest.param(True, marks=pytest.mark.skipif(not _redis_up(), reason="no Redis"))]
)
def test_invalid_keys_from_one_client_get_429_before_any_key_lookup(tmp_path, redis):
    from api_helpers import make_settings
    from fastapi.testclient import TestClient
    from sqlalchemy import event

    from candor.api.app import create_app

    settings = make_settings(
        tmp_path,
        auth_failure_rate_per_s=0.01,
        auth_failure_burst=5,
        redis_url="redis://127.0.0.1:6379/15" if redis else None,
    )
    app = create_app(settings, start_worker=False)
    guess = {"X-API-Key": f"cnd_{uuid.uuid4().hex[:12]}_" + "A" * 43}  # fresh per run: Redis keeps buckets
    r = uuid.uuid4().int  # a fresh address per run: Redis keeps buckets between runs
    address = f"10.{r % 250}.{(r >> 8) % 250}.{(r >> 16) % 250}"
    with TestClient(app, raise_server_exceptions=False, client=(address, 5000)) as client:
        statements: list[str] = []
        event.listen(app.state.service.engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
        codes = [client.get("/v1/consents", headers=guess).status_code for _ in range(5)]
        assert codes == [401] * 5
        assert any("api_keys" in s for s in statements)  # those were looked up
        statements.clear()
        blocked = client.get("/v1/consents", headers=guess)
        assert blocked.status_code == 429
        assert blocked.headers["content-type"].startswith("application/problem+json")
        assert float(blocked.headers["retry-after"]) > 0
        assert "failed authentications" in blocked.json()["detail"]
        assert not any("api_keys" in s for s in statements)  # refused before the key lookup
    # Another client is not affected.
    with TestClient(app, raise_server_exceptions=False, client=("10.1.2.3", 5000)) as other:
        assert other.get("/v1/consents", headers=guess).status_code == 401
