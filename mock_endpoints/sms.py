"""SMS brandname, shaped like a Vietnamese provider's JSON API (eSMS's ``SendMultipleMessage_V4``).

``POST /sms/SendMultipleMessage_V4_post_json/`` with ``{"ApiKey", "SecretKey", "Phone", "Content",
"Brandname", "SmsType", "IsUnicode", "RequestId"}``; the answer is HTTP 200 with ``CodeResult``
``"100"`` (accepted, with an ``SMSID``) or an error code:

    "101" wrong ApiKey/SecretKey      "103" balance too low        "104" unknown brandname
    "108" phone number in a wrong format                            "124" duplicate RequestId
    "146" content not allowed: with ``IsUnicode`` "0" only plain ASCII is taken

A ``RequestId`` already used is refused with ``"124"`` and nothing is sent again — the one
deduplication a sender can rely on. Each message accepted gets a delivery receipt. Faults of the
``sms`` upstream answer HTTP 503.

``GET /_admin/sms/messages`` reads back messages and receipts; ``PUT /_admin/sms/config`` sets
``balance`` (messages left); ``DELETE /_admin/sms/messages`` forgets them.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from mock_endpoints.faults import FaultPlan
from mock_endpoints.responses import JsonResponse

UPSTREAM = "sms"
SEND_PATH = "/sms/SendMultipleMessage_V4_post_json/"
API_KEY = "sandbox-sms-key"
SECRET_KEY = "sandbox-sms-secret"  # noqa: S105 - the sandbox's documented secret
BRANDNAME = "LIENTHONG"
_PHONE = re.compile(r"(?:0|84)[35789][0-9]{8}")


@dataclass
class SmsState:
    """The account's balance, the request ids used, what was sent."""

    balance: int = 100_000
    request_ids: set[str] = field(default_factory=set)
    messages: list[dict[str, Any]] = field(default_factory=list)
    receipts: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def send(self, body: Any) -> dict[str, Any]:
        """Check and send one message; the provider's answer."""
        if not isinstance(body, dict):
            return {"CodeResult": "99", "ErrorMessage": "Invalid request"}
        if body.get("ApiKey") != API_KEY or body.get("SecretKey") != SECRET_KEY:
            return {"CodeResult": "101", "ErrorMessage": "Incorrect ApiKey or SecretKey"}
        if body.get("Brandname") != BRANDNAME:
            return {"CodeResult": "104", "ErrorMessage": "Brandname does not exist"}
        phone, content = body.get("Phone"), body.get("Content")
        if not isinstance(phone, str) or not _PHONE.fullmatch(phone):
            return {"CodeResult": "108", "ErrorMessage": "Phone number is not in correct format"}
        if not isinstance(content, str) or not content:
            return {"CodeResult": "146", "ErrorMessage": "Content is not allowed"}
        if str(body.get("IsUnicode", "0")) == "0" and not content.isascii():
            return {"CodeResult": "146", "ErrorMessage": "Content is not allowed"}
        request_id = str(body.get("RequestId") or "")
        with self.lock:
            if request_id and request_id in self.request_ids:
                return {"CodeResult": "124", "ErrorMessage": "Duplicate RequestId"}
            if self.balance <= 0:
                return {"CodeResult": "103", "ErrorMessage": "Not enough balance"}
            self.balance -= 1
            if request_id:
                self.request_ids.add(request_id)
            sms_id = str(uuid.uuid4())
            now_ms = str(int(time.time() * 1000))
            self.messages.append(
                {"SMSID": sms_id, "Phone": phone, "Content": content, "RequestId": request_id}
            )
            self.receipts.append(
                {"SMSID": sms_id, "RequestId": request_id, "SendStatus": 5, "SentTime": now_ms}
            )
        return {"CodeResult": "100", "CountRegenerate": 0, "SMSID": sms_id}

    def to_json(self) -> dict[str, Any]:
        """Messages, receipts and the balance."""
        with self.lock:
            return {
                "messages": list(self.messages),
                "receipts": list(self.receipts),
                "balance": self.balance,
            }


class SmsService:
    """The SMS routes on one state and fault plan."""

    def __init__(self, faults: FaultPlan) -> None:
        self.state = SmsState()
        self._faults = faults

    def routes(self) -> list[BaseRoute]:
        """The send route and its admin routes."""
        return [
            Route(SEND_PATH, self.send, methods=["POST"]),
            Route("/_admin/sms/messages", self.messages, methods=["GET"]),
            Route("/_admin/sms/messages", self.clear, methods=["DELETE"]),
            Route("/_admin/sms/config", self.configure, methods=["PUT"]),
        ]

    async def send(self, request: Request) -> Response:
        """Send one SMS (or answer the provider's error)."""
        decision = self._faults.decide(UPSTREAM, droppable=False)
        if decision.latency_seconds:
            await asyncio.sleep(decision.latency_seconds)
        if decision.unavailable:
            return JsonResponse({"CodeResult": "99", "ErrorMessage": "Unavailable"}, 503)
        try:
            body = json.loads(await request.body())
        except ValueError:
            body = None
        return JsonResponse(self.state.send(body))

    async def messages(self, request: Request) -> Response:
        """``GET /_admin/sms/messages``."""
        return JsonResponse(self.state.to_json())

    async def clear(self, request: Request) -> Response:
        """``DELETE /_admin/sms/messages``."""
        with self.state.lock:
            self.state.messages.clear()
            self.state.receipts.clear()
            self.state.request_ids.clear()
        return JsonResponse({"cleared": True})

    async def configure(self, request: Request) -> Response:
        """``PUT /_admin/sms/config`` with ``{"balance": N}``."""
        try:
            config = json.loads(await request.body())
        except ValueError:
            config = None
        balance = config.get("balance") if isinstance(config, dict) else None
        if not isinstance(balance, int) or isinstance(balance, bool) or balance < 0:
            return JsonResponse({"error": "balance must be a non-negative integer"}, 400)
        with self.state.lock:
            self.state.balance = balance
        return JsonResponse({"configured": True})


__all__ = ["API_KEY", "BRANDNAME", "SECRET_KEY", "SEND_PATH", "UPSTREAM", "SmsService", "SmsState"]
