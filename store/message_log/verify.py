"""``verify_log``: walk the chain, check every digest, body and signature; name the first break.

Per record, in order: its ``seq`` follows the one before (a gap means records were deleted);
its digest matches its sealed fields (if not, and the same fields sealed at another position
match, the record was moved: reordered, or renumbered after a deletion; otherwise altered); its
``prev_digest`` is the digest of the record before; its signers' certificates are kept; with the
body key, its wire messages decrypt under their binding and match their digests; with a trust
store, the request's signature holds at the time it was sent and, for an exchange that
succeeded, the response's at the time it came back. At the end the head row must name the last
record (if not, the tail was deleted).

Then the anchors (``store.message_log.anchors``): each time-stamp must verify over its text and
every record it names must still be in the log with the digest stamped, so a cut tail or a chain
rewritten from some record on (head moved to match) is found without a head kept by hand.

A purged record must carry a purge marker that holds: purged no sooner than the retention period
it names after the exchange, under a period no shorter than ``min_retention``, not in the future,
and (with the key) authenticated by the log's key; bodies gone without a marker are a break too.
"""

from __future__ import annotations

import datetime as dt
import hmac
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from schemas.times import utc_now
from security.trust import TrustStore
from store.message_log.anchors import check_anchors
from store.message_log.chain import GENESIS, format_time, sha256_hex
from store.message_log.crypto import BodyCipher, BodyKind
from store.message_log.errors import BodyUnavailable
from store.message_log.records import StoredRecord, iter_records, record_at, snapshot
from store.message_log.signatures import OfflineVerifier
from store.message_log.wire import body_of
from store.tables.message_log import message_log, message_log_certificates, message_log_head

#: how far in the future a purge marker may be dated (clocks of other machines)
PURGE_SKEW = dt.timedelta(minutes=5)
#: how far from its stored position a moved record is looked for
MOVE_WINDOW = 64
OK_OUTCOME = "ok"


@dataclass(frozen=True, slots=True)
class ChainBreak:
    """The first thing found wrong: which record (``seq``, message id), a code and what is wrong."""

    seq: int | None
    message_id: str | None
    problem: str
    detail: str

    def line(self) -> str:
        """One readable line naming the record and the problem."""
        where = "the log" if self.seq is None else f"record {self.seq}"
        if self.message_id is not None:
            where += f" (message {self.message_id})"
        return f"BROKEN at {where}: {self.detail} [{self.problem}]"


@dataclass
class VerifyReport:
    """What ``verify_log`` checked, and the first break (``None`` when the log is intact)."""

    records: int = 0
    head_seq: int = 0
    head_digest: str = GENESIS
    bodies_checked: int = 0
    purged: int = 0
    signatures_checked: int = 0
    signatures_skipped: int = 0
    first_break: ChainBreak | None = None
    notes: list[str] = field(default_factory=list)
    #: how many exchanges ended with each outcome (``ok``, the upstream's code, …)
    outcomes: dict[str, int] = field(default_factory=dict)
    anchors: int = 0
    anchored_seq: int = 0
    newest_anchor: str | None = None

    @property
    def intact(self) -> bool:
        """Whether nothing was found wrong."""
        return self.first_break is None

    def line(self) -> str:
        """One readable line: the verdict and what it rests on."""
        if self.first_break is not None:
            return self.first_break.line()
        text = (
            f"OK: {self.records} records, chain intact up to record {self.head_seq} "
            f"(digest {self.head_digest}); {self.bodies_checked} bodies and "
            f"{self.signatures_checked} signatures verified, {self.purged} records purged"
        )
        if self.anchors:
            text += (
                f"; {self.anchors} anchors, time-stamped up to record {self.anchored_seq} "
                f"(newest {self.newest_anchor})"
            )
        refused = self.refusals()
        if refused:
            text += "; not ok: " + refused
        if self.notes:
            text += "; " + "; ".join(self.notes)
        return text

    def refusals(self) -> str:
        """The outcomes other than ``ok`` with their counts, most frequent first
        (``3 NOT_FOUND, 1 CITIZEN_NOT_FOUND``); empty when every exchange was ok."""
        counted = sorted(
            ((n, code) for code, n in self.outcomes.items() if code != OK_OUTCOME),
            key=lambda item: (-item[0], item[1]),
        )
        return ", ".join(f"{n} {code}" for n, code in counted)


