"""The access log's keyed hashing set up once per key (``CitizenKeyer``) gives what
``citizen_key`` (``hmac.digest``) gives: any key length (a key longer than SHA-256's block is
hashed first, as HMAC defines), any ID, and the same refusal for an ID that is not UTF-8."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from store.access_log import CitizenKeyer, citizen_key
from store.log_keys import key_id

KEYS = [b"", b"k", b"k" * 32, bytes(range(64)), bytes(range(65)), b"\xff" * 200]
IDS = ["", "001085000123", "Nguyễn\u2028😀", "\x00", "x" * 1000]


def _outcome(function: Callable[[], Any]) -> Any:
    try:
        return function()
    except Exception as exc:
        return ("raised", type(exc))


@pytest.mark.parametrize("key", KEYS, ids=len)
def test_the_keyer_hashes_as_citizen_key(key: bytes) -> None:
    keyer = CitizenKeyer(key)
    assert keyer.key == key
    assert keyer.key_id == key_id(key)
    for citizen in [*IDS, "\ud800"]:
        assert _outcome(lambda: keyer(citizen)) == _outcome(lambda: citizen_key(key, citizen))  # noqa: B023
    # hashing one ID leaves the set-up states for the next
    assert [keyer(c) for c in IDS] == [citizen_key(key, c) for c in IDS]


@given(key=st.binary(max_size=130), citizen=st.text(max_size=40))
def test_the_keyer_agrees_on_generated_keys_and_ids(key: bytes, citizen: str) -> None:
    assert _outcome(lambda: CitizenKeyer(key)(citizen)) == _outcome(
        lambda: citizen_key(key, citizen)
    )
