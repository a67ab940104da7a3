"""``httpx`` authentication that signs requests and, optionally, verifies the responses."""

from __future__ import annotations

from collections.abc import Generator

import httpx

from security.http_signatures import HttpSigner, HttpVerifier, RequestView


class HttpSignatureAuth(httpx.Auth):
    """Signs every request (RFC 9421 + Content-Digest); verifies responses when given a verifier.

    A response that fails verification raises the ``SecurityError`` that says why; the caller
    never sees an unverified body.
    """

    requires_request_body = True

    def __init__(
        self,
        signer: HttpSigner,
        *,
        verifier: HttpVerifier | None = None,
        expected_keyid: str | None = None,
    ) -> None:
        self._signer = signer
        self._verifier = verifier
        self._expected_keyid = expected_keyid
        self.requires_response_body = verifier is not None

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        url = str(request.url)
        signed = self._signer.sign_request(request.method, url, request.headers, request.content)
        request.headers.update(signed)
        response = yield request
        if self._verifier is not None:
            self._verifier.verify_response(
                response.status_code,
                response.headers,
                response.content,
                request=RequestView(request.method, url, request.headers),
                expected_keyid=self._expected_keyid,
            )


__all__ = ["HttpSignatureAuth"]
