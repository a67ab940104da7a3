"""Schemathesis against /openapi.json over real HTTP with signed requests.

Every generated request (valid and invalid data, for every operation) is signed by the
``province-app`` client, whose allow-list grants every operation; the signature covers the
generated ``X-User-Id``, ``X-Issue`` and ``X-Request-Id`` too, so they reach the routes. The
checks fail a test on a server error (no input may yield a 5xx), a status the OpenAPI document
does not list, a body that does not match its documented schema, or a wrong content type. The
run is made on SQLite and on PostgreSQL (NUL and out-of-range dates are refused by the one and
not by the other, so both must hold).
"""

from __future__ import annotations

import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import CHECKS, load_all_checks

from security.http_signatures import HttpSigner
from tests.e2e.api_harness import Sandbox, running_sandbox

pytestmark = pytest.mark.slow


class SignedAuth(requests.auth.AuthBase):
    """Signs a prepared ``requests`` request with RFC 9421 (as ``security.httpx_auth`` does)."""

    def __init__(self, signer: HttpSigner) -> None:
        self.signer = signer

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        body = request.body or b""
        if isinstance(body, str):
            body = body.encode("utf-8")
        assert request.method is not None
        assert request.url is not None
        signed = self.signer.sign_request(request.method, request.url, dict(request.headers), body)
        request.headers.update(signed)
        return request


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def sandbox(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, dev_keys: Path
) -> Iterator[Sandbox]:
    """The adapter + mocks with the sandbox clients, without the sync worker, on SQLite or on
    the session's PostgreSQL database.

    The worker's jittered polling draws from the global ``random`` in the server's thread, which
    Hypothesis (generating cases in this thread) would report as a strategy using ``random``.
    """
    database_url = None
    if request.param == "postgresql":
        database_url = request.getfixturevalue("postgres_dsn")
    root = tmp_path_factory.mktemp(f"api_schemathesis_{request.param}")
    with running_sandbox(root, dev_keys, database_url=database_url, run_worker=False) as running:
        yield running


@pytest.fixture(scope="module")
def session(sandbox: Sandbox) -> Iterator[requests.Session]:
    """A requests session that signs as province-app."""
    with requests.Session() as signed:
        signed.auth = SignedAuth(sandbox.signer("province-app"))
        yield signed


@pytest.fixture(scope="module")
def api_schema(sandbox: Sandbox) -> Any:
    """The adapter's own OpenAPI document from the running server, minus its security scheme.

    Signing is done by the session for every request (the scheme's ``Signature`` header is not
    a parameter a test case could vary); requests without or with bad signatures are tested in
    test_api_auth.py.
    """
    doc = requests.get(sandbox.base_url + "/openapi.json", timeout=10).json()
    doc.setdefault("components", {}).pop("securitySchemes", None)
    for methods in doc["paths"].values():
        for operation in methods.values():
            operation.pop("security", None)
    loaded = schemathesis.openapi.from_dict(doc)
    loaded.location = sandbox.base_url + "/openapi.json"
    return loaded


#: Valid-per-schema data may still be refused for good reasons (unknown citizen, unregistered
#: dossier in X-Issue, illegal transition), so "valid data must be accepted" does not apply; and
#: the session signs every request, so the "invalid auth is refused" probe goes out signed —
#: unsigned, forged and replayed requests are tested in test_api_auth.py.
_EXCLUDED = {"positive_data_acceptance", "ignored_auth"}


def chosen_checks() -> list[Any]:
    """Every schemathesis check except those in ``_EXCLUDED``."""
    load_all_checks()
    return [check for check in CHECKS.get_all() if check.__name__ not in _EXCLUDED]


MODES = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)


def _run(operation: Any, mode: GenerationMode, session: requests.Session) -> None:
    checks = chosen_checks()

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=20,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        database=None,
    )
    def run(case: Any) -> None:
        case.call_and_validate(session=session, checks=checks)

    run()


def test_api_conforms_to_its_openapi_document(api_schema: Any, session: requests.Session) -> None:
    """Every operation, valid and invalid data: no 5xx bug, only documented statuses and bodies."""
    failures: list[str] = []
    labels = []
    for result in api_schema.get_all_operations():
        operation = result.ok()
        labels.append(operation.label)
        for mode in MODES:
            try:
                _run(operation, mode, session)
            except Unsatisfiable:
                continue  # nothing to make invalid (no parameters, no body)
            except Exception as exc:  # collect every operation's failure, then report all
                inner = getattr(exc, "exceptions", ())
                detail = "; ".join(
                    "".join(traceback.format_exception(e, limit=2))[-1500:] for e in inner
                )
                failures.append(f"{operation.label} [{mode.value}]: {exc} {detail}")
    assert "GET /v1/citizens/{citizen_id}" in labels
    assert "PUT /v1/dossiers/{dossier_code}" in labels
    assert not failures, "\n\n".join(failures)
