"""The access log's key ring on disk: loading, rotation, crash safety, refusal of damaged rings."""

from __future__ import annotations

import fcntl
import os
import stat
from pathlib import Path

import pytest

import store.access_log_keys as access_log_keys
from store.access_log_keys import (
    KeyRing,
    load_access_log_keys,
    rotate_access_log_key,
)
from store.log_keys import LogKeyError, access_log_key, key_id

CURRENT = Path("adapter") / "accesslog.key"
RETIRED = Path("adapter") / "accesslog.retired"


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_fresh_folder_gives_a_ring_of_one(tmp_path: Path) -> None:
    """No key yet: the current key is made; it is the whole ring and the legacy key."""
    ring = load_access_log_keys(tmp_path)
    assert ring.current == (tmp_path / CURRENT).read_bytes()
    assert ring.retired == ()
    assert ring.legacy == ring.current_id == key_id(ring.current)
    assert list(ring.keys) == [ring.current_id]
    with pytest.raises(LogKeyError, match="cannot read"):
        load_access_log_keys(tmp_path / "other", create=False)


def test_rotation_retires_the_current_key_and_writes_a_new_one(tmp_path: Path) -> None:
    """A rotation keeps the old key as ``<id>.key`` (0600, folder 0700), marks it as the legacy
    key, writes a new current key (0600); a second rotation adds to the ring, legacy unchanged."""
    first = access_log_key(tmp_path)
    rotation = rotate_access_log_key(tmp_path)
    second = (tmp_path / CURRENT).read_bytes()
    assert rotation.retired_id == key_id(first)
    assert rotation.new_id == key_id(second)
    assert second != first
    assert len(second) == 32
    retired_file = tmp_path / RETIRED / f"{key_id(first)}.key"
    assert retired_file.read_bytes() == first
    assert (_mode(tmp_path / CURRENT), _mode(retired_file)) == (0o600, 0o600)
    assert _mode(tmp_path / RETIRED) == 0o700
    assert (tmp_path / RETIRED / "legacy.id").read_text().strip() == key_id(first)
    ring = load_access_log_keys(tmp_path)
    assert (ring.current, ring.retired, ring.legacy) == (second, (first,), key_id(first))

    again = rotate_access_log_key(tmp_path)
    ring = load_access_log_keys(tmp_path)
    assert again.retired_id == key_id(second)
    assert ring.current_id == again.new_id
    assert set(ring.keys) == {key_id(first), key_id(second), again.new_id}
    assert ring.legacy == key_id(first)
    assert sorted(p.name for p in (tmp_path / RETIRED).iterdir()) == sorted(
        ["legacy.id", f"{key_id(first)}.key", f"{key_id(second)}.key"]
    )


@pytest.mark.parametrize("failing", ["link", "replace"])
def test_a_rotation_cut_short_loses_no_key_and_finishes_when_run_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failing: str
) -> None:
    """A crash before the retired copy is linked, or before the new key is renamed in, leaves
    the old key current and whole (and the ring loadable); running the rotation again completes
    it, retiring that same key."""
    old = access_log_key(tmp_path)
    real = getattr(os, failing)
    calls = 0

    def crash(src: object, dst: object) -> None:
        nonlocal calls
        calls += 1
        # "link": the legacy marker (first link) is written, the retired key (second) is not
        if failing == "replace" or calls == 2:
            raise OSError(5, "Input/output error")
        real(src, dst)

    monkeypatch.setattr(access_log_keys.os, failing, crash)
    with pytest.raises(LogKeyError, match="cannot rotate"):
        rotate_access_log_key(tmp_path)
    monkeypatch.undo()
    assert (tmp_path / CURRENT).read_bytes() == old
    assert not list((tmp_path / "adapter").glob(".*.tmp"))
    assert not list((tmp_path / RETIRED).glob(".*.tmp"))
    ring = load_access_log_keys(tmp_path, create=False)
    assert (ring.current, ring.retired, ring.legacy) == (old, (), key_id(old))

    rotation = rotate_access_log_key(tmp_path)
    assert rotation.retired_id == key_id(old)
    ring = load_access_log_keys(tmp_path, create=False)
    assert ring.retired == (old,)
    assert ring.current_id == rotation.new_id != key_id(old)


