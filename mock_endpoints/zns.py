"""Zalo Notification Service (ZNS), as harsh as the real one: template messages to a phone.

``POST /zns/message/template`` with header ``access_token`` and the JSON body
``{"phone", "template_id", "template_data", "tracking_id"}``. Zalo answers HTTP 200 with
``{"error": 0, "message": "Success", "data": {"msg_id", "sent_time", "quota": {"dailyQuota",
"remainingQuota"}}}`` on success, or ``{"error": <negative code>, "message": …}``. The codes the
mock uses (from Zalo's published list):

    -108 phone number invalid (only ``84`` + 9 digits is taken here)
    -109 template id invalid (not a template of this account)
    -111 template data empty          -112 template data invalid (not a flat text object)
    -115 out of quota                 -117 no permission to use this template (not approved)
    -118 Zalo account not existed     -124 access token invalid

Nothing is deduplicated: the same ``tracking_id`` twice sends twice (the tracking id is the
partner's reference, nothing more). Each message sent gets a delivery receipt shaped like Zalo's
``user_received_message`` event. Under an ``outage`` or ``error_rate`` fault of the ``zns``
upstream the answer is HTTP 503.

``GET /_admin/zns/messages`` reads back messages, receipts and quota; ``PUT /_admin/zns/config``
sets ``no_zalo`` (phones without a Zalo account), ``approved_templates``, ``refused_templates``
and ``daily_quota``; ``DELETE /_admin/zns/messages`` forgets the messages and resets the quota.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from mock_endpoints.faults import FaultPlan
from mock_endpoints.responses import JsonResponse

UPSTREAM = "zns"
SEND_PATH = "/zns/message/template"
ACCESS_TOKEN = "sandbox-zns-token"  # noqa: S105 - the sandbox's documented token
#: the templates the sandbox account has had approved (those of the shipped notice templates)
APPROVED_TEMPLATES: frozenset[str] = frozenset(
    {"260101", "260102", "260103", "260104", "260105", "260106"}
)
_PHONE = re.compile(r"84[35789][0-9]{8}")

_MESSAGES = {
    -108: "Phone number invalid",
    -109: "Template ID invalid",
    -111: "Template data empty",
    -112: "Template data invalid",
    -115: "Out of quota",
    -117: "OA or App does not have permission to access this template",
    -118: "Zalo account not existed",
    -124: "Access token invalid",
}


@dataclass
class ZnsState:
    """The account: its templates, quota, the phones without Zalo, what was sent."""

    approved: set[str] = field(default_factory=lambda: set(APPROVED_TEMPLATES))
    refused: set[str] = field(default_factory=set)
    no_zalo: set[str] = field(default_factory=set)
    daily_quota: int = 100_000
    used: int = 0
    messages: list[dict[str, Any]] = field(default_factory=list)
    receipts: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def send(self, body: Any) -> tuple[int, dict[str, Any] | None]:
        """Check and send one message: ``(0, data)`` or ``(error code, None)``."""
        if not isinstance(body, dict):
            return -112, None
        phone, template_id = body.get("phone"), str(body.get("template_id", ""))
        data = body.get("template_data")
        if not isinstance(phone, str) or not _PHONE.fullmatch(phone):
            return -108, None
        with self.lock:
            if template_id in self.refused:
                return -117, None
            if template_id not in self.approved:
                return -109, None
            if not data:
                return -111, None
            if not isinstance(data, dict) or not all(
                isinstance(k, str) and isinstance(v, str | int | float) for k, v in data.items()
            ):
                return -112, None
            if phone in self.no_zalo:
                return -118, None
            if self.used >= self.daily_quota:
                return -115, None
            self.used += 1
            now_ms = str(int(time.time() * 1000))
            tracking = str(body.get("tracking_id", ""))
            msg_id = hashlib.sha256(
                f"{len(self.messages)}:{tracking}:{now_ms}".encode()
            ).hexdigest()
            self.messages.append(
                {
                    "msg_id": msg_id[:32],
                    "phone": phone,
                    "template_id": template_id,
                    "template_data": data,
                    "tracking_id": tracking,
                    "sent_time": now_ms,
                }
            )
            self.receipts.append(
                {
                    "event_name": "user_received_message",
                    "message": {
                        "msg_id": msg_id[:32],
                        "tracking_id": tracking,
                        "delivery_time": now_ms,
                    },
                    "timestamp": now_ms,
                }
            )
            quota = {
                "dailyQuota": str(self.daily_quota),
                "remainingQuota": str(self.daily_quota - self.used),
            }
            return 0, {"msg_id": msg_id[:32], "sent_time": now_ms, "quota": quota}

    def configure(self, config: Any) -> None:
        """Apply ``PUT /_admin/zns/config`` (unknown keys or wrong types: ``ValueError``)."""
        if not isinstance(config, dict):
            raise ValueError("the config must be a JSON object")
        with self.lock:
            for key, value in config.items():
                if key in ("no_zalo", "approved_templates", "refused_templates"):
                    if not isinstance(value, list):
                        raise ValueError(f"{key} must be a list")
                    target = {
                        "no_zalo": self.no_zalo,
                        "approved_templates": self.approved,
                        "refused_templates": self.refused,
                    }[key]
                    target.clear()
                    target.update(str(item) for item in value)
                elif key == "daily_quota" and isinstance(value, int) and value >= 0:
                    self.daily_quota = value
                else:
                    raise ValueError(f"unknown or invalid config field {key!r}")

    def to_json(self) -> dict[str, Any]:
        """Messages, receipts and quota."""
        with self.lock:
            return {
                "messages": list(self.messages),
                "receipts": list(self.receipts),
                "quota": {"daily": self.daily_quota, "used": self.used},
            }

    def clear(self) -> None:
        """Forget the messages and receipts; the day's quota starts again."""
        with self.lock:
            self.messages.clear()
            self.receipts.clear()
            self.used = 0


