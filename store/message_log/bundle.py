"""Evidence bundles: one exchange out of the message log, checkable without lienthong.

``export_bundle`` writes a zip holding the record's sealed fields (``record.json``, whose SHA-256
is the record's digest), the wire messages (``request.http`` / ``response.http``; for SOAP also the
signed envelopes ``request.xml`` / ``response.xml``), the signers' certificates and the CA, the
record's place in the chain (``manifest.json``: the digests before and after it and the head),
``SHA256SUMS`` and a ``README.txt`` with the exact ``sha256sum`` / ``xmlsec1`` / ``openssl``
commands; ``manifest.json`` lists the same commands as argument vectors. See
docs/evidence-bundle.md.
"""

from __future__ import annotations

import datetime as dt
import json
import shlex
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from schemas.times import utc_now
from store.message_log.anchors import Anchor, anchor_covering
from store.message_log.answers import describe_answer
from store.message_log.chain import format_time, sha256_hex
from store.message_log.checks import Check
from store.message_log.crypto import BodyCipher, BodyKind
from store.message_log.errors import BodyUnavailable, ExportError, RecordNotFound
from store.message_log.http_evidence import add_http_signature_files
from store.message_log.records import StoredRecord, record_at, records_for_message, snapshot
from store.message_log.redaction import is_redacted
from store.message_log.signers import STORED_LIMITS
from store.message_log.wire import body_of
from store.tables.message_log import message_log_certificates, message_log_head

BUNDLE_FORMAT = "lienthong-evidence/1"
WSU_NS = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)
KINDS: tuple[BodyKind, ...] = ("request", "response")


@dataclass
class ExportedBundle:
    """What was written: the zip's path, the record, its files and the checks to run."""

    path: Path
    seq: int
    message_id: str
    files: dict[str, str] = field(default_factory=dict)
    checks: list[Check] = field(default_factory=list)
    purged: bool = False


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _xmlsec1_argv(envelope: bytes, cert_file: str, xml_file: str) -> tuple[str, ...]:
    """``xmlsec1 --verify`` with an ``--id-attr`` for every element the envelope gives an Id."""
    from security.xml import parse_xml

    root = parse_xml(envelope, STORED_LIMITS)
    names: list[str] = []
    for element in root.iter():
        if isinstance(element.tag, str) and element.get(f"{{{WSU_NS}}}Id") is not None:
            qname = (
                element.tag[1:].replace("}", ":") if element.tag.startswith("{") else element.tag
            )
            if qname not in names:
                names.append(qname)
    argv = ["xmlsec1", "--verify", "--pubkey-cert-pem", cert_file]
    for name in names:
        argv += ["--id-attr:Id", name]
    return (*argv, xml_file)


async def _certificate(conn: AsyncConnection, fingerprint: str | None) -> x509.Certificate | None:
    if fingerprint is None:
        return None
    der = (
        await conn.execute(
            select(message_log_certificates.c.der).where(
                message_log_certificates.c.fingerprint == fingerprint
            )
        )
    ).scalar()
    return x509.load_der_x509_certificate(der) if der is not None else None


def _choose(records: list[StoredRecord], message_id: str, seq: int | None) -> StoredRecord:
    if not records:
        raise RecordNotFound(message_id)
    if seq is None:
        return records[-1]
    for record in records:
        if record.seq == seq:
            return record
    raise ExportError(f"record {seq} does not belong to message {message_id}")


