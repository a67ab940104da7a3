"""Admission on the headers alone: body limits per route, bodies in flight, the claimed signer."""

from __future__ import annotations

from collections.abc import Mapping
from fnmatch import fnmatchcase
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

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


def _plain_limit(default: int, limits: Mapping[str, int], method: str, path: str) -> int:
    """The rules read one by one with ``fnmatchcase``, as BodyLimits first did."""
    for rule, limit in limits.items():
        rule_method, _, pattern = rule.strip().partition(" ")
        if rule_method.upper() in (method, "*") and fnmatchcase(path, pattern.strip()):
            return limit
    return default


_RULES = {
    "GET *": 0,
    "DELETE *": 0,
    "post /v1/citizens/verify": 16384,
    "PUT /v1/watch/*": 16384,
    "POST /v1/dossiers/*/events": 65536,
    "* /v1/any/?": 7,
    "PATCH /v1/[ab]x": 9,
    "PATCH /v1/[!a]y": 10,
    "* /v1/dot.*": 11,
    "OPTIONS /v1/(x)+": 12,
    "* *": 13,
}
_PATHS = [
    "/v1/citizens/verify",
    "/v1/citizens/verify/",
    "/v1/citizens/VERIFY",
    "/v1/watch/",
    "/v1/watch/a/b",
    "/v1/watch\n",
    "/v1/dossiers/x/events",
    "/v1/dossiers//events",
    "/v1/dossiers/a\nb/events",
    "/v1/dossiers/x/events\n",
    "/v1/any/a",
    "/v1/any/ab",
    "/v1/any/\n",
    "/v1/ax",
    "/v1/bx",
    "/v1/cy",
    "/v1/ay",
    "/v1/dot.x",
    "/v1/dotx",
    "/v1/(x)+",
    "/v1/xx",
    "",
    "/ü/€",
]
_METHODS = ["GET", "get", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "*", "BREW", ""]


@pytest.mark.parametrize("method", _METHODS)
def test_compiled_body_limits_match_the_rules_read_one_by_one(method: str) -> None:
    """Every method and path (wildcards, brackets, line breaks, odd methods) gets the limit the
    rules read one by one with fnmatchcase give, the default when none matches."""
    limits = BodyLimits(1000, _RULES)
    without_catch_all = {rule: limit for rule, limit in _RULES.items() if rule != "* *"}
    fewer = BodyLimits(1000, without_catch_all)
    for path in _PATHS:
        assert limits(method, path) == _plain_limit(1000, _RULES, method, path), path
        assert fewer(method, path) == _plain_limit(1000, without_catch_all, method, path), path


@given(
    method=st.sampled_from(_METHODS),
    path=st.text(alphabet="/v1abx*?[]!.\n-", max_size=16),
    pattern=st.text(alphabet="/v1abx*?[]!.-", min_size=1, max_size=10),
)
def test_generated_rules_match_as_fnmatchcase_does(method: str, path: str, pattern: str) -> None:
    """Generated patterns and paths: the compiled rules agree with fnmatchcase."""
    rules = {f"POST {pattern}": 1, f"* {pattern}x": 2, "GET /v1/a": 3}
    assert BodyLimits(9, rules)(method, path) == _plain_limit(9, rules, method, path)


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
