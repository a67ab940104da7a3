"""The shared replay cache: adapter processes behind one balancer refuse each other's replays."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import pytest
import redis

from security.errors import ReplayCacheUnavailable, ReplayedMessage
from security.http_signatures import HttpSigner, HttpVerifier, TrustedKeyDirectory
from security.keys import load_party
from security.replay import RedisReplayCache
from security.trust import TrustStore

URL = "http://127.0.0.1:8000/v1/dossiers/000.00.04.H04-261126-0007/events"
BODY = json.dumps({"sequence": 1, "status": 2}).encode()
HEADERS = {"Content-Type": "application/json"}


def _verifier(keys: Path, cache: RedisReplayCache) -> HttpVerifier:
    trust = TrustStore.from_pem_file(keys / "ca" / "cert.pem")
    return HttpVerifier(TrustedKeyDirectory(keys, trust), cache)


def _cache(url: str, prefix: str) -> RedisReplayCache:
    return RedisReplayCache(redis.Redis.from_url(url), prefix=prefix)


def test_a_replay_to_another_process_is_refused(dev_keys: Path, redis_url: str) -> None:
    """Two verifiers with their own connections to one Redis (two adapter processes): the
    request accepted by the first is refused as replayed by the second."""
    prefix = f"test:{uuid.uuid4().hex}:"
    first, second = _cache(redis_url, prefix), _cache(redis_url, prefix)
    try:
        signed = HttpSigner(load_party(dev_keys, "province-app"))
        headers = {**HEADERS, **signed.sign_request("POST", URL, HEADERS, BODY)}
        accepted = _verifier(dev_keys, first).verify_request("POST", URL, headers, BODY)
        assert accepted.keyid == "province-app"
        with pytest.raises(ReplayedMessage):
            _verifier(dev_keys, second).verify_request("POST", URL, headers, BODY)
        fresh = {**HEADERS, **signed.sign_request("POST", URL, HEADERS, BODY)}
        assert _verifier(dev_keys, second).verify_request("POST", URL, fresh, BODY).keyid
    finally:
        first.close()
        second.close()


def test_nonces_are_forgotten_when_their_signature_expires(redis_url: str) -> None:
    """A nonce is kept only until its signature's end: Redis expires the key."""
    cache = _cache(redis_url, f"test:{uuid.uuid4().hex}:")
    try:
        assert cache.seen("province-app", "n-1", time.time() + 0.2) is False
        assert cache.seen("province-app", "n-1", time.time() + 0.2) is True
        time.sleep(0.4)
        assert cache.seen("province-app", "n-1", time.time() + 0.2) is False
    finally:
        cache.close()


def test_an_unreachable_cache_refuses_rather_than_accepts() -> None:
    """With Redis down the freshness of a request is unknown: it is refused (fail closed)."""
    cache = RedisReplayCache.from_url("redis://127.0.0.1:1/0")
    with pytest.raises(ReplayCacheUnavailable) as caught:
        cache.seen("province-app", "n-1", time.time() + 60)
    assert caught.value.reason == "replay_cache_unavailable"


def test_the_adapter_shares_nonces_when_a_replay_cache_url_is_set(redis_url: str) -> None:
    """``LIENTHONG_REPLAY_CACHE_URL`` gives the adapter the Redis cache; without it, memory."""
    from lienthong.bootstrap import replay_cache
    from lienthong.settings import Settings
    from security.replay import MemoryReplayCache

    shared = replay_cache(Settings(replay_cache_url=redis_url))
    assert isinstance(shared, RedisReplayCache)
    shared.close()
    assert isinstance(replay_cache(Settings()), MemoryReplayCache)
