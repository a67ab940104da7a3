"""Rate counters (memory, a host's shared table, Redis) and the limits counted with them."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from adapter_api.clients import ClientConfigError, Operation, RateLimit, Role, make_client
from adapter_api.errors import ServiceUnavailable, TooManyRequests
from adapter_api.rate_limits import DAY, VN_DAY_OFFSET, RateLimiter
from security.errors import RateCounterUnavailable
from security.rate_counters import (
    WINDOW,
    Count,
    HostRateCounter,
    HostRateTable,
    MemoryRateCounter,
    RateCounter,
    RedisRateCounter,
    window_bounds,
)

T0 = 1_779_999_980.0  # 20 s into a minute


class Clock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def table(tmp_path: Path) -> HostRateTable:
    return HostRateTable.create(1024, folder=tmp_path)


def test_windows_are_aligned_to_the_epoch_or_to_vietnam_midnight() -> None:
    """A minute window starts on the minute; a day window shifted by -7 h starts at 17:00 UTC."""
    assert window_bounds(T0, 60) == (T0 - 20, T0 + 40)
    start, end = window_bounds(T0, DAY, VN_DAY_OFFSET)
    assert (start + 7 * 3600) % DAY == 0
    assert start <= T0 < end == start + DAY


@pytest.mark.parametrize("kind", ["memory", "host"])
def test_a_counter_counts_per_key_and_starts_again_with_the_next_window(
    kind: str, table: HostRateTable
) -> None:
    """Calls of one key add up within a window, other keys apart; the next window starts at 1
    and says how long it has left."""
    clock = Clock()
    counter: RateCounter = (
        MemoryRateCounter(clock=clock) if kind == "memory" else HostRateCounter(table, clock=clock)
    )
    assert [counter.hit("a", 60).calls for _ in range(3)] == [1, 2, 3]
    assert counter.hit("b", 60) == Count(1, 40.0)
    clock.now += 40
    assert counter.hit("a", 60) == Count(1, 60.0)


def test_a_full_memory_counter_forgets_ended_windows_first_then_the_oldest() -> None:
    """At max_keys, ended windows go first; with all live, the oldest tenth goes, newer counts
    stay."""
    clock = Clock()
    counter = MemoryRateCounter(max_keys=20, clock=clock)
    for index in range(10):
        counter.hit(f"old{index}", 60)
    clock.now += 60
    for index in range(20):
        counter.hit(f"k{index}", 60)
    counter.hit("k19", 60)
    counter.hit("one-more", 60)
    assert counter.hit("k0", 60).calls == 1  # the oldest two were forgotten
    assert counter.hit("k19", 60).calls == 3


def test_processes_mapping_one_host_table_share_the_counts(table: HostRateTable) -> None:
    """Two counters over one table file (as two workers map it) add to the same count."""
    first, second = HostRateCounter(table), HostRateCounter(table)
    try:
        assert first.hit("client:op", 60).calls == 1
        assert second.hit("client:op", 60).calls == 2
        assert first.hit("client:op", 60).calls == 3
    finally:
        first.close()
        second.close()


def test_a_full_host_table_refuses_to_count(tmp_path: Path) -> None:
    """When every slot a key may use holds a live count, the call is refused (fail closed)."""
    counter = HostRateCounter(HostRateTable.create(WINDOW, folder=tmp_path))
    for index in range(WINDOW):
        counter.hit(f"k{index}", 60)
    with pytest.raises(RateCounterUnavailable):
        counter.hit("one-more", 60)


def test_redis_counts_are_shared_and_expire(redis_url: str) -> None:
    """Two Redis counters with one prefix share a count; the key expires after its window."""
    import redis

    prefix = f"test:{secrets.token_hex(8)}:"
    client = redis.Redis.from_url(redis_url)
    first = RedisRateCounter(client, prefix=prefix)
    second = RedisRateCounter.from_url(redis_url, prefix=prefix)
    try:
        assert first.hit("k", 60).calls == 1
        assert second.hit("k", 60).calls == 2
        (name,) = client.keys(prefix + "*")
        assert 0 < client.ttl(name) <= 61
    finally:
        for name in client.keys(prefix + "*"):
            client.delete(name)
        second.close()
        first.close()


def test_an_unreachable_redis_refuses_to_count() -> None:
    """Redis that cannot be asked: RateCounterUnavailable, never a waved-through call."""
    counter = RedisRateCounter.from_url("redis://127.0.0.1:1/0")
    with pytest.raises(RateCounterUnavailable):
        counter.hit("k", 60)


class Recording:
    """A counter that keeps the keys it was asked about (and counts in memory)."""

    def __init__(self) -> None:
        self.keys: list[str] = []
        self._counter = MemoryRateCounter()

    def hit(self, key: str, window: int, *, offset: int = 0) -> Count:
        self.keys.append(key)
        return self._counter.hit(key, window, offset=offset)


def _client(client_id: str = "province-app", **options: object) -> object:
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    return make_client(client_id, Role.PROVINCE, public_key=key, **options)  # type: ignore[arg-type]


def _limiter(counter: RateCounter, *, calls: int = 3, budget: int = 2) -> RateLimiter:
    return RateLimiter(
        counter, default=RateLimit(calls, 60), verify_budget=budget, citizen_key=b"k" * 32
    )


def test_over_the_default_limit_is_429_with_retry_after_and_ratelimit_fields() -> None:
    """Each allowed call says what is left (RateLimit r=2, 1, 0); the fourth call in a window of
    a 3-per-minute default is TooManyRequests carrying
    Retry-After and the IETF RateLimit-Policy / RateLimit fields; other operations apart."""
    limiter = _limiter(MemoryRateCounter())
    client = _client()
    left = [dict(limiter.check(client, Operation.CITIZENS_READ)) for _ in range(3)]  # type: ignore[arg-type]
    assert left[0][b"ratelimit-policy"] == b'"citizens.read";q=3;w=60'
    assert [fields[b"ratelimit"].split(b";")[1] for fields in left] == [b"r=2", b"r=1", b"r=0"]
    with pytest.raises(TooManyRequests) as refused:
        limiter.check(client, Operation.CITIZENS_READ)  # type: ignore[arg-type]
    headers = refused.value.headers
    assert refused.value.code == "rate_limited"
    assert 1 <= int(headers["Retry-After"]) <= 60
    assert headers["RateLimit-Policy"] == '"citizens.read";q=3;w=60'
    assert headers["RateLimit"] == f'"citizens.read";r=0;t={headers["Retry-After"]}'
    limiter.check(client, Operation.DOSSIERS_READ)  # type: ignore[arg-type]


def test_a_clients_own_limits_win_over_the_default() -> None:
    """rate_limits from the clients file: the operation's own, then ``*``, then the default."""
    limiter = _limiter(MemoryRateCounter(), calls=1)
    client = _client(rate_limits={"citizens.read": "2/60", "*": "5/60"})
    assert limiter.limit_of(client, Operation.CITIZENS_READ) == RateLimit(2, 60)  # type: ignore[arg-type]
    assert limiter.limit_of(client, Operation.DOSSIERS_READ) == RateLimit(5, 60)  # type: ignore[arg-type]
    assert limiter.limit_of(_client(), Operation.DOSSIERS_READ) == RateLimit(1, 60)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("limits", "budget"),
    [({"citizens.read": "ten/60"}, None), ({"no.such": "1/60"}, None),
     ({"*": "1/0"}, None), ({"*": "0/60"}, None), (None, 0), (None, "5")],
)  # fmt: skip
def test_bad_rate_limits_in_the_clients_file_are_refused(limits: object, budget: object) -> None:
    """A limit that is not CALLS/SECONDS, an unknown operation, or a budget that is not a
    positive count is a ClientConfigError naming the client."""
    with pytest.raises(ClientConfigError, match="province-app"):
        _client(rate_limits=limits, verify_daily_budget=budget)


