"""Sending one webhook delivery: the body, its RFC 9421 signature, one POST, no redirect.

:class:`WebhookTransport` is the one-method interface (``post`` → HTTP status);
:class:`AiohttpWebhookTransport` keeps connections alive to each receiver and never follows a
redirect (a 3xx is a failed delivery). :func:`delivery_request` builds what is sent: a JSON body
``{"delivery_id", "subscription_id", "type", "created_at", "data"}`` and the headers
``Content-Type``, ``Lienthong-Delivery-Id``, ``Content-Digest``, ``Signature-Input`` and
``Signature`` (the adapter's key; method, authority, path, query, content type and digest, with
``created``, ``expires``, ``keyid`` and ``nonce``, as every request the adapter signs).
"""

from __future__ import annotations

import json
from typing import Protocol

import aiohttp

from push.webhooks.outbox import Delivery
from security.http_signatures import HttpSigner

DELIVERY_ID_HEADER = "Lienthong-Delivery-Id"


class WebhookTransport(Protocol):
    """Posts a signed body to a receiver and answers its HTTP status (raises on no answer)."""

    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> int: ...

    async def aclose(self) -> None: ...


class AiohttpWebhookTransport:
    """Keep-alive connections to the receivers; no redirects, a total timeout per delivery."""

    def __init__(self, *, timeout: float = 10.0, connections: int = 64) -> None:
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._connections = connections
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            connector = aiohttp.TCPConnector(limit=self._connections, keepalive_timeout=30)
            self._session = aiohttp.ClientSession(
                connector=connector, timeout=self._timeout, auto_decompress=False
            )
        return self._session

    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> int:
        """POST ``body``; the status (a redirect is answered as its own 3xx status)."""
        async with self._client().post(
            url, data=body, headers=headers, allow_redirects=False
        ) as response:
            await response.read()
            return response.status

    async def aclose(self) -> None:
        """Close the kept-alive connections."""
        if self._session is not None:
            await self._session.close()
            self._session = None


def delivery_request(
    delivery: Delivery, url: str, signer: HttpSigner
) -> tuple[bytes, dict[str, str]]:
    """The body and the signed headers of ``delivery`` sent to ``url``."""
    body = json.dumps(
        {
            "delivery_id": str(delivery.id),
            "subscription_id": delivery.subscription_id,
            "type": delivery.event_type,
            "created_at": delivery.created_at.isoformat(),
            "data": delivery.payload,
        },
        ensure_ascii=False,
        separators=(",", ":"),
    ).encode()
    headers = {"Content-Type": "application/json", DELIVERY_ID_HEADER: str(delivery.id)}
    headers.update(signer.sign_request("POST", url, headers, body))
    return body, headers


__all__ = [
    "DELIVERY_ID_HEADER",
    "AiohttpWebhookTransport",
    "WebhookTransport",
    "delivery_request",
]
