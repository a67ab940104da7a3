"""Anchors: the chain's head time-stamped by an RFC 3161 time-stamping authority (TSA).

A hash chain proves that nothing inside it changed, not that it was not cut at the end or
rewritten from some record on (with the head moved to match). An anchor closes that gap, as
X-Road's message log does with batch time-stamps: ``anchor_log`` writes the text below, has the
TSA time-stamp its SHA-256, and keeps text and token in ``message_log_anchors``::

    lienthong-messagelog-anchor/1
    previous <SHA-256 of the previous anchor's token, 64 zeros for the first>
    record <seq> <digest>        one line per record since the previous anchor
    head <seq> <digest>          the last record stamped (the head when nothing was added)

The TSA's signature makes the text unforgeable after its ``genTime``; ``previous`` chains the
anchors, so one cannot be removed from the middle. ``check_anchors`` (run by ``log verify``)
finds, for every anchor, that its token verifies over its text and that every record it names is
still in the log with the same digest: a cut tail (records gone, head moved back) and a rewritten
chain (records re-sealed from some point on) are found and located at the first record that
differs. Deleting the newest anchors together with the tail is found by their age
(``max_age``): anchoring runs every ``interval`` even when nothing was added.

One run stamps at most ``max_records`` records per anchor (a larger backlog gets several).
Anchoring from several processes at once is safe: an anchor's ``previous`` is unique, so the
second to write the same link stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from schemas.times import utc_now
from security.errors import SecurityError
from security.timestamps import TimeStamp, verify_token
from security.trust import TrustStore
from store.errors import ConstraintViolation
from store.message_log.chain import GENESIS, format_time
from store.message_log.records import snapshot
from store.tables.message_log import message_log, message_log_anchors, message_log_head

ANCHOR_FORMAT = "lienthong-messagelog-anchor/1"
MAX_ANCHOR_RECORDS = 20_000
logger = logging.getLogger("lienthong.store.anchors")


class Stamper(Protocol):
    """A time-stamping authority (``security.tsa_client.TsaClient`` is one)."""

    url: str

    async def stamp(self, imprint: bytes) -> TimeStamp:
        """A checked token over the SHA-256 ``imprint``."""
        ...


@dataclass(frozen=True, slots=True)
class Anchor:
    """One stored anchor: the records it covers and when the TSA stamped them."""

    id: int
    first_seq: int
    last_seq: int
    head_digest: str
    gen_time: dt.datetime
    data: bytes
    token: bytes
    tsa_url: str

    @property
    def covers(self) -> range:
        """The sequence numbers of the records it names (empty for a heartbeat)."""
        return range(self.first_seq, self.last_seq + 1)


@dataclass(frozen=True, slots=True)
class AnchorText:
    """An anchor's text, read back."""

    previous: str
    records: tuple[tuple[int, str], ...]
    head: tuple[int, str]


def anchor_text(previous: str, records: Sequence[tuple[int, str]], head: tuple[int, str]) -> bytes:
    """The exact bytes an anchor time-stamps (see the module docstring)."""
    lines = [ANCHOR_FORMAT, f"previous {previous}"]
    lines += [f"record {seq} {digest}" for seq, digest in records]
    lines.append(f"head {head[0]} {head[1]}")
    return ("\n".join(lines) + "\n").encode("ascii")


def parse_anchor_text(data: bytes) -> AnchorText:
    """:func:`anchor_text` read back; ``ValueError`` when it is not one."""
    lines = data.decode("ascii").split("\n")
    if len(lines) < 4 or lines[0] != ANCHOR_FORMAT or lines[-1] != "":
        raise ValueError("not an anchor text")
    kind, previous = lines[1].split(" ")
    if kind != "previous" or len(previous) != 64:
        raise ValueError("no previous line")
    records: list[tuple[int, str]] = []
    for line in lines[2:-2]:
        kind, seq, digest = line.split(" ")
        if kind != "record" or len(digest) != 64:
            raise ValueError("malformed record line")
        records.append((int(seq), digest))
    kind, seq, digest = lines[-2].split(" ")
    if kind != "head" or len(digest) != 64:
        raise ValueError("no head line")
    return AnchorText(previous, tuple(records), (int(seq), digest))


