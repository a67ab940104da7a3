"""The RFC 9421 part of an evidence bundle: signature bases and signatures openssl can check.

For a signed REST message the bundle gets ``<kind>.sigbase`` — the RFC 9421 signature base,
rebuilt from the stored message (each covered component on its own line, then
``"@signature-params"``) — the signature itself (``<kind>.sig``, and ``<kind>.sig.der`` in the DER
form openssl expects for ECDSA), and the signer's public key (``<kind>-signer.pubkey.pem``). The
checks: ``openssl dgst`` verifies the signature over the base, and the body's SHA-256 is the
``content-digest`` the base covers. That the base's lines are the message's own headers and
request line is plain to see: compare ``<kind>.sigbase`` with ``<kind>.http``.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from security.algorithms import ECDSA_P256_SHA256, RSA_PSS_SHA512, RSA_V1_5_SHA256
from security.http_signatures import LABEL
from security.structured_fields import (
    InnerList,
    Item,
    parse_dictionary,
    serialize_item,
    serialize_member,
)
from store.message_log.checks import Check
from store.message_log.crypto import BodyKind
from store.message_log.records import StoredRecord
from store.message_log.redaction import is_redacted
from store.message_log.wire import WireRequest, body_of, decode_request, decode_response

_DEFAULT_PORTS = {"http": 80, "https": 443}


class _Unbuildable(ValueError):
    """The stored message's signature cannot be laid out for openssl."""


def _headers(headers: dict[str, str]) -> dict[str, str]:
    combined: dict[str, str] = {}
    for name, value in headers.items():
        key, text = name.lower(), value.strip(" \t")
        combined[key] = f"{combined[key]}, {text}" if key in combined else text
    return combined


def _derived(name: str, request: WireRequest | None, status: int | None) -> str:
    if name == "@status":
        if status is None:
            raise _Unbuildable("@status outside a response")
        return f"{status:03d}"
    if request is None:
        raise _Unbuildable(f"{name} needs a request")
    parts = urlsplit(request.url)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    host = f"[{host}]" if ":" in host else host
    authority = host if parts.port in (None, _DEFAULT_PORTS.get(scheme)) else f"{host}:{parts.port}"
    path, query = parts.path or "/", "?" + parts.query
    values = {
        "@method": request.method.upper(),
        "@authority": authority,
        "@path": path,
        "@query": query,
        "@scheme": scheme,
        "@target-uri": f"{scheme}://{authority}{path}{'' if query == '?' else query}",
        "@request-target": path + ("" if query == "?" else query),
    }
    if name not in values:
        raise _Unbuildable(f"unsupported component {name}")
    return values[name]


def signature_base(
    signed: dict[str, str],
    *,
    request: WireRequest | None,
    status: int | None,
    bound: WireRequest | None = None,
) -> tuple[bytes, bytes, str]:
    """The RFC 9421 signature base of a stored message, its signature and algorithm.

    ``signed`` are the headers of the message that carries the signature; for a response,
    ``status`` is its status and ``bound`` the request its ``;req`` components name.
    """
    headers = _headers(signed)
    inputs = parse_dictionary(headers.get("signature-input", "")).get(LABEL)
    value = parse_dictionary(headers.get("signature", "")).get(LABEL)
    if not isinstance(inputs, InnerList) or not isinstance(value, Item):
        raise _Unbuildable("no signature labelled " + LABEL)
    if not isinstance(value.value, bytes):
        raise _Unbuildable("the signature is not a byte sequence")
    lines = []
    for item in inputs.items:
        name = str(item.value)
        req = item.params.get("req") is True
        source_request = bound if req else request
        if name.startswith("@"):
            text = _derived(name, source_request, None if req else status)
        else:
            source = _headers(source_request.headers) if req and source_request else headers
            if name not in source:
                raise _Unbuildable(f"covered header {name} is absent")
            text = source[name]
            key = item.params.get("key")
            if key is not None:
                member = parse_dictionary(text).get(str(key))
                if member is None:
                    raise _Unbuildable(f"a covered member of {name} is absent")
                text = serialize_member(member)
        lines.append(f"{serialize_item(item)}: {text}")
    lines.append(f'"@signature-params": {serialize_member(inputs)}')
    algorithm = inputs.params.get("alg")
    return "\n".join(lines).encode("ascii"), value.value, str(algorithm or "")


def _openssl_argv(algorithm: str, kind: str) -> tuple[str, ...] | None:
    key, base = f"{kind}-signer.pubkey.pem", f"{kind}.sigbase"
    if algorithm == ECDSA_P256_SHA256:
        return ("openssl", "dgst", "-sha256", "-verify", key, "-signature", f"{kind}.sig.der", base)
    if algorithm == RSA_V1_5_SHA256:
        return ("openssl", "dgst", "-sha256", "-verify", key, "-signature", f"{kind}.sig", base)
    if algorithm == RSA_PSS_SHA512:
        return (
            "openssl",
            "dgst",
            "-sha512",
            "-sigopt",
            "rsa_padding_mode:pss",
            "-sigopt",
            "rsa_pss_saltlen:64",
            "-verify",
            key,
            "-signature",
            f"{kind}.sig",
            base,
        )
    return None


def add_http_signature_files(
    files: dict[str, bytes],
    checks: list[Check],
    record: StoredRecord,
    kind: BodyKind,
    wire: bytes,
    signer: x509.Certificate | None,
    request_wire: bytes | None = None,
) -> None:
    """Add the signature base, signature and key of a stored REST message, and their checks."""
    if signer is None:
        return
    try:
        if kind == "request":
            message = decode_request(wire)
            base, signature, algorithm = signature_base(
                message.headers, request=message, status=None
            )
        else:
            response = decode_response(wire)
            bound = decode_request(request_wire) if request_wire is not None else None
            base, signature, algorithm = signature_base(
                response.headers, request=None, status=response.status, bound=bound
            )
    except ValueError:
        return  # unsigned or not laid out for openssl: the record still verifies in lienthong
    argv = _openssl_argv(algorithm, kind)
    if argv is None:
        return
    files[f"{kind}.sigbase"] = base
    files[f"{kind}.sig"] = signature
    if algorithm == ECDSA_P256_SHA256 and len(signature) == 64:
        r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
        files[f"{kind}.sig.der"] = encode_dss_signature(r, s)
    files[f"{kind}-signer.pubkey.pem"] = signer.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    checks.append(Check(f"the {kind}'s RFC 9421 signature verifies over {kind}.sigbase", argv))
    if is_redacted(body_of(wire)):
        return  # a credential was replaced: the body cannot match the signed content-digest
    body_file = f"{kind}.body"
    checks.append(
        Check(
            f"{kind}.body is what the signature covers (its SHA-256 is the content-digest "
            f"line of {kind}.sigbase)",
            (
                "sh",
                "-c",
                f'grep -qF "\\"content-digest\\": sha-256=:$(openssl dgst -sha256 -binary '
                f"{body_file} | base64 | tr -d '\\n'):\" {kind}.sigbase",
            ),
        )
    )


__all__ = ["add_http_signature_files", "signature_base"]
