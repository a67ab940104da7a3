"""The message log: every exchange with a national system, kept as evidence.

Each exchange is one record holding the signed request and response exactly as on the wire
(encrypted at rest with AES-256-GCM), the signers' certificates, the parties, the message id, the
official and the dossier, and the times. Records are hash-chained: each seals the digest of the
one before, so a deleted, altered or reordered record is found (``verify_log``) and located.
``export_bundle`` writes one exchange as a zip that checks with ``sha256sum``, ``xmlsec1`` and
``openssl`` alone; ``purge_bodies`` drops the messages after the retention period, leaving the
chain verifiable.
"""

from __future__ import annotations

from store.message_log.bundle import ExportedBundle, export_bundle
from store.message_log.chain import GENESIS, SealedFields
from store.message_log.checks import Check
from store.message_log.crypto import BodyCipher
from store.message_log.errors import (
    BodyDecryptionError,
    BodyUnavailable,
    ExportError,
    MessageLogError,
    RecordNotFound,
)
from store.message_log.records import StoredRecord
from store.message_log.retention import purge_bodies
from store.message_log.signers import KeyFolderCertificates
from store.message_log.verify import ChainBreak, VerifyReport, verify_log
from store.message_log.writer import ExchangeLike, SqlMessageLog

__all__ = [
    "GENESIS",
    "BodyCipher",
    "BodyDecryptionError",
    "BodyUnavailable",
    "ChainBreak",
    "Check",
    "ExchangeLike",
    "ExportError",
    "ExportedBundle",
    "KeyFolderCertificates",
    "MessageLogError",
    "RecordNotFound",
    "SealedFields",
    "SqlMessageLog",
    "StoredRecord",
    "VerifyReport",
    "export_bundle",
    "purge_bodies",
    "verify_log",
]
