"""Tables of the message log: every exchange with a national system, hash-chained.

- ``message_log``: one row per exchange (request sent, response received): its metadata, the
  SHA-256 of both wire messages and of their bodies, the wire messages themselves encrypted
  (AES-GCM; NULL once purged), the signers' certificate fingerprints and the chain (``seq``,
  ``prev_digest``, ``digest``). ``seq`` is given by the single writer: 1, 2, 3 …
- ``message_log_head``: one row (``id = 1``) naming the last record. Appends lock it first, so
  the chain never forks; ``log verify`` compares it with the last record, so a deleted tail shows.
- ``message_log_certificates``: the signers' certificates (DER) by SHA-256 fingerprint, kept
  after bodies are purged so the evidence of who signed outlives the bodies.
- ``message_log_anchors``: RFC 3161 time-stamps of the chain (``store.message_log.anchors``):
  each holds the text it stamped (the ``seq`` and digest of every record since the anchor before,
  and the head), the TSA's token over its SHA-256, and the range of records it covers. Each
  names the SHA-256 of the token before it (unique: anchors form a chain of their own).

A purge stamps ``purged_at``, the retention period it applied (``purge_retention_days``) and
``purge_mac``, an HMAC under a key derived from the message log's key over the record's place,
digest, purge time and period: a purge marker made without the key does not verify.

``endpoint`` is the upstream URL without its query string (a query may carry an identifier);
the full URL is inside the encrypted request.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, Integer, LargeBinary, String, Table

from store.metadata import metadata
from store.types import UtcDateTime

message_log = Table(
    "message_log",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("message_id", String(128), nullable=False, index=True),
    Column("attempt", Integer, nullable=False),
    Column("protocol", String(8), nullable=False),
    Column("upstream", String(32), nullable=False),
    Column("operation", String(64), nullable=False),
    Column("client", String(64), nullable=False),
    Column("sender", String(64), nullable=False),
    Column("receiver", String(64), nullable=False),
    Column("user_id", String(64), nullable=True),
    Column("issue", String(64), nullable=True),
    Column("method", String(8), nullable=False),
    Column("endpoint", String(512), nullable=False),
    Column("status", Integer, nullable=True),
    Column("outcome", String(64), nullable=False),
    Column("started_at", UtcDateTime(), nullable=False, index=True),
    Column("finished_at", UtcDateTime(), nullable=False),
    Column("request_sha256", String(64), nullable=False),
    Column("request_body_sha256", String(64), nullable=False),
    Column("request_signer", String(64), nullable=True),
    Column("response_sha256", String(64), nullable=True),
    Column("response_body_sha256", String(64), nullable=True),
    Column("response_signer", String(64), nullable=True),
    Column("request_wire", LargeBinary, nullable=True),
    Column("response_wire", LargeBinary, nullable=True),
    Column("body_key_id", String(16), nullable=True),
    Column("purged_at", UtcDateTime(), nullable=True),
    Column("purge_retention_days", Integer, nullable=True),
    Column("purge_mac", String(64), nullable=True),
    Column("prev_digest", String(64), nullable=False),
    Column("digest", String(64), nullable=False, unique=True),
)

message_log_head = Table(
    "message_log_head",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("seq", BigInteger, nullable=False),
    Column("digest", String(64), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
)

message_log_certificates = Table(
    "message_log_certificates",
    metadata,
    Column("fingerprint", String(64), primary_key=True),
    Column("der", LargeBinary, nullable=False),
    Column("subject", String(255), nullable=False),
    Column("first_seen_at", UtcDateTime(), nullable=False),
)

message_log_anchors = Table(
    "message_log_anchors",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("first_seq", BigInteger, nullable=False),
    Column("last_seq", BigInteger, nullable=False, index=True),
    Column("head_digest", String(64), nullable=False),
    Column("previous_token_sha256", String(64), nullable=False, unique=True),
    Column("token_sha256", String(64), nullable=False, unique=True),
    Column("data", LargeBinary, nullable=False),
    Column("token", LargeBinary, nullable=False),
    Column("tsa_url", String(512), nullable=False),
    Column("gen_time", UtcDateTime(), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
)

Index("ix_message_log_purge", message_log.c.purged_at, message_log.c.started_at)

__all__ = ["message_log", "message_log_anchors", "message_log_certificates", "message_log_head"]
