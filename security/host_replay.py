"""A replay cache shared by the processes of one host: a table in a shared-memory file.

``serve --workers N`` runs N processes on one port; a request replayed to another worker must be
refused too, and asking Redis costs each request a network round trip. This table lives in one
file under ``/dev/shm`` that every worker maps, guarded by an exclusive ``flock`` on that file (the
kernel drops the lock of a process that dies, so a killed worker cannot wedge the others).

Layout: ``slots`` entries, first all digests (24 bytes each), then all expiries (a float64 each,
seconds since the epoch; 0.0 is an empty slot). An entry is the keyed BLAKE2b digest of
(keyid, nonce) — keyed with a secret made per run, so a signer cannot choose nonces that crowd
one part of the table. A digest may sit only in the ``WINDOW`` slots from the position it
selects; a check reads that window: a live entry with the digest means *seen*; otherwise the
digest goes into the first slot whose entry has expired. A window with no such slot is full: the
request is refused (``ReplayCacheUnavailable``), never waved through. Size the table for the
nonces alive at once (requests per second × signature lifetime and skew) at under half its slots.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import mmap
import os
import secrets
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from security.errors import ReplayCacheUnavailable

DIGEST_BYTES = 24
EXPIRY_BYTES = 8
WINDOW = 64
DEFAULT_SLOTS = 1 << 20  # 32 MiB: room for ~500 k live nonces


@dataclass(frozen=True)
class HostReplayTable:
    """What a process needs to map the table: its file, its size and the digest key."""

    path: Path
    slots: int
    key: bytes

    @classmethod
    def create(cls, slots: int = DEFAULT_SLOTS, *, folder: Path | None = None) -> HostReplayTable:
        """Make an empty table file (mode 0600) under ``/dev/shm`` when it exists."""
        if slots < WINDOW:
            raise ValueError(f"a replay table needs at least {WINDOW} slots")
        shm = Path("/dev/shm")  # noqa: S108 - mkstemp below: a new 0600 file, never an old one
        where = folder or (shm if shm.is_dir() else Path(tempfile.gettempdir()))
        fd, name = tempfile.mkstemp(prefix="lienthong-nonces-", dir=where)
        try:
            os.ftruncate(fd, slots * (DIGEST_BYTES + EXPIRY_BYTES))
        finally:
            os.close(fd)
        return cls(Path(name), slots, secrets.token_bytes(32))

    def remove(self) -> None:
        """Delete the table file (processes that mapped it keep their mapping)."""
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


class HostReplayCache:
    """A :class:`~security.replay.ReplayCache` over a :class:`HostReplayTable` (see the module)."""

    def __init__(self, table: HostReplayTable, *, clock: Callable[[], float] = time.time) -> None:
        self._slots = table.slots
        self._key = table.key
        self._clock = clock
        self._file = os.open(table.path, os.O_RDWR)
        size = table.slots * (DIGEST_BYTES + EXPIRY_BYTES)
        if os.fstat(self._file).st_size != size:
            os.close(self._file)
            raise ValueError(f"{table.path} does not hold a table of {table.slots} slots")
        self._map = mmap.mmap(self._file, size)
        self._digests = memoryview(self._map)[: table.slots * DIGEST_BYTES]
        self._expiries = memoryview(self._map)[table.slots * DIGEST_BYTES :].cast("d")
        self._thread_lock = threading.Lock()  # flock does not exclude threads of one process

    def seen(self, keyid: str, nonce: str, expires_at: float) -> bool:
        """True when (keyid, nonce) is in the table and unexpired; otherwise put it there."""
        digest = hashlib.blake2b(
            f"{keyid}\x00{nonce}".encode(), key=self._key, digest_size=DIGEST_BYTES
        ).digest()
        first = int.from_bytes(digest[:8], "little") % (self._slots - WINDOW + 1)
        now = self._clock()
        with self._locked():
            window = bytes(self._digests[first * DIGEST_BYTES : (first + WINDOW) * DIGEST_BYTES])
            expiries = self._expiries[first : first + WINDOW].tolist()
            free = -1
            at = window.find(digest)
            while at != -1:
                if at % DIGEST_BYTES == 0:
                    if expiries[at // DIGEST_BYTES] >= now:
                        return True
                    free = at // DIGEST_BYTES  # the same nonce, expired: reuse its slot
                    break
                at = window.find(digest, at + 1)
            if free < 0:
                free = next((i for i, expiry in enumerate(expiries) if expiry < now), -1)
            if free < 0:
                raise ReplayCacheUnavailable(
                    "the replay cache is full; the request's freshness cannot be checked"
                )
            slot = first + free
            self._digests[slot * DIGEST_BYTES : (slot + 1) * DIGEST_BYTES] = digest
            self._expiries[slot] = expires_at
            return False

    def close(self) -> None:
        """Unmap the table."""
        self._digests.release()
        self._expiries.release()
        self._map.close()
        os.close(self._file)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        with self._thread_lock:
            fcntl.flock(self._file, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(self._file, fcntl.LOCK_UN)


__all__ = ["DEFAULT_SLOTS", "WINDOW", "HostReplayCache", "HostReplayTable"]