def test_the_verify_budget_is_per_citizen_per_client_and_never_keyed_by_the_raw_id() -> None:
    """Two tries per citizen per day: the third is 429 verify_budget_spent (a day's window);
    another citizen or another client has its own budget; the counter never sees the ID."""
    counter = Recording()
    limiter = _limiter(counter, budget=2)
    province, other = _client(), _client("integrator")
    citizen = "001085000123"
    limiter.spend_verify(province, citizen)  # type: ignore[arg-type]
    limiter.spend_verify(province, citizen)  # type: ignore[arg-type]
    with pytest.raises(TooManyRequests) as refused:
        limiter.spend_verify(province, citizen)  # type: ignore[arg-type]
    assert refused.value.code == "verify_budget_spent"
    assert refused.value.headers["RateLimit-Policy"] == '"citizens.verify.citizen";q=2;w=86400'
    limiter.spend_verify(province, "001085000124")  # type: ignore[arg-type]
    limiter.spend_verify(other, citizen)  # type: ignore[arg-type]
    assert not [key for key in counter.keys if citizen in key or "001085000124" in key]
    own = _client("ministry", verify_daily_budget=3)
    for _ in range(3):
        limiter.spend_verify(own, citizen)  # type: ignore[arg-type]


def test_counters_that_cannot_count_answer_503() -> None:
    """A counter that fails closed becomes 503 rate_counter_unavailable with Retry-After."""

    def broken(key: str, window: int, *, offset: int = 0) -> Count:
        raise RateCounterUnavailable("down")

    class Broken:
        hit: Callable[..., Count] = staticmethod(broken)

    with pytest.raises(ServiceUnavailable) as refused:
        _limiter(Broken()).check(_client(), Operation.CITIZENS_READ)  # type: ignore[arg-type]
    assert refused.value.code == "rate_counter_unavailable"
    assert refused.value.headers["Retry-After"] == "1"
