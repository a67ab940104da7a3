"""What an exchange records as its outcome: the application's answer, not the HTTP status.

Every answer the mocks can give (the portal's ``error_code`` values, the registry gateway's
``Code`` values and OAuth2's ``error`` values, read from the mock modules themselves) is judged
by the connector that receives it; a refusal is never ``ok`` and is named by its stable code.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from connectors.portal import ERROR_CODES, PortalConnector
from connectors.registry import RegistryConnector
from connectors.resilience import Resilience
from mock_endpoints import portal_state
from mock_endpoints.portal import portal_answer, signature_error, unavailable
from mock_endpoints.registry import gateway_error
from mock_endpoints.rest import RestAnswer
from security.errors import InvalidSignature
from security.http_signatures import HttpSigner, HttpVerifier, TrustedKeyDirectory
from security.keys import load_party
from security.trust import TrustStore
from tests.integration.connectors_support import upstream
from tests.integration.test_connectors_portal import make

#: the portal mock's error codes (every module-level constant of ``portal_state`` of that shape)
PORTAL_CODES = {
    name: value
    for name, value in vars(portal_state).items()
    if name.isupper() and isinstance(value, str) and value.lstrip("-").isdigit()
}
#: the registry mock's refusals (its docstring's table) and OAuth2 errors of its token endpoint
REGISTRY_ANSWERS = [
    (400, "INVALID_REQUEST"),
    (400, "INVALID_TAX_CODE"),
    (401, "INVALID_TOKEN"),
    (401, "BAD_SIGNATURE"),
    (404, "NOT_FOUND"),
    (503, "UNAVAILABLE"),
]
OAUTH_ANSWERS = [(400, "invalid_request"), (400, "unsupported_grant_type"), (401, "invalid_client")]


def _body(answer: RestAnswer) -> bytes:
    return json.dumps(answer.payload).encode()


@pytest.fixture
def portal(dev_keys: Path) -> PortalConnector:
    """A portal connector (never connected: only its judgement of answers is used)."""
    return make(dev_keys, "http://127.0.0.1:9/portal")


@pytest.fixture
def registry(dev_keys: Path) -> RegistryConnector:
    """A registry connector (never connected)."""
    config = upstream("registry", "http://127.0.0.1:9/registry")
    trust = TrustStore.from_pem_file(dev_keys / "ca" / "cert.pem")
    return RegistryConnector(
        config,
        signer=HttpSigner(load_party(dev_keys, "adapter")),
        verifier=HttpVerifier(TrustedKeyDirectory(dev_keys, trust), None),
        client_id="c",
        client_secret="s",
        resilience=Resilience(config),
    )


def test_every_portal_error_code_is_recorded_by_its_name(portal: PortalConnector) -> None:
    """Each ``error_code`` the mock can answer (HTTP 200) is the outcome under its stable name."""
    assert len(PORTAL_CODES) == 11
    for name, code in PORTAL_CODES.items():
        outcome = portal.answer_outcome(200, _body(portal_answer(code, "message")))
        if code == portal_state.OK:
            assert outcome is None, name
        else:
            assert outcome == ERROR_CODES[code][0], name
            assert outcome == name, "the connector's names are the mock's"


def test_portal_batch_refusals_are_named_per_item(portal: PortalConnector) -> None:
    """A batch whose items were refused records their codes, even under a top-level "0"."""
    results = [
        {"MaHoSo": "a", "error_code": "0", "message": "ok"},
        {"MaHoSo": "b", "error_code": "2", "message": "not held"},
        {"MaHoSo": "c", "error_code": "5", "message": "behind"},
        {"MaHoSo": "d", "error_code": "2", "message": "not held"},
    ]
    body = json.dumps({"error_code": "0", "message": "", "results": results}).encode()
    assert portal.answer_outcome(200, body) == "NOT_FOUND+OUT_OF_ORDER"
    results = [{"MaHoSo": "a", "error_code": "0", "message": "ok"}]
    body = json.dumps({"error_code": 0, "message": "", "results": results}).encode()
    assert portal.answer_outcome(200, body) is None


def test_portal_http_refusals_and_unreadable_answers(portal: PortalConnector) -> None:
    """A signature refusal (401, "7") and an outage (503, "9") are named by their code; an
    answer without ``error_code`` is ``malformed_answer`` or its HTTP status, never ok."""
    assert portal.answer_outcome(401, _body(signature_error(InvalidSignature("x")))) == (
        "BAD_SIGNATURE"
    )
    assert portal.answer_outcome(503, _body(unavailable())) == "UNAVAILABLE"
    assert portal.answer_outcome(200, b"[]") == "malformed_answer"
    assert portal.answer_outcome(200, b"<html>") == "malformed_answer"
    assert portal.answer_outcome(500, b"oops") == "http_500"
    assert portal.answer_outcome(200, b'{"error_code":"42"}') == "PORTAL_42"


def test_every_registry_refusal_is_recorded_by_its_code(registry: RegistryConnector) -> None:
    """The gateway's ``Code`` and OAuth2's ``error`` are the outcome; a 2xx is ok."""
    for status, code in REGISTRY_ANSWERS:
        assert registry.answer_outcome(status, _body(gateway_error(status, code, "m"))) == code
    for status, error in OAUTH_ANSWERS:
        body = json.dumps({"error": error, "error_description": "d"}).encode()
        assert registry.answer_outcome(status, body) == error
    assert registry.answer_outcome(200, b'{"Data": {}}') is None
    assert registry.answer_outcome(502, b"bad gateway") == "http_502"
