"""The path every REST call to a mock takes: signature check, faults, handler, signed answer.

For the registry and the portal alike:

1. the body is read and the request's RFC 9421 signature (with its ``Content-Digest``) verified
   against the development PKI — a missing or bad one gets the protocol's own error (HTTP 401),
   unless ``allow_unsigned`` and the request carries no ``Signature`` header at all;
2. the fault plan decides: latency, "unavailable" (HTTP 503 in the protocol's error shape);
3. the handler answers (:class:`RestAnswer`);
4. the answer is signed by the upstream's party, bound to the request (``;req``: method, authority,
   path, query, and the request's signature when it had one) — or withheld when the plan drops it.

Every answer leaving here is signed, errors included.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from mock_endpoints.faults import FaultPlan
from mock_endpoints.responses import WithheldResponse, json_bytes
from security.errors import SecurityError
from security.http_signatures import HttpSigner, HttpVerifier, RequestView

JSON_TYPE = "application/json; charset=utf-8"


@dataclass(frozen=True)
class RestAnswer:
    """What a handler answers: status, a JSON payload and extra headers."""

    status: int
    payload: Any
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Call:
    """One verified call: the request, its body and the keyid that signed it (None: unsigned)."""

    request: Request
    body: bytes
    keyid: str | None


Handler = Callable[[Call], Awaitable[RestAnswer]]


class SignedRest:
    """Runs REST calls to one upstream through verification, faults and response signing."""

    def __init__(
        self,
        upstream: str,
        *,
        signer: HttpSigner,
        verifier: HttpVerifier,
        faults: FaultPlan,
        signature_error: Callable[[SecurityError], RestAnswer],
        unavailable: Callable[[], RestAnswer],
        allow_unsigned: bool = False,
    ) -> None:
        self.upstream = upstream
        self.signer = signer
        self.verifier = verifier
        self.faults = faults
        self.signature_error = signature_error
        self.unavailable = unavailable
        self.allow_unsigned = allow_unsigned

    async def run(
        self,
        request: Request,
        handler: Handler,
        *,
        droppable: Callable[[bytes], bool] | bool = True,
    ) -> Response:
        """Answer ``request`` with ``handler``; ``droppable`` says if a drop fault may apply."""
        body = await request.body()
        url = str(request.url)
        headers = dict(request.headers)
        view = RequestView(request.method, url, headers)
        signed = "signature" in request.headers
        keyid: str | None = None
        if signed or not self.allow_unsigned:
            try:
                verified = self.verifier.verify_request(request.method, url, headers, body)
            except SecurityError as exc:
                return self._respond(self.signature_error(exc), view)
            keyid = verified.keyid
        may_drop = droppable(body) if callable(droppable) else droppable
        decision = self.faults.decide(self.upstream, droppable=may_drop)
        if decision.latency_seconds:
            await asyncio.sleep(decision.latency_seconds)
        if decision.unavailable:
            return self._respond(self.unavailable(), view)
        answer = await handler(Call(request, body, keyid))
        response = self._respond(answer, view)
        if decision.drop:
            return WithheldResponse(decision.stall_seconds)
        return response

    def _respond(self, answer: RestAnswer, view: RequestView) -> Response:
        body = json_bytes(answer.payload)
        headers = {"content-type": JSON_TYPE, **answer.headers}
        # bound to the request (``;req``), and to its signature when it had one
        signature = self.signer.sign_response(answer.status, headers, body, request=view)
        headers.update(signature)
        return Response(body, status_code=answer.status, headers=headers)


__all__ = ["Call", "Handler", "RestAnswer", "SignedRest"]