def _span(age: dt.timedelta) -> str:
    seconds = int(age.total_seconds())
    if seconds < 3600:
        return f"{seconds // 60} minutes"
    if seconds < 2 * 86400:
        return f"{seconds // 3600} hours"
    return f"{seconds // 86400} days"


class _Walker:
    def __init__(
        self,
        conn: AsyncConnection,
        cipher: BodyCipher | None,
        trust: TrustStore | None,
        *,
        min_retention: dt.timedelta = dt.timedelta(0),
        now: dt.datetime | None = None,
    ) -> None:
        self.conn = conn
        self.cipher = cipher
        self.min_retention = min_retention
        self.now = (now or utc_now()).astimezone(dt.UTC)
        self.verifier = OfflineVerifier(trust) if trust is not None else None
        self.report = VerifyReport()
        self.certs: dict[str, x509.Certificate | None] = {}

    async def check(
        self, record: StoredRecord, prev_seq: int, prev_digest: str
    ) -> ChainBreak | None:
        sealed = record.sealed
        if record.seq != prev_seq + 1:
            if record.seq <= prev_seq:  # cannot happen with a primary key; kept for safety
                return self._break(record, "duplicate_seq", "its sequence number repeats")
            missing = (
                f"record {prev_seq + 1} is missing before it"
                if record.seq == prev_seq + 2
                else f"records {prev_seq + 1}..{record.seq - 1} are missing before it"
            )
            return self._break(record, "records_deleted", missing + " (deleted)")
        if sealed.digest() != record.digest:
            return await self._mismatch(record)
        if sealed.prev_digest != prev_digest:
            return self._break(
                record,
                "chain_broken",
                f"its prev_digest is not the digest of record {prev_seq} "
                "(the record before it was replaced)",
            )
        purge = self._purge(record)
        if purge is not None:
            return purge
        for kind, fp in (("request", sealed.request_signer), ("response", sealed.response_signer)):
            if fp is not None and await self._certificate(fp) is None:
                return self._break(
                    record, "certificate_missing", f"the {kind} signer's certificate is not kept"
                )
        if self.cipher is None:
            return None
        return await self._bodies(record, self.cipher)

    def _purge(self, record: StoredRecord) -> ChainBreak | None:
        """A purge marker that does not hold (or bodies gone without one)."""
        purged_at = record.purged_at
        if purged_at is None:
            if record.request_wire is None:
                return self._break(
                    record, "bodies_missing", "its bodies are gone but it was never purged"
                )
            return None
        days = record.purge_retention_days
        if days is None or record.purge_mac is None:
            return self._break(
                record,
                "purge_unauthenticated",
                "its bodies were purged without a purge marker (no retention period, no MAC)",
            )
        purged_at = purged_at if purged_at.tzinfo else purged_at.replace(tzinfo=dt.UTC)
        started = record.started_at
        started = started if started.tzinfo else started.replace(tzinfo=dt.UTC)
        age = purged_at - started
        if age < dt.timedelta(days=days) or dt.timedelta(days=days) < self.min_retention:
            return self._break(
                record,
                "purge_too_early",
                f"its bodies were purged {_span(age)} after the exchange, under a retention "
                f"period of {days} days (at least {self.min_retention.days} days required)",
            )
        if purged_at > self.now + PURGE_SKEW:
            return self._break(record, "purge_in_future", "its purge marker is dated in the future")
        if self.cipher is not None:
            expected = self.cipher.purge_mac(
                record.seq, record.digest, format_time(purged_at), days
            )
            if not hmac.compare_digest(expected, record.purge_mac):
                return self._break(
                    record,
                    "purge_unauthenticated",
                    "its purge marker is not authenticated by the log's key (a faked purge)",
                )
        return None

    async def _mismatch(self, record: StoredRecord) -> ChainBreak:
        sealed = record.sealed
        origin = (
            await self.conn.execute(
                select(message_log.c.seq).where(message_log.c.digest == sealed.prev_digest)
            )
        ).scalar()
        candidates = [] if origin is None else [int(origin) + 1]
        candidates += [
            s for d in range(1, MOVE_WINDOW + 1) for s in (record.seq + d, record.seq - d) if s > 0
        ]
        for seq in candidates:
            if sealed.at(seq).digest() == record.digest:
                if origin is None and sealed.prev_digest != GENESIS:
                    detail = (
                        f"it was sealed as record {seq} and the record it followed is gone "
                        "(records deleted and renumbered)"
                    )
                else:
                    detail = f"it was sealed as record {seq} (records reordered)"
                return self._break(record, "records_reordered", detail)
        return self._break(
            record, "record_altered", "its contents do not match its digest (record altered)"
        )

    async def _certificate(self, fingerprint: str) -> x509.Certificate | None:
        if fingerprint not in self.certs:
            der = (
                await self.conn.execute(
                    select(message_log_certificates.c.der).where(
                        message_log_certificates.c.fingerprint == fingerprint
                    )
                )
            ).scalar()
            cert = None
            if der is not None:
                loaded = x509.load_der_x509_certificate(der)
                if loaded.fingerprint(hashes.SHA256()).hex() == fingerprint:
                    cert = loaded
            self.certs[fingerprint] = cert
        return self.certs[fingerprint]

    async def _bodies(self, record: StoredRecord, cipher: BodyCipher) -> ChainBreak | None:
        sealed = record.sealed
        if record.request_wire is None and record.purged_at is not None:
            self.report.purged += 1
            return None
        if record.body_key_id is not None and record.body_key_id != cipher.key_id:
            return self._break(
                record,
                "other_key",
                f"its bodies are encrypted with key {record.body_key_id}, "
                f"not with the key given ({cipher.key_id})",
            )
        wires: dict[BodyKind, bytes | None] = {}
        checks: list[tuple[BodyKind, str | None, str | None]] = [
            ("request", sealed.request_sha256, sealed.request_body_sha256),
            ("response", sealed.response_sha256, sealed.response_body_sha256),
        ]
        for kind, digest, body_digest in checks:
            try:
                wire = record.wire(kind, cipher)
            except BodyUnavailable as exc:
                return self._break(record, f"{kind}_unreadable", str(exc))
            if (wire is None) != (digest is None):
                return self._break(
                    record, f"{kind}_altered", f"its {kind} is present where none was sealed"
                )
            if wire is not None:
                if sha256_hex(wire) != digest or sha256_hex(body_of(wire)) != body_digest:
                    return self._break(
                        record, f"{kind}_altered", f"its {kind} does not match its sealed digest"
                    )
                self.report.bodies_checked += 1
            wires[kind] = wire
        if self.verifier is None:
            return None
        return await self._signatures(record, wires.get("request"), wires.get("response"))

    async def _signatures(
        self, record: StoredRecord, request: bytes | None, response: bytes | None
    ) -> ChainBreak | None:
        assert self.verifier is not None
        sealed = record.sealed
        if request is not None and sealed.request_signer is not None:
            signer = await self._certificate(sealed.request_signer)
            problem = self.verifier.check_request(record, request, signer)
            if problem is not None:
                return self._break(
                    record, "bad_request_signature", f"its request signature fails: {problem}"
                )
            self.report.signatures_checked += 1
        elif request is not None:
            self.report.signatures_skipped += 1
        if response is None or request is None:
            return None
        if sealed.outcome == OK_OUTCOME and sealed.response_signer is not None:
            signer = await self._certificate(sealed.response_signer)
            problem = self.verifier.check_response(record, request, response, signer)
            if problem is not None:
                return self._break(
                    record, "bad_response_signature", f"its response signature fails: {problem}"
                )
            self.report.signatures_checked += 1
        else:
            self.report.signatures_skipped += 1
        return None

    def _break(self, record: StoredRecord, problem: str, detail: str) -> ChainBreak:
        return ChainBreak(record.seq, record.message_id, problem, detail)


