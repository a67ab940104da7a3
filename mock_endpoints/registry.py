"""The national business registry mock: REST/JSON shaped like the national gateway.

``POST /registry/token``
    OAuth2 client credentials (RFC 6749 §4.4): form ``grant_type=client_credentials`` with
    ``client_id`` + ``client_secret`` in the form or as HTTP Basic. Answers
    ``{"access_token", "token_type": "Bearer", "expires_in"}``; errors in OAuth2's own form
    ``{"error", "error_description"}`` (400 ``invalid_request`` / ``unsupported_grant_type``,
    401 ``invalid_client``).
``GET /registry/apiCSDLDKDN/1.0/chiTietDoanhNghiep?maSoDoanhNghiep=…``
    a bearer token and a signed request; answers ``{"Data": {"MainInformation": …,
    "Representatives": […]}}`` (``schemas.wire.registry``).

Errors of the detail call are ``{"Code": "...", "Message": "..."}`` (the gateway's shape):

    400 INVALID_REQUEST   maSoDoanhNghiep missing
    400 INVALID_TAX_CODE  not a valid tax code (shape or check digit)
    401 INVALID_TOKEN     no bearer token, or an unknown or expired one (WWW-Authenticate: Bearer)
    401 BAD_SIGNATURE     the RFC 9421 signature is missing or not acceptable (any registry path)
    404 NOT_FOUND         no business has this tax code
    503 UNAVAILABLE       temporarily unavailable (fault injection)
"""

from __future__ import annotations

import base64
import binascii
from urllib.parse import parse_qs, unquote

from mock_endpoints.records import MockRecords
from mock_endpoints.rest import Call, RestAnswer
from mock_endpoints.tokens import TokenStore
from schemas.errors import SchemaError
from schemas.tax_code import validate_tax_code
from schemas.wire.registry import business_to_registry
from security.errors import SecurityError

UPSTREAM = "registry"
TOKEN_PATH = "/registry/token"  # noqa: S105 (a path, not a password)
DETAIL_PATH = "/registry/apiCSDLDKDN/1.0/chiTietDoanhNghiep"


def gateway_error(status: int, code: str, message: str, **headers: str) -> RestAnswer:
    """An error in the gateway's ``{"Code", "Message"}`` shape."""
    return RestAnswer(status, {"Code": code, "Message": message}, dict(headers))


def signature_error(exc: SecurityError) -> RestAnswer:
    """401 ``BAD_SIGNATURE`` saying why (the reason code, never request content)."""
    return gateway_error(
        401, "BAD_SIGNATURE", f"request signature not acceptable: {exc.message} ({exc.reason})"
    )


def unavailable() -> RestAnswer:
    """503 ``UNAVAILABLE`` (fault injection)."""
    return gateway_error(
        503,
        "UNAVAILABLE",
        "the business registry is temporarily unavailable",
        **{"retry-after": "1"},
    )


def _oauth_error(status: int, error: str, description: str, *, basic: bool = False) -> RestAnswer:
    headers = {"cache-control": "no-store"}
    if basic:
        headers["www-authenticate"] = 'Basic realm="registry"'
    return RestAnswer(status, {"error": error, "error_description": description}, headers)


def _basic_credentials(authorization: str) -> tuple[str, str] | None:
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() != "basic" or not value:
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    client_id, sep, secret = decoded.partition(":")
    if not sep:
        return None
    return unquote(client_id.replace("+", " ")), unquote(secret.replace("+", " "))


class RegistryService:
    """Token and detail handlers of the registry mock."""

    def __init__(self, records: MockRecords, tokens: TokenStore) -> None:
        self.records = records
        self.tokens = tokens

    async def token(self, call: Call) -> RestAnswer:
        """``POST /registry/token``."""
        content_type = call.request.headers.get("content-type", "")
        if not content_type.startswith("application/x-www-form-urlencoded"):
            return _oauth_error(400, "invalid_request", "the body must be form-urlencoded")
        try:
            form = parse_qs(call.body.decode("utf-8"), strict_parsing=False)
        except (UnicodeDecodeError, ValueError):
            return _oauth_error(400, "invalid_request", "the form cannot be read")
        if any(len(values) > 1 for values in form.values()):
            return _oauth_error(400, "invalid_request", "a form parameter is repeated")
        fields = {name: values[0] for name, values in form.items()}
        grant = fields.get("grant_type")
        if grant is None:
            return _oauth_error(400, "invalid_request", "grant_type is required")
        if grant != "client_credentials":
            return _oauth_error(
                400, "unsupported_grant_type", "only client_credentials is supported"
            )
        basic = _basic_credentials(call.request.headers.get("authorization", ""))
        if basic is not None:
            client_id, secret = basic
        else:
            client_id, secret = fields.get("client_id", ""), fields.get("client_secret", "")
        if not client_id or not self.tokens.client_ok(client_id, secret):
            return _oauth_error(
                401, "invalid_client", "client authentication failed", basic=basic is not None
            )
        issued = self.tokens.issue(client_id)
        return RestAnswer(
            200,
            {
                "access_token": issued.value,
                "token_type": "Bearer",
                "expires_in": int(self.tokens.ttl),
            },
            {"cache-control": "no-store"},
        )

    async def detail(self, call: Call) -> RestAnswer:
        """``GET /registry/apiCSDLDKDN/1.0/chiTietDoanhNghiep?maSoDoanhNghiep=…``."""
        scheme, _, value = call.request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            return gateway_error(
                401,
                "INVALID_TOKEN",
                "a bearer access token is required",
                **{"www-authenticate": 'Bearer realm="registry"'},
            )
        if self.tokens.check(value.strip()) is None:
            return gateway_error(
                401,
                "INVALID_TOKEN",
                "the access token is unknown or has expired",
                **{"www-authenticate": 'Bearer realm="registry", error="invalid_token"'},
            )
        tax_code = call.request.query_params.get("maSoDoanhNghiep")
        if not tax_code:
            return gateway_error(400, "INVALID_REQUEST", "maSoDoanhNghiep is required")
        try:
            validate_tax_code(tax_code)
        except SchemaError as exc:
            return gateway_error(400, "INVALID_TAX_CODE", exc.message)
        business = self.records.business(tax_code)
        if business is None:
            return gateway_error(404, "NOT_FOUND", "no business has this tax code")
        return RestAnswer(200, business_to_registry(business))


__all__ = [
    "DETAIL_PATH",
    "TOKEN_PATH",
    "RegistryService",
    "gateway_error",
    "signature_error",
    "unavailable",
]