class ZnsService:
    """The ZNS routes on one state and fault plan."""

    def __init__(self, faults: FaultPlan, *, access_token: str = ACCESS_TOKEN) -> None:
        self.state = ZnsState()
        self._faults = faults
        self._token = access_token

    def routes(self) -> list[BaseRoute]:
        """The send route and its admin routes."""
        return [
            Route(SEND_PATH, self.send, methods=["POST"]),
            Route("/_admin/zns/messages", self.messages, methods=["GET"]),
            Route("/_admin/zns/messages", self.clear, methods=["DELETE"]),
            Route("/_admin/zns/config", self.configure, methods=["PUT"]),
        ]

    async def send(self, request: Request) -> Response:
        """Send one template message (or answer Zalo's error)."""
        decision = self._faults.decide(UPSTREAM, droppable=False)
        if decision.latency_seconds:
            await asyncio.sleep(decision.latency_seconds)
        if decision.unavailable:
            return JsonResponse({"error": -100, "message": "Unknown error"}, status_code=503)
        if request.headers.get("access_token") != self._token:
            return _error(-124)
        try:
            body = json.loads(await request.body())
        except ValueError:
            return _error(-112)
        code, data = self.state.send(body)
        if data is None:
            return _error(code)
        return JsonResponse({"error": 0, "message": "Success", "data": data})

    async def messages(self, request: Request) -> Response:
        """``GET /_admin/zns/messages``."""
        return JsonResponse(self.state.to_json())

    async def clear(self, request: Request) -> Response:
        """``DELETE /_admin/zns/messages``."""
        self.state.clear()
        return JsonResponse({"cleared": True})

    async def configure(self, request: Request) -> Response:
        """``PUT /_admin/zns/config``."""
        try:
            self.state.configure(json.loads(await request.body()))
        except ValueError as exc:
            return JsonResponse({"error": str(exc)}, status_code=400)
        return JsonResponse({"configured": True})


def _error(code: int) -> Response:
    return JsonResponse({"error": code, "message": _MESSAGES[code]})


__all__ = ["ACCESS_TOKEN", "APPROVED_TEMPLATES", "SEND_PATH", "UPSTREAM", "ZnsService", "ZnsState"]
