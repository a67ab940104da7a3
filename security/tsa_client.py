"""Asking a time-stamping authority over HTTP (RFC 3161 §3.4): ``TsaClient.stamp(imprint)``.

One ``POST`` of a ``TimeStampReq`` (``application/timestamp-query``) to the TSA's URL; the
answer must be ``application/timestamp-reply`` and its token must check
(:func:`security.timestamps.read_timestamp_reply`: the imprint and nonce of this request, a
signature by a certificate with the timeStamping usage that chains to ``trust``). Anything else
is a :class:`~security.errors.TimestampError`.
"""

from __future__ import annotations

import httpx

from security.errors import TimestampError
from security.timestamps import (
    QUERY_CONTENT_TYPE,
    REPLY_CONTENT_TYPE,
    TimeStamp,
    read_timestamp_reply,
    timestamp_request,
)
from security.trust import TrustStore

DEFAULT_TIMEOUT = 10.0
_MAX_REPLY = 64 * 1024


class TsaClient:
    """Gets time-stamp tokens from the TSA at ``url``, checked against ``trust``."""

    def __init__(self, url: str, trust: TrustStore, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.url = url
        self.trust = trust
        self.timeout = timeout

    async def stamp(self, imprint: bytes) -> TimeStamp:
        """A checked token over the SHA-256 ``imprint``."""
        request, nonce = timestamp_request(imprint)
        try:
            async with httpx.AsyncClient(timeout=self.timeout, trust_env=False) as client:
                answer = await client.post(
                    self.url, content=request, headers={"Content-Type": QUERY_CONTENT_TYPE}
                )
        except httpx.HTTPError as exc:
            raise TimestampError(
                f"the TSA cannot be reached ({type(exc).__name__})", reason="tsa_unreachable"
            ) from exc
        kind = answer.headers.get("content-type", "").split(";")[0].strip().lower()
        if answer.status_code != 200 or kind != REPLY_CONTENT_TYPE:
            raise TimestampError(
                f"the TSA answered HTTP {answer.status_code} ({kind or 'no content type'})",
                reason="tsa_reply",
            )
        if len(answer.content) > _MAX_REPLY:
            raise TimestampError("the TSA's answer is too large", reason="tsa_reply")
        return read_timestamp_reply(answer.content, imprint, nonce, self.trust)


__all__ = ["TsaClient"]
