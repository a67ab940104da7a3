"""A ministry's webhook receiver: verifies every delivery's signature and records what arrived.

``POST /ministry/webhooks`` takes the adapter's deliveries. Each must carry a valid RFC 9421
signature with its ``Content-Digest`` made by the ``adapter`` party (anything else: HTTP 401,
counted as ``rejected``, nothing recorded); under an ``outage`` or an ``error_rate`` fault of the
``ministry`` upstream it answers 503 without recording. A delivery already received (same
``delivery_id``) is answered 200 again and counted as a ``duplicate``, as a receiver that
deduplicates by id would; the record keeps the first arrival only.

``GET /_admin/ministry/deliveries`` reads back what was received (``?limit=``), in arrival order,
with the counts; ``DELETE`` forgets it all.
"""

from __future__ import annotations

import asyncio
import json
import threading
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from mock_endpoints.faults import FaultPlan
from mock_endpoints.responses import JsonResponse
from security.errors import SecurityError
from security.http_signatures import HttpVerifier

UPSTREAM = "ministry"
WEBHOOK_PATH = "/ministry/webhooks"
SENDER = "adapter"


@dataclass
class MinistryInbox:
    """What the receiver got: first arrivals in order, and the counts."""

    received: list[dict[str, Any]] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)
    duplicates: int = 0
    rejected: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, delivery: dict[str, Any]) -> bool:
        """Keep ``delivery`` unless its id was seen; True when it is new."""
        with self.lock:
            delivery_id = str(delivery.get("delivery_id"))
            if delivery_id in self.seen:
                self.duplicates += 1
                return False
            self.seen.add(delivery_id)
            self.received.append(delivery)
            return True

    def reject(self) -> None:
        """Count a delivery refused for its signature or shape."""
        with self.lock:
            self.rejected += 1

    def to_json(self, limit: int | None) -> dict[str, Any]:
        """The counts and the deliveries (the first ``limit``)."""
        with self.lock:
            items = self.received if limit is None else self.received[:limit]
            return {
                "received": len(self.received),
                "duplicates": self.duplicates,
                "rejected": self.rejected,
                "deliveries": list(items),
            }

    def clear(self) -> None:
        """Forget everything received."""
        with self.lock:
            self.received.clear()
            self.seen.clear()
            self.duplicates = self.rejected = 0


def _summary(delivery: dict[str, Any]) -> dict[str, Any]:
    """What the admin read-back shows of one delivery (ids, type, dossier, status, sequence)."""
    data = delivery.get("data") or {}
    inner = data.get("event") or data.get("dossier") or {}
    return {
        "delivery_id": str(delivery.get("delivery_id")),
        "subscription_id": delivery.get("subscription_id"),
        "type": delivery.get("type"),
        "dossier_code": data.get("dossier_code"),
        "sector": data.get("sector"),
        "status": inner.get("status"),
        "sequence": inner.get("sequence"),
    }


class MinistryReceiver:
    """The receiver's routes on one inbox, verifier and fault plan."""

    def __init__(self, verifier: HttpVerifier, faults: FaultPlan) -> None:
        self.inbox = MinistryInbox()
        self._verifier = verifier
        self._faults = faults

    def routes(self) -> list[BaseRoute]:
        """The webhook route and its admin read-back."""
        return [
            Route(WEBHOOK_PATH, self.receive, methods=["POST"]),
            Route("/_admin/ministry/deliveries", self.deliveries, methods=["GET"]),
            Route("/_admin/ministry/deliveries", self.clear, methods=["DELETE"]),
        ]

    async def receive(self, request: Request) -> Response:
        """Verify, then record one delivery."""
        decision = self._faults.decide(UPSTREAM, droppable=False)
        if decision.latency_seconds:
            await asyncio.sleep(decision.latency_seconds)
        if decision.unavailable:
            return JsonResponse({"error": "temporarily unavailable"}, status_code=503)
        body = await request.body()
        try:
            verified = self._verifier.verify_request(
                "POST", str(request.url), dict(request.headers), body
            )
        except SecurityError as exc:
            self.inbox.reject()
            return JsonResponse({"error": f"signature refused: {exc}"}, status_code=401)
        try:
            delivery = json.loads(body)
        except ValueError:
            delivery = None
        if verified.keyid != SENDER or not isinstance(delivery, dict):
            self.inbox.reject()
            return JsonResponse({"error": "not a delivery from the adapter"}, status_code=401)
        self.inbox.record(_summary(delivery))
        return JsonResponse({"received": str(delivery.get("delivery_id"))})

    async def deliveries(self, request: Request) -> Response:
        """``GET /_admin/ministry/deliveries?limit=N`` (all when absent)."""
        raw = request.query_params.get("limit", "")
        limit = int(raw) if raw.isascii() and raw.isdigit() else None
        return JsonResponse(self.inbox.to_json(limit))

    async def clear(self, request: Request) -> Response:
        """``DELETE /_admin/ministry/deliveries``."""
        self.inbox.clear()
        return JsonResponse({"cleared": True})


__all__ = ["UPSTREAM", "WEBHOOK_PATH", "MinistryInbox", "MinistryReceiver"]
