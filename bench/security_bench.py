"""Sign + verify cost per message against the bare `cryptography` operations it rests on.

Two messages, measured in one run so machine noise cancels in the ratios:

* SOAP: a 5 KB population envelope — ``sign_envelope`` + ``verify_envelope`` (WS-Security,
  exclusive C14N, SHA-256, ECDSA P-256, certificate checked against the trust store) against
  ECDSA P-256 ``sign`` + ``verify`` of the same 5 KB with `cryptography`. Signing is measured
  both from bytes (parse included) and from an lxml element (how a connector that built the
  envelope calls it).
* JSON: a 1 KB request body — ``HttpSigner.sign_request`` + ``HttpVerifier.verify_request``
  (RFC 9421 + Content-Digest, replay cache on) against ECDSA ``sign`` + ``verify`` of the 1 KB.

Each figure is the best of several rounds (the rounds interleave ours and bare), in µs per
message. Goals: ≤ 3× for SOAP and ≤ 2× for JSON. Run: ``.venv/bin/python bench/security_bench.py``.
"""

from __future__ import annotations

import json
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from lxml import etree

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from security.http_signatures import HttpSigner, HttpVerifier, TrustedKeyDirectory  # noqa: E402
from security.keys import load_party  # noqa: E402
from security.pki import init_dev_pki  # noqa: E402
from security.replay import MemoryReplayCache  # noqa: E402
from security.trust import TrustStore  # noqa: E402
from security.wsse import WSU_NS, sign_envelope, verify_envelope  # noqa: E402

ENVELOPE = ROOT / "tests" / "fixtures" / "security" / "envelope_5k.xml"
RESULTS = ROOT / "bench" / "results" / "security.json"
ROUNDS = 7
SOAP_GOAL = 3.0
JSON_GOAL = 2.0


def _per_call(function: Callable[[], object], number: int) -> float:
    start = time.perf_counter()
    for _ in range(number):
        function()
    return (time.perf_counter() - start) / number * 1e6


def _best(cases: dict[str, Callable[[], object]], number: int) -> dict[str, float]:
    best = dict.fromkeys(cases, float("inf"))
    for _ in range(ROUNDS):
        for name, function in cases.items():
            best[name] = min(best[name], _per_call(function, number))
    return best


