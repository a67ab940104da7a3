"""Admission on the headers alone: body limits per route, bodies in flight, the claimed signer."""

from __future__ import annotations

from pathlib import Path

import pytest

from security.admission import BodiesInFlight, BodyLimits
from security.errors import MissingSignature, Overloaded, UnknownKey
from security.http_signatures import HttpSigner, HttpVerifier, TrustedKeyDirectory
from security.keys import load_party
from security.trust import TrustStore


def test_body_limits_take_the_first_matching_rule_else_the_default() -> None:
    """Rules are 'METHOD /path' with * inside a path (or * for any method); first match wins."""
    limits = BodyLimits(
        1000,
        {"GET *": 0, "POST /v1/dossiers/*/events": 64, "* /v1/citizens/verify": 16},
    )
    assert limits("GET", "/v1/dossiers") == 0
    assert limits("POST", "/v1/dossiers/000.00.04.H04-261126-0001/events") == 64
    assert limits("POST", "/v1/citizens/verify") == 16
    assert limits("PUT", "/v1/dossiers/000.00.04.H04-261126-0001") == 1000


@pytest.mark.parametrize("rule", ["POST", " /v1/x", "POST  "])
def test_a_body_limit_rule_without_method_and_path_is_refused(rule: str) -> None:
    """A rule must name a method and a path."""
    with pytest.raises(ValueError, match="METHOD /path"):
        BodyLimits(10, {rule: 1})


def test_bodies_in_flight_are_capped_per_client_then_in_all_and_given_back_once() -> None:
    """The per-client cap refuses client_busy, the total cap server_busy; a place given back
    (even twice by mistake) frees exactly one."""
    caps = BodiesInFlight(total=3, per_client=2)
    first = caps.acquire("a")
    caps.acquire("a")
    with pytest.raises(Overloaded) as busy:
        caps.acquire("a")
    assert busy.value.reason == "client_busy"
    caps.acquire("b")
    with pytest.raises(Overloaded) as full:
        caps.acquire("c")
    assert full.value.reason == "server_busy"
    first()
    first()
    assert caps.open == 2
    caps.acquire("c")
    with pytest.raises(Overloaded):
        caps.acquire("d")


def test_the_claimed_signer_is_read_without_the_body(dev_keys: Path) -> None:
    """claimed_signer names the keyid of a request's signature when its key is known, and
    refuses no signature (missing_signature) or an unknown keyid (unknown_key) — before any
    body exists."""
    trust = TrustStore.from_pem_file(dev_keys / "ca" / "cert.pem")
    verifier = HttpVerifier(TrustedKeyDirectory(dev_keys, trust), None)
    signed = HttpSigner(load_party(dev_keys, "ministry")).sign_request(
        "PUT", "http://127.0.0.1/v1/x", {"content-type": "application/json"}, b"{}"
    )
    assert verifier.claimed_signer(signed) == "ministry"
    with pytest.raises(MissingSignature):
        verifier.claimed_signer({"content-length": "9500000"})
    forged = {name: value.replace('"ministry"', '"nobody"') for name, value in signed.items()}
    with pytest.raises(UnknownKey):
        verifier.claimed_signer(forged)
