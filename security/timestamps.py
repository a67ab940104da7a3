"""RFC 3161 time-stamps: asking a time-stamping authority (TSA), answering as one, checking tokens.

A time-stamp token is a CMS ``SignedData`` whose content is a ``TSTInfo``: the SHA-256 of the
data stamped (``messageImprint``), the TSA's time (``genTime``), a serial number and the nonce of
the request. The TSA signs the content's digest through the signed attributes ``contentType``,
``messageDigest`` and ``signingCertificateV2`` (RFC 5816: the SHA-256 of its certificate). A
token made here checks with ``openssl ts -verify -data FILE -in TOKEN -token_in -CAfile CA``.

- :func:`timestamp_request` — a ``TimeStampReq`` (SHA-256 imprint, nonce, ``certReq``);
- :class:`TimeStampAuthority` — answers requests with tokens signed by a ``tsa`` party (the
  sandbox's mock TSA);
- :func:`read_timestamp_reply` — the token of a ``TimeStampResp``, checked against the request;
- :func:`verify_token` — a token checked offline: its imprint, its signature, its signer's
  certificate (extended key usage timeStamping, critical; chained to the trust store at
  ``genTime``).

Refusals are :class:`~security.errors.TimestampError` with a stable reason.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

from asn1crypto import algos, cms, core, tsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID

from security.errors import CertificateError, TimestampError
from security.keys import Credentials
from security.trust import TrustStore

QUERY_CONTENT_TYPE = "application/timestamp-query"
REPLY_CONTENT_TYPE = "application/timestamp-reply"
#: the policy the sandbox TSA stamps under (an OID of the private arc, for testing only)
SANDBOX_POLICY = "1.3.6.1.4.1.59999.3161.1"
_DIGESTS = {"sha256": hashlib.sha256, "sha384": hashlib.sha384, "sha512": hashlib.sha512}
_MAX_TOKEN = 64 * 1024


class _TimeStampResp(core.Sequence):  # type: ignore[misc]
    """RFC 3161 ``TimeStampResp``: asn1crypto's makes the token mandatory, RFC 3161 does not."""

    _fields = [  # noqa: RUF012 (asn1crypto's schema attribute)
        ("status", tsp.PKIStatusInfo),
        ("time_stamp_token", cms.ContentInfo, {"optional": True}),
    ]


@dataclass(frozen=True, slots=True)
class TimeStamp:
    """A checked token: what it stamps, when, by whom."""

    token: bytes
    imprint: bytes
    gen_time: dt.datetime
    serial: int
    nonce: int | None
    signer: x509.Certificate


def timestamp_request(imprint: bytes, *, nonce: int | None = None) -> tuple[bytes, int]:
    """A DER ``TimeStampReq`` for the SHA-256 ``imprint`` and the nonce it carries."""
    if len(imprint) != 32:
        raise ValueError("the imprint must be a SHA-256 digest")
    chosen = nonce if nonce is not None else secrets.randbits(63)
    request = tsp.TimeStampReq(
        {
            "version": "v1",
            "message_imprint": _imprint(imprint),
            "nonce": chosen,
            "cert_req": True,
        }
    )
    return request.dump(), chosen


def _imprint(digest: bytes) -> tsp.MessageImprint:
    return tsp.MessageImprint(
        {
            "hash_algorithm": algos.DigestAlgorithm({"algorithm": "sha256"}),
            "hashed_message": digest,
        }
    )


def _reply(status: str, text: str | None = None, fail: str | None = None) -> bytes:
    info: dict[str, object] = {"status": status}
    if text is not None:
        info["status_string"] = [text]
    if fail is not None:
        info["fail_info"] = tsp.PKIFailureInfo({fail})
    der: bytes = _TimeStampResp({"status": tsp.PKIStatusInfo(info)}).dump()
    return der


