"""The access log's key ring: the current HMAC key plus the retired ones, and key rotation.

Each access-log row stores the public id (``store.log_keys.key_id``) of the key that made its
``citizen_key``. New rows use the current key, ``DIR/adapter/accesslog.key``; a rotation
(:func:`rotate_access_log_key`, ``lienthong log rotate-access-key``) moves it to
``DIR/adapter/accesslog.retired/<key_id>.key`` and writes a new current key. A search by citizen
hashes the ID under every key of the ring and matches each hash only against rows of its key id.

Rows stored before rows recorded their key (migration ``0003``) have no key id: they were made
with the one key that existed before the first rotation. The first rotation writes that key's id
to ``accesslog.retired/legacy.id``; until then it is the current key. :class:`KeyRing` calls it
``legacy_id``.

On disk every key file holds 32 bytes with mode 0600 and is never overwritten; the retired
folder has mode 0700. A rotation, under an exclusive lock (``adapter/accesslog.lock``), writes
(1) the legacy marker on the first rotation, (2) the retired copy of the current key, (3) the new
current key, each through a synced temporary file that is linked (never replacing a file) or, for
the current key only, renamed over it, so the current key file is always whole and no retired key
is lost whatever the moment of a crash; running it again after a crash finishes the job and
removes the temporary files a killed rotation left. A ring
is read current key first, then the retired keys, then the marker: read during a rotation it
still holds every key that rows can have been written with.
"""

from __future__ import annotations

import fcntl
import os
import re
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from store.log_keys import ACCESS_LOG_KEY, KEY_BYTES, LogKeyError, access_log_key, key_id, load_key

#: the folder of retired access-log keys, each ``<key_id>.key``
ACCESS_LOG_RETIRED = Path("adapter") / "accesslog.retired"
#: in the retired folder: the id of the key that made the rows without a key id
LEGACY_MARKER = "legacy.id"
#: taken (exclusively) while a rotation runs
ACCESS_LOG_LOCK = Path("adapter") / "accesslog.lock"

_KEY_ID = re.compile(r"[0-9a-f]{16}")


@dataclass(frozen=True, slots=True, repr=False)
class KeyRing:
    """The current access-log key, the retired ones, and which one made rows without a key id.

    ``legacy_id`` None means the current key (no rotation yet). ``repr`` shows key ids only.
    """

    current: bytes
    retired: tuple[bytes, ...] = ()
    legacy_id: str | None = None

    def __post_init__(self) -> None:
        ids = [key_id(key) for key in (self.current, *self.retired)]
        if len(set(ids)) != len(ids):
            raise ValueError("a key ring holds each key once")
        if self.legacy_id is not None and self.legacy_id not in ids:
            raise ValueError(f"the legacy key {self.legacy_id} is not in the ring")

    @classmethod
    def of(cls, key: bytes | KeyRing) -> KeyRing:
        """``key`` as a ring: a single key is a ring of one (which also made unlabelled rows)."""
        return key if isinstance(key, KeyRing) else cls(key)

    @property
    def current_id(self) -> str:
        """The id new rows are written with."""
        return key_id(self.current)

    @property
    def legacy(self) -> str:
        """The id of the key that made the rows stored without a key id."""
        return self.legacy_id or self.current_id

    @property
    def keys(self) -> Mapping[str, bytes]:
        """Every key by its id, the current one first."""
        return {key_id(key): key for key in (self.current, *self.retired)}

    def __repr__(self) -> str:
        retired = ", ".join(key_id(key) for key in self.retired)
        return f"KeyRing(current={self.current_id}, retired=[{retired}], legacy={self.legacy})"


@dataclass(frozen=True, slots=True)
class KeyRotation:
    """What a rotation did: the id of the new current key and of the key it retired."""

    new_id: str
    retired_id: str


def load_access_log_keys(keys_dir: Path | str, *, create: bool = True) -> KeyRing:
    """The access log's key ring from the key folder (the current key made when absent and
    ``create``); :class:`LogKeyError` if a key is unreadable, misnamed or the legacy key is gone.
    """
    root = Path(keys_dir)
    current = access_log_key(root, create=create)  # first: see the module docstring
    retired_dir = root / ACCESS_LOG_RETIRED
    retired = _retired_keys(retired_dir)
    legacy = _legacy_id(retired_dir)
    if retired and legacy is None:
        raise LogKeyError(
            f"{retired_dir / LEGACY_MARKER} is missing: which key made the rows without a key id "
            "is unknown"
        )
    current_id = key_id(current)
    ids = {current_id, *retired}
    if legacy is not None and legacy not in ids:
        raise LogKeyError(
            f"the access-log key {legacy} (it made the rows without a key id) is neither "
            f"{root / ACCESS_LOG_KEY} nor in {retired_dir}"
        )
    others = tuple(key for kid, key in retired.items() if kid != current_id)
    return KeyRing(current, others, legacy)