async def export_bundle(
    engine: AsyncEngine,
    message_id: str,
    out: Path | str,
    *,
    cipher: BodyCipher | None,
    ca_pem: bytes | None = None,
    seq: int | None = None,
    now: dt.datetime | None = None,
    tsa_ca_pem: bytes | None = None,
) -> ExportedBundle:
    """Write the evidence bundle of ``message_id`` (its last attempt, or record ``seq``) to ``out``.

    The record's digest and its bodies' digests are checked first: a record that does not match
    its seal is not exported (``ExportError``; ``lienthong log verify`` locates the damage).
    When the record was anchored, the bundle carries the anchor's text and RFC 3161 token with
    the ``openssl ts -verify`` check, against ``tsa_ca_pem`` (default: ``ca_pem``).
    """
    out = Path(out)
    async with snapshot(engine) as conn:
        attempts = await records_for_message(conn, message_id)
        record = _choose(attempts, message_id, seq)
        sealed = record.sealed
        if sealed.digest() != record.digest:
            raise ExportError(f"record {record.seq} does not match its digest: run log verify")
        previous = await record_at(conn, record.seq - 1) if record.seq > 1 else None
        following = await record_at(conn, record.seq + 1)
        head = (await conn.execute(select(message_log_head))).first()
        anchor = await anchor_covering(conn, record.seq)
        signers: dict[BodyKind, x509.Certificate | None] = {
            "request": await _certificate(conn, sealed.request_signer),
            "response": await _certificate(conn, sealed.response_signer),
        }

    files: dict[str, bytes] = {"record.json": sealed.canonical()}
    sealed_sums = [f"{record.digest}  record.json\n"]
    checks: list[Check] = [
        Check("the bundle's files are intact", ("sha256sum", "-c", "SHA256SUMS")),
        Check(
            "record.json hashes to the record's chain digest, and each message to the digest "
            "record.json seals for it (request_sha256, request_body_sha256, …)",
            ("sha256sum", "-c", "SEALED.sha256"),
        ),
    ]
    purged = record.request_wire is None and record.purged_at is not None
    if not purged:
        if cipher is None:
            raise ExportError("the message log key is needed to export the bodies")
        request_wire: bytes | None = None
        for kind in KINDS:
            wire = _add_message(
                files, sealed_sums, checks, record, kind, cipher, signers[kind], request_wire
            )
            request_wire = request_wire or wire
    if ca_pem is not None:
        files["ca.pem"] = ca_pem
        for side, cert in signers.items():
            if cert is not None:
                at = record.started_at if side == "request" else record.finished_at
                checks.append(
                    Check(
                        f"the {side} signer's certificate chains to the CA at the time of the "
                        "exchange",
                        (
                            "openssl",
                            "verify",
                            "-CAfile",
                            "ca.pem",
                            "-attime",
                            str(int(at.timestamp())),
                            f"{side}-signer.pem",
                        ),
                    )
                )
    tsa_ca = tsa_ca_pem if tsa_ca_pem is not None else ca_pem
    if anchor is not None:
        _add_anchor(files, checks, record, anchor, tsa_ca)
    files["SEALED.sha256"] = "".join(sealed_sums).encode()
    manifest = _manifest(
        record, [r.seq for r in attempts], previous, following, head, files, checks, purged, now
    )
    if anchor is not None:
        document = json.loads(manifest)
        document["anchor"] = {
            "id": anchor.id,
            "gen_time": format_time(anchor.gen_time),
            "tsa_url": anchor.tsa_url,
            "records": [anchor.first_seq, anchor.last_seq],
        }
        manifest = json.dumps(document, indent=2, ensure_ascii=False).encode("utf-8") + b"\n"
    files["manifest.json"] = manifest
    sums = "".join(f"{sha256_hex(data)}  {name}\n" for name, data in sorted(files.items()))
    files["SHA256SUMS"] = sums.encode()
    answer_body = files.get("response.xml", files.get("response.body"))
    redacted = any(is_redacted(files.get(f"{kind}.http", b"")) for kind in KINDS)
    answer = describe_answer(sealed.protocol, answer_body)
    files["README.txt"] = _readme(
        record, checks, purged, answer, redacted, anchored=anchor is not None
    ).encode()
    _write_zip(out, files)
    return ExportedBundle(
        out,
        record.seq,
        message_id,
        {name: sha256_hex(data) for name, data in files.items()},
        checks,
        purged,
    )