class TimeStampAuthority:
    """Answers ``TimeStampReq`` s with tokens signed by ``credentials`` (a ``tsa`` party)."""

    def __init__(self, credentials: Credentials, *, policy: str = SANDBOX_POLICY) -> None:
        self.credentials = credentials
        self.policy = policy
        der = credentials.certificate.public_bytes(serialization.Encoding.DER)
        self._cert = asn1_x509.Certificate.load(der)
        self._cert_hash = hashlib.sha256(der).digest()

    def respond(self, request_der: bytes, *, now: dt.datetime | None = None) -> bytes:
        """A DER ``TimeStampResp``: a token, or a rejection saying why (never an exception)."""
        try:
            request = tsp.TimeStampReq.load(request_der, strict=True)
            imprint = request["message_imprint"]
            algorithm = imprint["hash_algorithm"]["algorithm"].native
            digest = imprint["hashed_message"].native
            nonce = request["nonce"].native
            cert_req = bool(request["cert_req"].native)
            policy = request["req_policy"].native
        except (ValueError, TypeError, KeyError):
            return _reply("rejection", "the request is not a TimeStampReq", "bad_data_format")
        if algorithm not in _DIGESTS:
            return _reply("rejection", "the imprint's algorithm is not accepted", "bad_alg")
        if not isinstance(digest, bytes) or len(digest) != _DIGESTS[algorithm]().digest_size:
            return _reply("rejection", "the imprint has the wrong length", "bad_data_format")
        if policy is not None and policy != self.policy:
            return _reply("rejection", "the policy is not offered", "unaccepted_policy")
        moment = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC).replace(microsecond=0)
        info: dict[str, object] = {
            "version": "v1",
            "policy": self.policy,
            "message_imprint": imprint,
            "serial_number": secrets.randbits(63),
            "gen_time": moment,
            "accuracy": {"seconds": 1},
        }
        if nonce is not None:
            info["nonce"] = nonce
        tst_info = tsp.TSTInfo(info)
        der: bytes = _TimeStampResp(
            {
                "status": tsp.PKIStatusInfo({"status": "granted"}),
                "time_stamp_token": self._token(tst_info, moment, cert_req),
            }
        ).dump()
        return der

    def _token(self, tst_info: tsp.TSTInfo, moment: dt.datetime, cert_req: bool) -> cms.ContentInfo:
        content = tst_info.dump()
        attributes = [
            cms.CMSAttribute({"type": "content_type", "values": ["tst_info"]}),
            cms.CMSAttribute({"type": "signing_time", "values": [cms.Time({"utc_time": moment})]}),
            cms.CMSAttribute(
                {"type": "message_digest", "values": [hashlib.sha256(content).digest()]}
            ),
            cms.CMSAttribute(
                {
                    "type": "signing_certificate_v2",
                    "values": [
                        tsp.SigningCertificateV2(
                            {
                                "certs": [
                                    tsp.ESSCertIDv2(
                                        {
                                            "cert_hash": self._cert_hash,
                                            "issuer_serial": {
                                                "issuer": [
                                                    asn1_x509.GeneralName(
                                                        {"directory_name": self._cert.issuer}
                                                    )
                                                ],
                                                "serial_number": self._cert.serial_number,
                                            },
                                        }
                                    )
                                ]
                            }
                        )
                    ],
                }
            ),
        ]
        # DER orders a SET OF by encoding; verifiers re-encode before checking the signature
        attributes.sort(key=lambda attribute: attribute.dump())
        signed_attrs = cms.CMSAttributes(attributes)
        to_sign = signed_attrs.dump()
        key = self.credentials.key
        if isinstance(key, ec.EllipticCurvePrivateKey):
            signature = key.sign(to_sign, ec.ECDSA(hashes.SHA256()))
            algorithm = "sha256_ecdsa"
        elif isinstance(key, rsa.RSAPrivateKey):
            signature = key.sign(to_sign, padding.PKCS1v15(), hashes.SHA256())
            algorithm = "sha256_rsa"
        else:  # pragma: no cover - the development PKI makes ECDSA or RSA keys
            raise TimestampError("the TSA key is neither ECDSA nor RSA", reason="tsa_key")
        signer = cms.SignerInfo(
            {
                "version": "v1",
                "sid": cms.SignerIdentifier(
                    {
                        "issuer_and_serial_number": cms.IssuerAndSerialNumber(
                            {
                                "issuer": self._cert.issuer,
                                "serial_number": self._cert.serial_number,
                            }
                        )
                    }
                ),
                "digest_algorithm": algos.DigestAlgorithm({"algorithm": "sha256"}),
                "signed_attrs": signed_attrs,
                "signature_algorithm": algos.SignedDigestAlgorithm({"algorithm": algorithm}),
                "signature": signature,
            }
        )
        signed_data: dict[str, object] = {
            "version": "v3",
            "digest_algorithms": [algos.DigestAlgorithm({"algorithm": "sha256"})],
            "encap_content_info": {
                "content_type": "tst_info",
                "content": core.ParsableOctetString(content),
            },
            "signer_infos": [signer],
        }
        if cert_req:
            signed_data["certificates"] = [self._cert]
        return cms.ContentInfo({"content_type": "signed_data", "content": signed_data})