def rotate_access_log_key(keys_dir: Path | str) -> KeyRotation:
    """Retire the current access-log key and write a new one (see the module docstring).

    :class:`LogKeyError` if the key folder or its current key is missing or unreadable, a
    retired key file is damaged, or another rotation is running. Key bytes are never returned.
    """
    root = Path(keys_dir)
    if not root.is_dir():
        raise LogKeyError(f"no key folder at {root}")
    current_path = root / ACCESS_LOG_KEY
    load_key(current_path)  # a missing or malformed key is refused before anything is written
    retired_dir = root / ACCESS_LOG_RETIRED
    try:
        with _exclusive(root / ACCESS_LOG_LOCK):
            _remove_stale_temps(current_path, retired_dir)
            old = load_key(current_path)
            old_id = key_id(old)
            if not retired_dir.is_dir():
                retired_dir.mkdir(mode=0o700)
                _sync_folder(retired_dir.parent)
            retired = _retired_keys(retired_dir)
            if _legacy_id(retired_dir) is None:
                if retired:
                    raise LogKeyError(
                        f"{retired_dir / LEGACY_MARKER} is missing: which key made the rows "
                        "without a key id is unknown; not rotating"
                    )
                _write_once(retired_dir / LEGACY_MARKER, f"{old_id}\n".encode())
            _write_once(retired_dir / f"{old_id}.key", old)
            new = os.urandom(KEY_BYTES)
            while key_id(new) in {old_id, *retired}:  # a 64-bit id collision: draw again
                new = os.urandom(KEY_BYTES)
            _replace(current_path, new)
    except OSError as exc:
        raise LogKeyError(
            f"cannot rotate the access-log key in {root}: {exc.strerror or exc}"
        ) from exc
    return KeyRotation(new_id=key_id(new), retired_id=old_id)


def _remove_stale_temps(current_path: Path, retired_dir: Path) -> None:
    """Temporary files (keys among them) a rotation killed mid-way left; under the lock no
    rotation is writing any."""
    stale = [*current_path.parent.glob(f".{current_path.name}.*.tmp")]
    if retired_dir.is_dir():
        stale += retired_dir.glob(".*.tmp")
    for path in stale:
        path.unlink(missing_ok=True)


def _retired_keys(folder: Path) -> dict[str, bytes]:
    """The retired keys by id; each file's name must be the id of the key it holds."""
    if not folder.is_dir():
        return {}
    found: dict[str, bytes] = {}
    for path in sorted(folder.glob("*.key")):
        key = load_key(path)
        if not _KEY_ID.fullmatch(path.stem) or key_id(key) != path.stem:
            raise LogKeyError(f"retired key file {path} does not hold the key its name says")
        found[path.stem] = key
    return found


def _legacy_id(folder: Path) -> str | None:
    path = folder / LEGACY_MARKER
    try:
        text = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise LogKeyError(f"cannot read {path}: {exc}") from exc
    if not _KEY_ID.fullmatch(text):
        raise LogKeyError(f"{path} must hold one key id (16 hex digits)")
    return text


@contextmanager
def _exclusive(path: Path) -> Iterator[None]:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise LogKeyError("another rotation of the access-log key is running") from exc
        yield
    finally:
        os.close(fd)  # releases the lock


def _synced_temp(folder: Path, name: str, data: bytes) -> Path:
    """A new file (mode 0600) in ``folder`` holding ``data``, flushed to disk."""
    fd, temp = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=".tmp")
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    return Path(temp)


def _write_once(path: Path, data: bytes) -> None:
    """Create ``path`` holding ``data``, whole or not at all; an existing file is kept and must
    already hold ``data`` (a rotation run again after a crash)."""
    temp = _synced_temp(path.parent, path.name, data)
    try:
        os.link(temp, path)
    except FileExistsError:
        if path.read_bytes() != data:
            raise LogKeyError(
                f"{path} exists with other contents; it is never overwritten"
            ) from None
    finally:
        temp.unlink(missing_ok=True)
    _sync_folder(path.parent)


def _replace(path: Path, data: bytes) -> None:
    """Put ``data`` in ``path`` by an atomic rename: readers see the old file or the new one."""
    temp = _synced_temp(path.parent, path.name, data)
    try:
        os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)
    _sync_folder(path.parent)


def _sync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


__all__ = [
    "ACCESS_LOG_LOCK",
    "ACCESS_LOG_RETIRED",
    "LEGACY_MARKER",
    "KeyRing",
    "KeyRotation",
    "load_access_log_keys",
    "rotate_access_log_key",
]