def _add_message(
    files: dict[str, bytes],
    sealed_sums: list[str],
    checks: list[Check],
    record: StoredRecord,
    kind: BodyKind,
    cipher: BodyCipher,
    signer: x509.Certificate | None,
    request_wire: bytes | None,
) -> bytes | None:
    sealed = record.sealed
    try:
        wire = record.wire(kind, cipher)
    except BodyUnavailable as exc:
        raise ExportError(str(exc)) from exc
    if wire is None:
        return None
    digest = sealed.request_sha256 if kind == "request" else sealed.response_sha256
    body_digest = sealed.request_body_sha256 if kind == "request" else sealed.response_body_sha256
    body = body_of(wire)
    if sha256_hex(wire) != digest or sha256_hex(body) != body_digest:
        raise ExportError(f"the {kind} of record {record.seq} does not match its sealed digest")
    files[f"{kind}.http"] = wire
    sealed_sums.append(f"{digest}  {kind}.http\n")
    if signer is not None:
        files[f"{kind}-signer.pem"] = _pem(signer)
        files[f"{kind}-signer.der"] = signer.public_bytes(serialization.Encoding.DER)
        signer_fp = sealed.request_signer if kind == "request" else sealed.response_signer
        sealed_sums.append(f"{signer_fp}  {kind}-signer.der\n")
    if sealed.protocol == "soap":
        files[f"{kind}.xml"] = body
        sealed_sums.append(f"{body_digest}  {kind}.xml\n")
    else:
        files[f"{kind}.body"] = body
        sealed_sums.append(f"{body_digest}  {kind}.body\n")
    if sealed.protocol == "soap":
        if signer is not None:
            checks.append(
                Check(
                    f"the {kind}'s XML signature verifies with its signer's certificate",
                    _xmlsec1_argv(body, f"{kind}-signer.pem", f"{kind}.xml"),
                )
            )
    else:
        add_http_signature_files(files, checks, record, kind, wire, signer, request_wire)
    return wire


def _add_anchor(
    files: dict[str, bytes],
    checks: list[Check],
    record: StoredRecord,
    anchor: Anchor,
    tsa_ca: bytes | None,
) -> None:
    """The anchor's text and token, and the checks that tie the record to a TSA's time."""
    files["anchor.txt"] = anchor.data
    files["anchor.tst"] = anchor.token
    checks.append(
        Check(
            "the record is one of those the anchor names "
            f"(time-stamped {format_time(anchor.gen_time)})",
            ("grep", "-qxF", f"record {record.seq} {record.digest}", "anchor.txt"),
        )
    )
    if tsa_ca is None:
        return
    files["tsa-ca.pem"] = tsa_ca
    checks.append(
        Check(
            "the anchor's RFC 3161 time-stamp verifies over anchor.txt (TSA trusted by tsa-ca.pem)",
            (
                "openssl",
                "ts",
                "-verify",
                "-data",
                "anchor.txt",
                "-in",
                "anchor.tst",
                "-token_in",
                "-CAfile",
                "tsa-ca.pem",
            ),
        )
    )


def _manifest(
    record: StoredRecord,
    attempts: list[int],
    previous: StoredRecord | None,
    following: StoredRecord | None,
    head: Any,
    files: dict[str, bytes],
    checks: list[Check],
    purged: bool,
    now: dt.datetime | None,
) -> bytes:
    sealed = record.sealed
    document = {
        "format": BUNDLE_FORMAT,
        "exported_at": format_time(now or utc_now()),
        "message_id": sealed.message_id,
        "record": {"seq": sealed.seq, "digest": record.digest, "sealed": sealed.as_dict()},
        "attempts": attempts,
        "chain": {
            "previous": (
                {"seq": previous.seq, "digest": previous.digest} if previous is not None else None
            ),
            "next": (
                {"seq": following.seq, "prev_digest": following.sealed.prev_digest}
                if following is not None
                else None
            ),
            "head": {"seq": head.seq, "digest": head.digest} if head is not None else None,
        },
        "parties": {
            "client": sealed.client,
            "sender": sealed.sender,
            "receiver": sealed.receiver,
            "user_id": sealed.user_id,
            "issue": sealed.issue,
        },
        "times": {"started_at": sealed.started_at, "finished_at": sealed.finished_at},
        "bodies": "purged" if purged else "included",
        "files": {name: sha256_hex(data) for name, data in sorted(files.items())},
        "checks": [{"what": check.what, "argv": list(check.argv)} for check in checks],
    }
    return json.dumps(document, indent=2, ensure_ascii=False).encode("utf-8") + b"\n"