def read_timestamp_reply(
    reply_der: bytes, imprint: bytes, nonce: int, trust: TrustStore
) -> TimeStamp:
    """The token of a ``TimeStampResp`` to the request for ``imprint`` with ``nonce``, checked."""
    try:
        reply = _TimeStampResp.load(reply_der, strict=True)
        status = reply["status"]["status"].native
        token = reply["time_stamp_token"]
    except (ValueError, TypeError, KeyError) as exc:
        raise TimestampError("the TSA's answer is not a TimeStampResp", reason="tsa_reply") from exc
    if status not in ("granted", "granted_with_mods"):
        text = reply["status"]["status_string"].native or []
        why = "; ".join(str(t) for t in text)[:200] or str(status)
        raise TimestampError(f"the TSA refused the request: {why}", reason="tsa_refused")
    if isinstance(token, core.Void):
        raise TimestampError("the TSA granted but sent no token", reason="tsa_reply")
    stamp = verify_token(token.dump(), imprint, trust)
    if stamp.nonce != nonce:
        raise TimestampError("the token does not carry the request's nonce", reason="tsa_nonce")
    return stamp


def verify_token(token: bytes, imprint: bytes, trust: TrustStore) -> TimeStamp:
    """Check a DER time-stamp token over the SHA-256 ``imprint``; raise ``TimestampError``."""
    if len(token) > _MAX_TOKEN:
        raise TimestampError("the token is too large", reason="token_malformed")
    try:
        info = cms.ContentInfo.load(token, strict=True)
        if info["content_type"].native != "signed_data":
            raise ValueError("not SignedData")
        signed = info["content"]
        encap = signed["encap_content_info"]
        if encap["content_type"].native != "tst_info":
            raise ValueError("not a TSTInfo")
        content = encap["content"].contents
        tst = tsp.TSTInfo.load(content, strict=True)
        (signer,) = list(signed["signer_infos"])
        certificates = [
            choice.chosen for choice in signed["certificates"] if choice.name == "certificate"
        ]
        gen_time = tst["gen_time"].native
        algorithm = tst["message_imprint"]["hash_algorithm"]["algorithm"].native
        stamped = tst["message_imprint"]["hashed_message"].native
        serial = int(tst["serial_number"].native)
        nonce = tst["nonce"].native
        attributes = {attr["type"].native: attr["values"] for attr in signer["signed_attrs"]}
        sid = signer["sid"].chosen
        digest_algorithm = signer["digest_algorithm"]["algorithm"].native
        signature = signer["signature"].native
        signature_algorithm = signer["signature_algorithm"].signature_algo
        signed_bytes = b"\x31" + signer["signed_attrs"].dump()[1:]
    except (ValueError, TypeError, KeyError) as exc:
        raise TimestampError(
            "the token is not an RFC 3161 token", reason="token_malformed"
        ) from exc
    if algorithm != "sha256" or stamped != imprint:
        raise TimestampError("the token stamps other data", reason="imprint_mismatch")
    if digest_algorithm not in _DIGESTS:
        raise TimestampError("the token's digest algorithm is not accepted", reason="token_alg")
    digest = _DIGESTS[digest_algorithm](content).digest()
    if [v.native for v in attributes.get("message_digest", [])] != [digest]:
        raise TimestampError("the signed digest is not the content's", reason="token_digest")
    if [v.native for v in attributes.get("content_type", [])] != ["tst_info"]:
        raise TimestampError("the signed content type is not TSTInfo", reason="token_malformed")
    cert = _signer_certificate(certificates, sid)
    _check_signing_certificate(attributes, cert)
    _check_signature(cert, signature_algorithm, signature, signed_bytes, digest_algorithm)
    if not isinstance(gen_time, dt.datetime):
        raise TimestampError("the token has no time", reason="token_malformed")
    _check_tsa_certificate(cert, trust, gen_time)
    return TimeStamp(token, stamped, gen_time, serial, nonce, cert)