def test_a_rotation_removes_what_a_killed_one_left(tmp_path: Path) -> None:
    """Temporary key files a rotation killed mid-way left behind (they hold key bytes) are
    removed by the next rotation; other files of the folders are kept."""
    access_log_key(tmp_path)
    rotate_access_log_key(tmp_path)
    left = [
        tmp_path / "adapter" / ".accesslog.key.abc123.tmp",
        tmp_path / RETIRED / ".0123456789abcdef.key.def456.tmp",
    ]
    for path in left:
        path.write_bytes(b"k" * 32)
    kept = tmp_path / "adapter" / "messagelog.key"
    kept.write_bytes(b"m" * 32)
    rotate_access_log_key(tmp_path)
    assert not [path for path in left if path.exists()]
    assert kept.read_bytes() == b"m" * 32
    assert len(load_access_log_keys(tmp_path, create=False).retired) == 2


def test_a_retired_key_file_is_never_overwritten(tmp_path: Path) -> None:
    """A retired key file that does not hold the key its name says stops the rotation; neither
    it nor the current key is changed."""
    old = access_log_key(tmp_path)
    (tmp_path / RETIRED).mkdir(parents=True)
    (tmp_path / RETIRED / "legacy.id").write_text(key_id(old) + "\n")
    damaged = tmp_path / RETIRED / f"{key_id(old)}.key"
    damaged.write_bytes(b"d" * 32)
    with pytest.raises(LogKeyError, match="does not hold the key its name says"):
        rotate_access_log_key(tmp_path)
    assert damaged.read_bytes() == b"d" * 32
    assert (tmp_path / CURRENT).read_bytes() == old


def test_a_damaged_ring_is_refused(tmp_path: Path) -> None:
    """Loading refuses a misnamed retired key, retired keys without the legacy marker, and a
    legacy marker naming a key that is gone: rows would silently go missing otherwise."""
    access_log_key(tmp_path)
    first = rotate_access_log_key(tmp_path)
    marker = tmp_path / RETIRED / "legacy.id"
    retired_file = tmp_path / RETIRED / f"{first.retired_id}.key"

    marker.rename(tmp_path / "marker")
    with pytest.raises(LogKeyError, match=r"legacy\.id is missing"):
        load_access_log_keys(tmp_path)
    with pytest.raises(LogKeyError, match=r"legacy\.id is missing"):
        rotate_access_log_key(tmp_path)
    (tmp_path / "marker").rename(marker)

    retired_file.rename(tmp_path / RETIRED / ("0" * 16 + ".key"))
    with pytest.raises(LogKeyError, match="does not hold the key its name says"):
        load_access_log_keys(tmp_path)
    (tmp_path / RETIRED / ("0" * 16 + ".key")).unlink()
    with pytest.raises(LogKeyError, match=f"access-log key {first.retired_id}"):
        load_access_log_keys(tmp_path)

    marker.write_text("not an id\n")
    with pytest.raises(LogKeyError, match="16 hex digits"):
        load_access_log_keys(tmp_path)


def test_a_second_rotation_at_the_same_time_is_refused(tmp_path: Path) -> None:
    """While the rotation lock is held, another rotation stops before writing anything."""
    old = access_log_key(tmp_path)
    fd = os.open(tmp_path / "adapter" / "accesslog.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        with pytest.raises(LogKeyError, match="another rotation"):
            rotate_access_log_key(tmp_path)
    finally:
        os.close(fd)
    assert (tmp_path / CURRENT).read_bytes() == old
    assert not (tmp_path / RETIRED).exists()


def test_the_ring_shows_key_ids_never_keys() -> None:
    """``repr`` names the keys by id; no key's bytes (raw or hex) appear in it."""
    current, retired = b"\x01" * 32, b"\x02" * 32
    ring = KeyRing(current, (retired,), key_id(retired))
    text = repr(ring)
    assert key_id(current) in text
    assert key_id(retired) in text
    for key in (current, retired):
        assert key.hex() not in text
        assert repr(key) not in text


def test_a_ring_holds_each_key_once_and_its_legacy_key() -> None:
    """A key twice, or a legacy id outside the ring, is a programming error."""
    with pytest.raises(ValueError, match="once"):
        KeyRing(b"a" * 32, (b"a" * 32,))
    with pytest.raises(ValueError, match="not in the ring"):
        KeyRing(b"a" * 32, (), key_id(b"b" * 32))
    assert KeyRing.of(b"a" * 32) == KeyRing(b"a" * 32)
