"""A webhook receiver for tests: records every request as it came, can be put in outage or slowed.

It verifies nothing itself, so a test can check each recorded request with an independent
implementation (``http-message-signatures``) afterwards.
"""

from __future__ import annotations

import asyncio
import json
import threading
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


@dataclass(frozen=True)
class Received:
    """One request as it arrived."""

    method: str
    url: str
    headers: dict[str, str]
    body: bytes

    @property
    def delivery(self) -> dict[str, Any]:
        """The JSON body."""
        data: dict[str, Any] = json.loads(self.body)
        return data


@dataclass
class WebhookReceiver:
    """The receiver's state: what it got, whether it refuses (503), how slow it answers."""

    received: list[Received] = field(default_factory=list)
    outage: bool = False
    delay: float = 0.0
    refused: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def app(self) -> Starlette:
        """The ASGI app: ``POST /hooks/{name}`` and ``/ministry/webhooks`` (the sandbox's URL)."""

        async def hook(request: Request) -> Response:
            body = await request.body()
            if self.delay:
                await asyncio.sleep(self.delay)
            with self.lock:
                if self.outage:
                    self.refused += 1
                    return Response(status_code=503)
                self.received.append(
                    Received(request.method, str(request.url), dict(request.headers), body)
                )
            return Response(status_code=204)

        return Starlette(
            routes=[
                Route("/hooks/{name}", hook, methods=["POST"]),
                Route("/ministry/webhooks", hook, methods=["POST"]),
            ]
        )

    def snapshot(self) -> list[Received]:
        """What was received so far."""
        with self.lock:
            return list(self.received)


__all__ = ["Received", "WebhookReceiver"]