def _anchor(row: Any) -> Anchor:
    return Anchor(
        row.id,
        row.first_seq,
        row.last_seq,
        row.head_digest,
        row.gen_time,
        row.data,
        row.token,
        row.tsa_url,
    )


async def anchor_log(
    engine: AsyncEngine,
    stamper: Stamper,
    *,
    max_records: int = MAX_ANCHOR_RECORDS,
    now: dt.datetime | None = None,
) -> list[Anchor]:
    """Time-stamp the records since the last anchor (or the unchanged head); the new anchors."""
    made: list[Anchor] = []
    while True:
        async with snapshot(engine) as conn:
            last = (
                await conn.execute(
                    select(message_log_anchors).order_by(message_log_anchors.c.id.desc()).limit(1)
                )
            ).first()
            head = (await conn.execute(select(message_log_head))).first()
            head_seq, head_digest = (head.seq, head.digest) if head is not None else (0, GENESIS)
            after = last.last_seq if last is not None else 0
            if made and head_seq <= after:
                return made
            rows = (
                await conn.execute(
                    select(message_log.c.seq, message_log.c.digest)
                    .where(message_log.c.seq > after)
                    .where(message_log.c.seq <= min(head_seq, after + max_records))
                    .order_by(message_log.c.seq)
                )
            ).all()
        records = [(int(row.seq), str(row.digest)) for row in rows]
        top = records[-1] if records else (head_seq, head_digest)
        previous = last.token_sha256 if last is not None else GENESIS
        data = anchor_text(previous, records, top)
        stamp = await stamper.stamp(hashlib.sha256(data).digest())
        values = {
            "first_seq": records[0][0] if records else top[0] + 1,
            "last_seq": top[0],
            "head_digest": top[1],
            "previous_token_sha256": previous,
            "token_sha256": hashlib.sha256(stamp.token).hexdigest(),
            "data": data,
            "token": stamp.token,
            "tsa_url": stamper.url[:512],
            "gen_time": stamp.gen_time,
            "created_at": now or utc_now(),
        }
        try:
            async with engine.begin() as conn:
                result = await conn.execute(insert(message_log_anchors).values(**values))
                anchor_id = int(result.inserted_primary_key[0])  # type: ignore[index]
        except ConstraintViolation:
            logger.info("another process anchored the same head first")
            return made
        made.append(_anchor(_Row(anchor_id, values)))
        if not records:
            return made


class _Row:
    def __init__(self, anchor_id: int, values: dict[str, Any]) -> None:
        self.id = anchor_id
        for name, value in values.items():
            setattr(self, name, value)


@dataclass(frozen=True, slots=True)
class AnchorBreak:
    """What an anchor shows to be wrong: where (``seq``), a code, and what."""

    seq: int | None
    problem: str
    detail: str


@dataclass
class AnchorReport:
    """What ``check_anchors`` found: anchors checked, the last record anchored, a break."""

    anchors: int = 0
    anchored_seq: int = 0
    newest: dt.datetime | None = None
    first_break: AnchorBreak | None = None


