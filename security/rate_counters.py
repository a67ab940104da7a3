"""Rate counters: how many calls a key made in the current fixed window, shared like nonces.

A key (a client and an operation; a client and a citizen's keyed hash) is counted per window of
``window`` seconds, windows aligned to the epoch shifted by ``offset`` seconds (``-25200``
aligns days to midnight in Asia/Ho_Chi_Minh). :meth:`RateCounter.hit` counts one call and says
how many the window holds now and how long it has left. Three stores, as for the replay cache:

* :class:`MemoryRateCounter` — one process;
* :class:`HostRateCounter` over a :class:`HostRateTable` — the processes of one host
  (``serve --workers N``): a table in a shared-memory file under ``flock``, as
  :mod:`security.host_replay`; a key's BLAKE2b digest (keyed per run) may sit only in the
  ``WINDOW`` slots from the position it selects; a window with no free or expired slot is full
  and the call is refused (``RateCounterUnavailable``), never waved through;
* :class:`RedisRateCounter` — every process using one Redis (``INCR`` + ``EXPIREAT`` in one
  transaction per call). It fails closed as well.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import math
import mmap
import os
import secrets
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple, Protocol

from security.errors import RateCounterUnavailable

if TYPE_CHECKING:
    import redis

DIGEST_BYTES = 16
WINDOW = 64
DEFAULT_SLOTS = 1 << 18  # 8 MiB


class Count(NamedTuple):
    """One call counted: the calls the window holds now (this one included), seconds left."""

    calls: int
    reset_after: float


class RateCounter(Protocol):
    """Where calls are counted (one process: memory; several: a shared store)."""

    def hit(self, key: str, window: int, *, offset: int = 0) -> Count:
        """Count one call of ``key`` in its current window of ``window`` seconds."""
        ...


def window_bounds(now: float, window: int, offset: int = 0) -> tuple[int, int]:
    """The start and end (epoch seconds) of the window of ``window`` seconds holding ``now``."""
    start = math.floor((now - offset) / window) * window + offset
    return start, start + window


class MemoryRateCounter:
    """Counts in this process's memory, holding at most ``max_keys`` windows (when all are live,
    the oldest are forgotten first: a memory of one process is a best effort)."""

    def __init__(self, max_keys: int = 100_000, *, clock: Callable[[], float] = time.time) -> None:
        self._max = max_keys
        self._clock = clock
        self._counts: dict[tuple[str, int], tuple[int, int]] = {}
        self._lock = threading.Lock()

    def hit(self, key: str, window: int, *, offset: int = 0) -> Count:
        """Count one call of ``key`` in its current window."""
        now = self._clock()
        # window_bounds(now, window, offset), written out: a call fewer per counted call
        start = math.floor((now - offset) / window) * window + offset
        end = start + window
        with self._lock:
            calls, _ = self._counts.get((key, start), (0, end))
            if not calls and len(self._counts) >= self._max:
                self._forget(now)
            self._counts[(key, start)] = (calls + 1, end)
        # Count(calls + 1, end - now) as the named tuple's own __new__ makes it (tuple.__new__
        # of the class), without that Python-level function's call
        return tuple.__new__(Count, (calls + 1, end - now))

    def _forget(self, now: float) -> None:
        """Drop the ended windows; if all are live, the oldest tenth (so this runs rarely)."""
        for found, (_, end) in list(self._counts.items()):
            if end <= now:
                del self._counts[found]
        if len(self._counts) >= self._max:
            for found in list(self._counts)[: max(1, self._max // 10)]:
                del self._counts[found]


@dataclass(frozen=True)
class HostRateTable:
    """What a process needs to map the shared table: its file, its size, the digest key."""

    path: Path
    slots: int
    key: bytes

    @classmethod
    def create(cls, slots: int = DEFAULT_SLOTS, *, folder: Path | None = None) -> HostRateTable:
        """Make an empty table file (mode 0600) under ``/dev/shm`` when it exists."""
        if slots < WINDOW:
            raise ValueError(f"a rate table needs at least {WINDOW} slots")
        shm = Path("/dev/shm")  # noqa: S108 - mkstemp below: a new 0600 file, never an old one
        where = folder or (shm if shm.is_dir() else Path(tempfile.gettempdir()))
        fd, name = tempfile.mkstemp(prefix="lienthong-rates-", dir=where)
        try:
            os.ftruncate(fd, slots * (DIGEST_BYTES + 16))
        finally:
            os.close(fd)
        return cls(Path(name), slots, secrets.token_bytes(32))

    def remove(self) -> None:
        """Delete the table file (processes that mapped it keep their mapping)."""
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


class HostRateCounter:
    """A :class:`RateCounter` over a :class:`HostRateTable` (see the module docstring).

    Layout: all digests (16 bytes each), then all window ends (float64; 0.0 is an empty slot),
    then all counts (int64).
    """

    def __init__(self, table: HostRateTable, *, clock: Callable[[], float] = time.time) -> None:
        self._slots = table.slots
        self._key = table.key
        self._clock = clock
        self._file = os.open(table.path, os.O_RDWR)
        size = table.slots * (DIGEST_BYTES + 16)
        if os.fstat(self._file).st_size != size:
            os.close(self._file)
            raise ValueError(f"{table.path} does not hold a table of {table.slots} slots")
        self._map = mmap.mmap(self._file, size)
        view = memoryview(self._map)
        digests_end = table.slots * DIGEST_BYTES
        self._digests = view[:digests_end]
        self._ends = view[digests_end : digests_end + table.slots * 8].cast("d")
        self._counts = view[digests_end + table.slots * 8 :].cast("q")
        self._thread_lock = threading.Lock()

    def hit(self, key: str, window: int, *, offset: int = 0) -> Count:
        """Count one call of ``key`` in its current window."""
        now = self._clock()
        start, end = window_bounds(now, window, offset)
        digest = hashlib.blake2b(
            f"{key}\x00{start}".encode(), key=self._key, digest_size=DIGEST_BYTES
        ).digest()
        first = int.from_bytes(digest[:8], "little") % (self._slots - WINDOW + 1)
        with self._locked():
            span = bytes(self._digests[first * DIGEST_BYTES : (first + WINDOW) * DIGEST_BYTES])
            ends = self._ends[first : first + WINDOW].tolist()
            slot = -1
            at = span.find(digest)
            while at != -1:
                if at % DIGEST_BYTES == 0 and ends[at // DIGEST_BYTES] > now:
                    slot = first + at // DIGEST_BYTES
                    self._counts[slot] += 1
                    return Count(int(self._counts[slot]), end - now)
                at = span.find(digest, at + 1)
            slot = next((i for i, ending in enumerate(ends) if ending <= now), -1)
            if slot < 0:
                raise RateCounterUnavailable("the rate table is full; the call cannot be counted")
            slot += first
            self._digests[slot * DIGEST_BYTES : (slot + 1) * DIGEST_BYTES] = digest
            self._ends[slot] = float(end)
            self._counts[slot] = 1
            return Count(1, end - now)

    def close(self) -> None:
        """Unmap the table."""
        self._digests.release()
        self._ends.release()
        self._counts.release()
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


class RedisRateCounter:
    """Counts in Redis, shared by every process using the same server and ``prefix``."""

    def __init__(
        self,
        client: redis.Redis,
        *,
        prefix: str = "lienthong:rate:",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._client = client
        self._prefix = prefix
        self._clock = clock

    @classmethod
    def from_url(cls, url: str, *, prefix: str = "lienthong:rate:") -> RedisRateCounter:
        """A counter on the Redis server at ``url`` (``redis://127.0.0.1:6379/0``)."""
        import redis

        client = redis.Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0)
        return cls(client, prefix=prefix)

    def hit(self, key: str, window: int, *, offset: int = 0) -> Count:
        """Count one call of ``key`` in its current window (``INCR``, ``EXPIREAT`` its end)."""
        import redis

        now = self._clock()
        start, end = window_bounds(now, window, offset)
        name = f"{self._prefix}{key}:{start}"
        try:
            pipe = self._client.pipeline(transaction=True)
            pipe.incr(name)
            pipe.expireat(name, end + 1)
            calls, _ = pipe.execute()
        except redis.RedisError as exc:
            raise RateCounterUnavailable(
                "the rate counters cannot be reached; the call cannot be counted"
            ) from exc
        return Count(int(calls), end - now)

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()


__all__ = [
    "DEFAULT_SLOTS",
    "WINDOW",
    "Count",
    "HostRateCounter",
    "HostRateTable",
    "MemoryRateCounter",
    "RateCounter",
    "RedisRateCounter",
    "window_bounds",
]