def _signer_certificate(certificates: list[asn1_x509.Certificate], sid: object) -> x509.Certificate:
    for candidate in certificates:
        if (
            isinstance(sid, cms.IssuerAndSerialNumber)
            and candidate.issuer == sid["issuer"]
            and candidate.serial_number == sid["serial_number"].native
        ):
            return x509.load_der_x509_certificate(candidate.dump())
    raise TimestampError("the token does not carry its signer's certificate", reason="tsa_cert")


def _check_signing_certificate(attributes: dict[str, object], cert: x509.Certificate) -> None:
    der = cert.public_bytes(serialization.Encoding.DER)
    v2 = attributes.get("signing_certificate_v2")
    v1 = attributes.get("signing_certificate")
    if v2 is not None:
        ids = v2[0]["certs"]  # type: ignore[index]
        hashed = {ids[0]["hash_algorithm"]["algorithm"].native: ids[0]["cert_hash"].native}
    elif v1 is not None:
        hashed = {"sha1": v1[0]["certs"][0]["cert_hash"].native}  # type: ignore[index]
    else:
        raise TimestampError("the token names no signing certificate", reason="tsa_cert")
    ((name, value),) = hashed.items()
    if hashlib.new(name, der).digest() != value:
        raise TimestampError("the token names another signing certificate", reason="tsa_cert")


def _check_signature(
    cert: x509.Certificate,
    signature_algorithm: str,
    signature: bytes,
    signed_bytes: bytes,
    digest_algorithm: str,
) -> None:
    chosen = {"sha256": hashes.SHA256(), "sha384": hashes.SHA384(), "sha512": hashes.SHA512()}[
        digest_algorithm
    ]
    key = cert.public_key()
    try:
        if isinstance(key, ec.EllipticCurvePublicKey) and signature_algorithm == "ecdsa":
            key.verify(signature, signed_bytes, ec.ECDSA(chosen))
        elif isinstance(key, rsa.RSAPublicKey) and signature_algorithm == "rsassa_pkcs1v15":
            key.verify(signature, signed_bytes, padding.PKCS1v15(), chosen)
        else:
            raise TimestampError(
                "the token's signature algorithm is not accepted", reason="token_alg"
            )
    except InvalidSignature as exc:
        raise TimestampError(
            "the token's signature does not verify", reason="token_signature"
        ) from exc


def _check_tsa_certificate(cert: x509.Certificate, trust: TrustStore, at: dt.datetime) -> None:
    try:
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    except x509.ExtensionNotFound:
        eku = None
    if eku is None or not eku.critical or list(eku.value) != [ExtendedKeyUsageOID.TIME_STAMPING]:
        raise TimestampError(
            "the signer's certificate is not a time-stamping authority's "
            "(extended key usage timeStamping, critical)",
            reason="not_a_tsa",
        )
    try:
        trust.validate(cert, at=at)
    except CertificateError as exc:
        raise TimestampError(
            f"the TSA's certificate is not trusted at the token's time ({exc.reason})",
            reason="tsa_untrusted",
        ) from exc


__all__ = [
    "QUERY_CONTENT_TYPE",
    "REPLY_CONTENT_TYPE",
    "SANDBOX_POLICY",
    "TimeStamp",
    "TimeStampAuthority",
    "read_timestamp_reply",
    "timestamp_request",
    "verify_token",
]