async def check_anchors(
    conn: AsyncConnection,
    trust: TrustStore | None,
    *,
    max_age: dt.timedelta | None = None,
    now: dt.datetime | None = None,
) -> AnchorReport:
    """Check every anchor against the log (see the module docstring); the first break found.

    Without ``trust`` the tokens' signatures are not checked, only that the anchors chain and
    that the records they name are still in the log.
    """
    report = AnchorReport()
    previous = GENESIS
    rows = await conn.stream(select(message_log_anchors).order_by(message_log_anchors.c.id))
    async for row in rows:
        anchor = _anchor(row)
        when = format_time(anchor.gen_time)
        name = f"anchor {anchor.id} (time-stamped {when})"
        try:
            text = parse_anchor_text(anchor.data)
        except (ValueError, UnicodeDecodeError):
            return _stop(report, None, "anchor_altered", f"{name}: its text is not an anchor's")
        if text.previous != previous:
            return _stop(
                report,
                anchor.first_seq,
                "anchor_missing",
                f"{name} does not follow the anchor before it (an anchor was removed)",
            )
        if trust is not None:
            try:
                verify_token(anchor.token, hashlib.sha256(anchor.data).digest(), trust)
            except SecurityError as exc:
                problem = "anchor_altered" if exc.reason == "imprint_mismatch" else "anchor_invalid"
                return _stop(
                    report, anchor.first_seq, problem, f"{name}: its time-stamp fails ({exc})"
                )
        # a heartbeat (nothing added since) names the head it found: it must still be there
        expected = list(text.records) or ([text.head] if text.head[0] > 0 else [])
        found = await _digests(conn, [seq for seq, _ in expected])
        for seq, digest in expected:
            if seq not in found:
                return _stop(
                    report,
                    seq,
                    "anchored_record_missing",
                    f"record {seq} was time-stamped in {name} but is no longer in the log "
                    "(the log was cut: records deleted and the head moved back)",
                )
            if found[seq] != digest:
                return _stop(
                    report,
                    seq,
                    "anchored_record_rewritten",
                    f"its digest is not the one time-stamped in {name} "
                    "(the chain was rewritten from this record on)",
                )
        previous = hashlib.sha256(anchor.token).hexdigest()
        report.anchors += 1
        report.anchored_seq = max(report.anchored_seq, text.head[0])
        report.newest = anchor.gen_time
    if max_age is not None:
        moment = (now or utc_now()).astimezone(dt.UTC)
        newest = report.newest
        if newest is not None and newest.tzinfo is None:
            newest = newest.replace(tzinfo=dt.UTC)
        if newest is None or moment - newest > max_age:
            age = "no anchor" if newest is None else f"the newest anchor is from {newest}"
            return _stop(
                report,
                report.anchored_seq + 1,
                "anchor_stale",
                f"{age}, older than {int(max_age.total_seconds())} s: anchoring stopped, "
                "or the newest anchors were removed with the records they covered",
            )
    return report


def _stop(report: AnchorReport, seq: int | None, problem: str, detail: str) -> AnchorReport:
    report.first_break = AnchorBreak(seq, problem, detail)
    return report


async def _digests(conn: AsyncConnection, seqs: list[int]) -> dict[int, str]:
    if not seqs:
        return {}
    rows = (
        await conn.execute(
            select(message_log.c.seq, message_log.c.digest)
            .where(message_log.c.seq >= min(seqs))
            .where(message_log.c.seq <= max(seqs))
        )
    ).all()
    return {int(row.seq): str(row.digest) for row in rows}


async def anchor_covering(conn: AsyncConnection, seq: int) -> Anchor | None:
    """The first anchor that names record ``seq``, if it was anchored yet."""
    row = (
        await conn.execute(
            select(message_log_anchors)
            .where(message_log_anchors.c.first_seq <= seq)
            .where(message_log_anchors.c.last_seq >= seq)
            .order_by(message_log_anchors.c.id)
            .limit(1)
        )
    ).first()
    return _anchor(row) if row is not None else None


class AnchorService:
    """Anchors the log every ``interval`` seconds while the adapter runs (a failed run is
    logged and tried again at the next tick)."""

    name = "log-anchors"

    def __init__(self, engine: AsyncEngine, stamper: Stamper, *, interval: float) -> None:
        self._engine = engine
        self._stamper = stamper
        self._interval = interval
        self._task: asyncio.Task[None] | None = None
        self.runs = 0
        self.failures = 0

    async def start(self) -> None:
        """Start anchoring in the background."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=self.name)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await anchor_log(self._engine, self._stamper)
                self.runs += 1
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the next tick tries again; the log stays writable
                self.failures += 1
                logger.warning(
                    "anchoring the message log failed",
                    extra={"error": type(exc).__name__, "reason": getattr(exc, "reason", None)},
                )

    async def stop(self) -> None:
        """Stop anchoring (a run in flight is cancelled; its anchor is not written)."""
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


__all__ = [
    "ANCHOR_FORMAT",
    "MAX_ANCHOR_RECORDS",
    "Anchor",
    "AnchorBreak",
    "AnchorReport",
    "AnchorService",
    "AnchorText",
    "Stamper",
    "anchor_covering",
    "anchor_log",
    "anchor_text",
    "check_anchors",
    "parse_anchor_text",
]