def _json_body() -> bytes:
    record = {
        "dossier_code": "000.00.04.H04-261126-0007",
        "status": 4,
        "procedure": "1.001234.000.00.00.H04",
        "steps": [
            {"at": f"2026-11-26T0{i}:00:00+07:00", "note": "đang xử lý hồ sơ"} for i in range(9)
        ],
    }
    body = json.dumps(record, ensure_ascii=False).encode()
    return body + b" " * max(0, 1024 - len(body))


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        keys = Path(folder)
        init_dev_pki(keys)
        adapter = load_party(keys, "adapter")
        client = load_party(keys, "province-app")
        trust = TrustStore.from_pem_file(keys / "ca" / "cert.pem")
        envelope = ENVELOPE.read_bytes()
        body = _json_body()
        ecdsa = ec.ECDSA(hashes.SHA256())

        def bare(key: ec.EllipticCurvePrivateKey, data: bytes) -> Callable[[], object]:
            public = key.public_key()

            def run() -> None:
                public.verify(key.sign(data, ecdsa), data, ecdsa)

            return run

        assert isinstance(adapter.key, ec.EllipticCurvePrivateKey)
        assert isinstance(client.key, ec.EllipticCurvePrivateKey)

        def soap_from_bytes() -> None:
            verify_envelope(sign_envelope(envelope, adapter), trust)

        # A connector builds its envelope as a tree with SIGNING_NSMAP declared on the root.
        declared = envelope.replace(
            b"<soapenv:Envelope ", b'<soapenv:Envelope xmlns:wsu="' + WSU_NS.encode() + b'" ', 1
        )

        def soap_from_element() -> None:
            verify_envelope(sign_envelope(etree.fromstring(declared), adapter), trust)

        signer = HttpSigner(client)
        verifier = HttpVerifier(TrustedKeyDirectory(keys, trust), MemoryReplayCache())
        url = "http://127.0.0.1:8080/v1/dossiers/000.00.04.H04-261126-0007/events"
        headers = {"Content-Type": "application/json"}

        def http_request() -> None:
            signed = signer.sign_request("POST", url, headers, body)
            verifier.verify_request("POST", url, {**headers, **signed}, body)

        parse_only = _best({"parse": lambda: etree.fromstring(declared)}, 500)["parse"]
        soap = _best(
            {
                "bare": bare(adapter.key, envelope),
                "bytes": soap_from_bytes,
                "element": soap_from_element,
            },
            300,
        )
        soap["element"] -= parse_only  # the element is built outside the signing call

        # Where the time goes: the libxml2 work alone (parse of the signed envelope, exclusive
        # C14N of the eight signed parts on both sides and of SignedInfo, serialization).
        signed = sign_envelope(envelope, adapter)
        signed_root = etree.fromstring(signed)
        header = list(signed_root[0])
        parts = [*header[:-1], header[-1][0], signed_root[1]]
        signed_info = signed_root[0][-1][-1][0]

        def xml_work() -> None:
            etree.fromstring(signed)
            for _ in range(2):
                for part in parts:
                    etree.tostring(part, method="c14n", exclusive=True)
            etree.tostring(signed_info, method="c14n", exclusive=True)
            etree.tostring(signed_root[1])

        xml_floor = _best({"xml": xml_work}, 300)["xml"]
        rest = _best({"bare": bare(client.key, body), "ours": http_request}, 1000)

    results: dict[str, Any] = {
        "machine": f"{platform.machine()} {platform.python_implementation()} "
        f"{platform.python_version()}",
        "unit": "microseconds per message (sign + verify), best of rounds",
        "soap_5kb": {
            "envelope_bytes": len(envelope),
            "bare_ecdsa_sign_verify_us": round(soap["bare"], 1),
            "wsse_sign_verify_from_bytes_us": round(soap["bytes"], 1),
            "wsse_sign_verify_from_element_us": round(soap["element"], 1),
            "ratio_from_bytes": round(soap["bytes"] / soap["bare"], 2),
            "ratio_from_element": round(soap["element"] / soap["bare"], 2),
            "libxml2_parse_c14n_serialize_us": round(xml_floor, 1),
            "floor_ratio_bare_plus_libxml2": round((soap["bare"] + xml_floor) / soap["bare"], 2),
            "goal": SOAP_GOAL,
        },
        "json_1kb": {
            "body_bytes": len(body),
            "bare_ecdsa_sign_verify_us": round(rest["bare"], 1),
            "rfc9421_sign_verify_us": round(rest["ours"], 1),
            "ratio": round(rest["ours"] / rest["bare"], 2),
            "goal": JSON_GOAL,
        },
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    s, j = results["soap_5kb"], results["json_1kb"]
    print(
        f"SOAP 5 KB : bare {s['bare_ecdsa_sign_verify_us']} µs | WS-Security "
        f"{s['wsse_sign_verify_from_bytes_us']} µs from bytes ({s['ratio_from_bytes']}×), "
        f"{s['wsse_sign_verify_from_element_us']} µs from an element "
        f"({s['ratio_from_element']}×) | goal ≤ {SOAP_GOAL}×"
    )
    print(
        f"            libxml2 parse + C14N + serialize alone {s['libxml2_parse_c14n_serialize_us']}"
        f" µs: bare + that = {s['floor_ratio_bare_plus_libxml2']}×"
    )
    print(
        f"JSON 1 KB : bare {j['bare_ecdsa_sign_verify_us']} µs | RFC 9421 "
        f"{j['rfc9421_sign_verify_us']} µs ({j['ratio']}×) | goal ≤ {JSON_GOAL}×"
    )
    print(f"written to {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
