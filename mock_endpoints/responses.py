"""Starlette responses shared by the mocks: compact UTF-8 JSON, and the withheld response."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from starlette.responses import Response
from starlette.types import Receive, Scope, Send


def json_bytes(payload: Any) -> bytes:
    """Compact JSON, UTF-8, Vietnamese letters kept as they are."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


class JsonResponse(Response):
    """``application/json; charset=utf-8`` with :func:`json_bytes`."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return json_bytes(content)


class WithheldResponse(Response):
    """A response that is never sent: the request was handled, the answer is dropped.

    Waits until the client gives up and disconnects, or ``stall_seconds`` pass — then answers 504
    so the server can shut down. This is fault injection's "commit then drop the response".
    """

    def __init__(self, stall_seconds: float) -> None:
        super().__init__(status_code=504)
        self.stall_seconds = stall_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def until_disconnect() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass

        try:
            await asyncio.wait_for(until_disconnect(), timeout=self.stall_seconds)
        except TimeoutError:
            await send({"type": "http.response.start", "status": 504, "headers": []})
            await send({"type": "http.response.body", "body": b""})


__all__ = ["JsonResponse", "WithheldResponse", "json_bytes"]
