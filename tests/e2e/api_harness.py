"""A running sandbox for the adapter API's end-to-end tests, and signed clients to call it.

``running_sandbox`` builds the adapter exactly as ``lienthong serve`` does (sandbox settings,
``prepare``, ``build_container``, ``create_app``) and serves it over real HTTP on 127.0.0.1; the
app's lifespan starts the mock national endpoints on their own port and the sync worker.
``Sandbox.client(party)`` is an ``httpx.Client`` that signs every request as ``party`` and
verifies every response's signature (the adapter's), so a test never reads an unverified body.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from adapter_api.app import create_app
from adapter_api.container import Container
from adapter_api.routes.fast_path import without_fast_paths
from lienthong.bootstrap import build_container, prepare
from lienthong.settings import Settings
from schemas.dossier_code import make_dossier_code
from schemas.times import VN_TZ
from security.http_signatures import HttpSigner, HttpVerifier, TrustedKeyDirectory
from security.httpx_auth import HttpSignatureAuth
from security.keys import load_party
from security.trust import TrustStore
from tests.support.servers import free_port, serve_app

OFFICIAL = "VN001085000123"
AGENCY = "000.00.04.H04"
_serials = itertools.count(1)


@dataclass
class Sandbox:
    """The adapter and mocks of one test module."""

    base_url: str
    settings: Settings
    container: Container
    keys_dir: Path
    _verifier: HttpVerifier = field(init=False)

    def __post_init__(self) -> None:
        trust = TrustStore.from_pem_file(self.keys_dir / "ca" / "cert.pem")
        self._verifier = HttpVerifier(TrustedKeyDirectory(self.keys_dir, trust), None)

    @property
    def mock_url(self) -> str:
        """The mock national endpoints' base URL."""
        return self.settings.mock_base_url

    def signer(self, party: str) -> HttpSigner:
        """A signer for ``party``'s development key."""
        return HttpSigner(load_party(self.keys_dir, party), ttl=60)

    def client(self, party: str = "province-app", *, verify: bool = True) -> httpx.Client:
        """An HTTP client signing as ``party`` and verifying the adapter's response signatures."""
        auth = HttpSignatureAuth(
            self.signer(party),
            verifier=self._verifier if verify else None,
            expected_keyid="adapter" if verify else None,
        )
        return httpx.Client(base_url=self.base_url, auth=auth, timeout=30)

    def admin(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """A call to the mock's ``/_admin`` routes."""
        response = httpx.request(method, self.mock_url + path, timeout=10, **kwargs)
        response.raise_for_status()
        return response

    def citizens(self, limit: int = 5) -> list[dict[str, Any]]:
        """Citizens the population mock knows."""
        data = self.admin("GET", f"/_admin/population/citizens?limit={limit}").json()
        return list(data["citizens"])

    def businesses(self, limit: int = 5) -> list[dict[str, Any]]:
        """Businesses the registry mock knows."""
        data = self.admin("GET", f"/_admin/registry/businesses?limit={limit}").json()
        return list(data["businesses"])

    def set_faults(self, upstream: str, **faults: Any) -> None:
        """Inject faults into one mock upstream (``latency_ms``, ``outage`` …)."""
        self.admin("PUT", f"/_admin/faults/{upstream}", json=faults)

    def clear_faults(self) -> None:
        """No faults anywhere."""
        self.admin("DELETE", "/_admin/faults")


def new_dossier_code(received_on: dt.date | None = None) -> str:
    """A fresh dossier code (unique within the test session)."""
    day = received_on or dt.date(2026, 11, 26)
    return make_dossier_code(AGENCY, day, next(_serials) % 9_999 + 1)


def dossier_body(
    code: str,
    *,
    sector: str = "TP.HT",
    status: int = 1,
    procedure: str = "1.001193",
    applicant_id: str = "001085000123",
    persons: Sequence[str] = (),
) -> dict[str, Any]:
    """A valid ``PUT /v1/dossiers/{code}`` body whose receipt date matches the code.

    ``persons`` are citizen IDs listed as related persons (role ``other``): lookups of them
    for this dossier pass purpose binding.
    """
    from schemas.dossier_code import parse_dossier_code

    received_on = parse_dossier_code(code).received_on
    received = dt.datetime.combine(received_on, dt.time(8, 30), tzinfo=VN_TZ)
    return {
        "procedure_code": procedure,
        "agency_code": AGENCY,
        "sector_code": sector,
        "applicant_name": "Nguyễn Văn An",
        "applicant_id": applicant_id,
        "status": status,
        "received_at": received.isoformat(),
        "updated_at": received.isoformat(),
        "title": "Đăng ký khai sinh",
        "related_persons": [{"citizen_id": person, "role": "other"} for person in persons],
    }


def register_dossier(
    client: httpx.Client, *, sector: str = "TP.HT", persons: Sequence[str] = ()
) -> str:
    """Register a new dossier through the API (listing ``persons``) and return its code."""
    code = new_dossier_code()
    body = dossier_body(code, sector=sector, persons=persons)
    response = client.put(f"/v1/dossiers/{code}", json=body)
    assert response.status_code == 201, response.text
    return code


@contextmanager
def running_sandbox(
    root: Path,
    keys_dir: Path,
    *,
    database_url: str | None = None,
    fast_paths: bool = True,
    **overrides: Any,
) -> Iterator[Sandbox]:
    """The adapter (sandbox mode) on a free port, its mocks on another, until the block ends.

    ``fast_paths=False``: every request takes the routes' declared parameters
    (``adapter_api.routes.fast_path.without_fast_paths``), for the parity tests."""
    settings = Settings(
        sandbox=True,
        keys_dir=keys_dir,
        data_dir=root / "data",
        database_url=database_url,
        port=free_port(),
        mock_port=free_port(),
        **overrides,
    )
    prepare(settings)
    container = build_container(settings)
    app = create_app(container)
    if not fast_paths:
        without_fast_paths(app)
    with serve_app(app, port=settings.port, startup_seconds=30) as base_url:
        yield Sandbox(base_url, settings, container, keys_dir)


__all__ = [
    "AGENCY",
    "OFFICIAL",
    "Sandbox",
    "dossier_body",
    "new_dossier_code",
    "register_dossier",
    "running_sandbox",
]