def _readme(
    record: StoredRecord,
    checks: list[Check],
    purged: bool,
    answer: str | None = None,
    redacted: bool = False,
    *,
    anchored: bool = False,
) -> str:
    sealed = record.sealed
    status = "no answer" if sealed.status is None else f"HTTP {sealed.status}"
    answered = f"; the upstream answered {answer}" if answer else ""
    lines = [
        f"lienthong evidence bundle — message {sealed.message_id}, record {sealed.seq}",
        "",
        f"{sealed.protocol.upper()} {sealed.operation} from {sealed.sender} to {sealed.receiver}",
        f"for client {sealed.client}, official {sealed.user_id or '-'}, dossier "
        f"{sealed.issue or '-'}; sent {sealed.started_at}, answered {sealed.finished_at}.",
        f"Outcome: {sealed.outcome} ({status}{answered}).",
        "",
        "Everything here can be checked with standard tools (sha256sum, xmlsec1, openssl) in the",
        "unpacked folder; nothing needs lienthong. Each command must succeed.",
        "",
        "0. The record's place in the hash chain: its digest is the SHA-256 of record.json",
        f"   echo '{record.digest}  record.json' | sha256sum -c",
        "   manifest.json 'chain' shows the digest of the record before it (= prev_digest in",
        "   record.json) and the prev_digest of the record after it (= this digest).",
        "",
    ]
    if purged:
        lines += [
            "The bodies of this record were purged after their retention period: the chain",
            "still proves what was exchanged (the digests in record.json), not what it said.",
            "",
        ]
    if not anchored:
        lines += [
            "This record was not yet anchored (time-stamped by the TSA) when it was exported:",
            "export it again after the next anchor ('lienthong log anchor') to get its token.",
            "",
        ]
    if redacted:
        lines += [
            "Credentials were redacted before this exchange was recorded: each password, session",
            "or token stands as <redacted:NAME:TAG> (TAG: a keyed hash, equal wherever the same",
            "value was used). The files hold the redacted messages and the digests seal them; a",
            "redacted body cannot match the content-digest its signature covers, so only the",
            "signature over the .sigbase file is checked for it.",
            "",
        ]
    for number, check in enumerate(checks, start=1):
        lines.append(f"{number}. {check.what}")
        lines.append("   " + shlex.join(check.argv))
        lines.append("")
    lines += [
        "SEALED.sha256 copies the digests from record.json (request_sha256 for request.http,",
        "request_body_sha256 for request.xml or request.body, request_signer for the signer's",
        "certificate request-signer.der (= request-signer.pem), the same for the response):",
        "compare them with record.json before trusting step 2. See docs/evidence-bundle.md of",
        "lienthong for the details of each step.",
        "",
    ]
    return "\n".join(lines)


def _write_zip(out: Path, files: dict[str, bytes]) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".part")
    try:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for name in sorted(files):
                info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = 0o644 << 16
                archive.writestr(info, files[name])
        tmp.replace(out)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise ExportError(f"cannot write {out}: {exc.strerror or exc}") from exc


__all__ = ["BUNDLE_FORMAT", "Check", "ExportedBundle", "export_bundle"]
