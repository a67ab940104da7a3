"""The access log: who looked up which citizen, for which official and dossier, and what they got.

The citizen is not stored in clear: ``citizen_key`` is HMAC-SHA256 of the citizen ID under a key
of the access log's key ring (``store.access_log_keys``), which is all
``GET /v1/access-log/{citizen_id}`` needs to find the rows. ``key_id`` is the public id of that
key (``store.log_keys.key_id``); NULL on rows stored before it was recorded, which were made with
the ring's legacy key. A copy of this table alone does not say whom a row is about. ``fields`` is
the JSON list of the field names returned (names only, never values). ``outcome`` says whether
the lookup was answered or refused (a purpose that did not hold: logged, nothing asked upstream).
"""

from __future__ import annotations

from sqlalchemy import Column, Index, String, Table

from store.metadata import metadata
from store.types import BigIntPk, JsonDocument, UtcDateTime

access_log = Table(
    "access_log",
    metadata,
    Column("id", BigIntPk, primary_key=True, autoincrement=True),
    Column("citizen_key", String(64), nullable=False),
    Column("key_id", String(16), nullable=True),
    Column("occurred_at", UtcDateTime(), nullable=False),
    Column("client_id", String(64), nullable=False),
    Column("organisation", String(255), nullable=False),
    Column("official", String(64), nullable=True),
    Column("dossier_code", String(64), nullable=True),
    Column("operation", String(64), nullable=False),
    Column("fields", JsonDocument, nullable=False),
    Column("request_id", String(128), nullable=True),
    Column("message_id", String(128), nullable=True),
    #: ``answered``, or ``refused`` (the lookup's purpose did not hold; nothing was asked)
    Column("outcome", String(16), nullable=False, server_default="answered"),
)

Index("ix_access_log_citizen", access_log.c.citizen_key, access_log.c.id)

__all__ = ["access_log"]
