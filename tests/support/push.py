"""Helpers for the push tests: dossiers through their lifecycle, the independent verifier."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import http_message_signatures as hms
import httpx
from http_message_signatures import algorithms as hms_algorithms
from sqlalchemy.ext.asyncio import AsyncEngine

from security.keys import load_party
from store.db import create_sessionmaker
from store.dossiers import record_dossier, record_event
from tests.support.stores import LIFECYCLE, dossier_code, make_dossier, make_event
from tests.support.webhook_receiver import Received


async def record_lifecycles(
    engine: AsyncEngine, serials: range, *, sector: str = "TP", steps: int = len(LIFECYCLE)
) -> None:
    """Register each dossier (submitted) and move it through the first ``steps`` of LIFECYCLE."""
    sessions = create_sessionmaker(engine)
    for serial in serials:
        async with sessions() as session, session.begin():
            await record_dossier(session, make_dossier(serial, sector=sector))
    for sequence, status in enumerate(LIFECYCLE[:steps], start=1):
        for serial in serials:
            async with sessions() as session, session.begin():
                await record_event(session, make_event(serial, sequence, status))


def expected_changes(serials: range, *, steps: int = len(LIFECYCLE)) -> dict[str, list[Any]]:
    """Per dossier, the changes a subscriber must see in order: the dossier, then each step."""
    return {
        dossier_code(serial): [("dossier.changed", None)]
        + [("dossier.event", sequence) for sequence in range(1, steps + 1)]
        for serial in serials
    }


def changes_by_dossier(received: list[Received]) -> tuple[dict[str, list[Any]], int]:
    """First arrivals per dossier as (type, sequence), in arrival order; and raw duplicates."""
    seen: set[str] = set()
    duplicates = 0
    result: dict[str, list[Any]] = defaultdict(list)
    for item in received:
        delivery = item.delivery
        if delivery["delivery_id"] in seen:
            duplicates += 1
            continue
        seen.add(delivery["delivery_id"])
        data = delivery["data"]
        sequence = data["event"]["sequence"] if delivery["type"] == "dossier.event" else None
        result[data["dossier_code"]].append((delivery["type"], sequence))
    return dict(result), duplicates


class _AdapterKey(hms.HTTPSignatureKeyResolver):
    def __init__(self, keys: Path) -> None:
        self._public = load_party(keys, "adapter").certificate.public_key()

    def resolve_public_key(self, key_id: str) -> Any:
        if key_id != "adapter":
            raise hms.InvalidSignature(f"unexpected keyid {key_id}")
        return self._public

    def resolve_private_key(self, key_id: str) -> Any:
        raise NotImplementedError


def verify_independently(keys: Path, item: Received) -> None:
    """Check ``item``'s signature and digest with ``http-message-signatures`` (raises if bad)."""
    verifier = hms.HTTPMessageVerifier(
        signature_algorithm=hms_algorithms.ECDSA_P256_SHA256, key_resolver=_AdapterKey(keys)
    )
    request = httpx.Request(item.method, item.url, headers=item.headers, content=item.body)
    results = verifier.verify(request, body=item.body)
    assert len(results) == 1
    covered = results[0].covered_components
    assert '"content-digest"' in covered
    assert '"@method"' in covered
    assert results[0].parameters["keyid"] == "adapter"


__all__ = [
    "changes_by_dossier",
    "expected_changes",
    "record_lifecycles",
    "verify_independently",
]
