"""The time-stamping authority mock: ``POST /tsa`` answers RFC 3161 requests.

The body is a DER ``TimeStampReq`` sent as ``application/timestamp-query``; the answer is a DER
``TimeStampResp`` as ``application/timestamp-reply``, signed by the development PKI's ``tsa``
party (extended key usage timeStamping, critical). Like a real TSA it answers a request it
cannot read with a ``rejection`` status rather than an HTTP error, and refuses (HTTP 415) a body
of another type. Its time is the machine's, to the second.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from security.keys import Credentials
from security.timestamps import QUERY_CONTENT_TYPE, REPLY_CONTENT_TYPE, TimeStampAuthority

TSA_PATH = "/tsa"
MAX_QUERY = 16 * 1024


class TsaService:
    """The ``/tsa`` handler."""

    def __init__(self, credentials: Credentials) -> None:
        self.authority = TimeStampAuthority(credentials)
        self.stamped = 0

    async def handle(self, request: Request) -> Response:
        """``POST /tsa``."""
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind != QUERY_CONTENT_TYPE:
            return Response(
                f"send a TimeStampReq as {QUERY_CONTENT_TYPE}\n",
                status_code=415,
                media_type="text/plain",
            )
        body = await request.body()
        if len(body) > MAX_QUERY:
            return Response("the request is too large\n", status_code=413, media_type="text/plain")
        self.stamped += 1
        return Response(self.authority.respond(body), media_type=REPLY_CONTENT_TYPE)


__all__ = ["TSA_PATH", "TsaService"]