async def verify_log(
    engine: AsyncEngine,
    *,
    cipher: BodyCipher | None = None,
    trust: TrustStore | None = None,
    min_retention: dt.timedelta = dt.timedelta(0),
    now: dt.datetime | None = None,
    tsa_trust: TrustStore | None = None,
    max_anchor_age: dt.timedelta | None = None,
) -> VerifyReport:
    """Check the whole log offline; the report names the first break, if any.

    Without ``cipher`` only the chain is checked (bodies stay sealed, purge markers are checked
    but not their MAC); without ``trust`` the signatures are not. ``min_retention``: the shortest
    retention period a purge may have applied. ``tsa_trust`` checks the anchors' time-stamps
    (without it the anchors are still compared with the records); ``max_anchor_age``: the newest
    anchor must be younger (anchoring runs periodically).
    """
    async with snapshot(engine) as conn:
        walker = _Walker(conn, cipher, trust, min_retention=min_retention, now=now)
        report = walker.report
        prev_seq, prev_digest = 0, GENESIS
        last: StoredRecord | None = None
        async for record in iter_records(conn):
            found = await walker.check(record, prev_seq, prev_digest)
            if found is not None:
                report.first_break = found
                return report
            report.records += 1
            outcome = record.sealed.outcome
            report.outcomes[outcome] = report.outcomes.get(outcome, 0) + 1
            prev_seq, prev_digest, last = record.seq, record.digest, record
        report.head_seq, report.head_digest = prev_seq, prev_digest
        head = (await conn.execute(select(message_log_head))).first()
        if head is None:
            if last is not None:
                report.first_break = ChainBreak(
                    None, None, "head_missing", "the head row naming the last record is missing"
                )
                return report
        elif head.seq > prev_seq:
            first_missing = prev_seq + 1
            report.first_break = ChainBreak(
                first_missing,
                None,
                "tail_deleted",
                f"the log ends at record {prev_seq} but its head names record {head.seq}: "
                f"records {first_missing}..{head.seq} were deleted",
            )
        elif head.seq != prev_seq or head.digest != prev_digest:
            report.first_break = ChainBreak(
                head.seq,
                last.message_id if last is not None else None,
                "head_mismatch",
                f"the head row (record {head.seq}) does not match the last record {prev_seq}",
            )
        if report.first_break is None:
            anchored = await check_anchors(conn, tsa_trust, max_age=max_anchor_age, now=now)
            report.anchors, report.anchored_seq = anchored.anchors, anchored.anchored_seq
            if anchored.newest is not None:
                report.newest_anchor = format_time(anchored.newest)
            found_break = anchored.first_break
            if found_break is not None:
                where = await record_at(conn, found_break.seq) if found_break.seq else None
                report.first_break = ChainBreak(
                    found_break.seq,
                    where.message_id if where is not None else None,
                    found_break.problem,
                    found_break.detail,
                )
                return report
            if report.anchored_seq < prev_seq:
                report.notes.append(
                    f"records {report.anchored_seq + 1}..{prev_seq} not yet anchored"
                )
            if anchored.anchors and tsa_trust is None:
                report.notes.append("time-stamps not checked (no TSA trust)")
        if cipher is None:
            report.notes.append("bodies not checked (no key)")
        elif trust is None:
            report.notes.append("signatures not checked (no trust store)")
        return report


__all__ = ["ChainBreak", "VerifyReport", "verify_log"]
