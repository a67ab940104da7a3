"""The README's example files work against the mock with its default settings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from lxml import etree

from mock_endpoints.data import SyntheticData
from mock_endpoints.faults import FaultPlan
from mock_endpoints.population import PopulationService
from mock_endpoints.portal_state import PortalState
from mock_endpoints.records import MockRecords
from mock_endpoints.settings import MockSettings
from schemas.wire.population import read_get_citizen_response, read_verify_citizen_response
from security.keys import load_party
from security.trust import TrustStore
from security.wsse import sign_envelope

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "mock_endpoints" / "examples"
README = (ROOT / "mock_endpoints" / "README.md").read_text(encoding="utf-8")
BODY = "{http://schemas.xmlsoap.org/soap/envelope/}Body"


@pytest.fixture(scope="module")
def default_data() -> SyntheticData:
    settings = MockSettings(keys_dir=Path("unused"))
    return SyntheticData(settings.seed, settings.citizens, settings.businesses)


def test_readme_names_the_first_records_of_the_default_seed(default_data: SyntheticData) -> None:
    """The citizen and business the README quotes are the first of the default data."""
    citizen, business = default_data.citizens[0], default_data.businesses[0]
    assert citizen.citizen_id in README
    assert citizen.full_name in README
    assert citizen.date_of_birth.isoformat() in README
    assert business.tax_code in README


@pytest.mark.parametrize("name", ["get-citizen.xml", "verify-citizen.xml"])
def test_soap_examples_are_answered(name: str, dev_keys: Path, default_data: SyntheticData) -> None:
    """The example envelopes, signed, get an answer (the citizen; a match) — not a fault."""
    trust = TrustStore.from_pem_file(dev_keys / "ca" / "cert.pem")
    service = PopulationService(
        MockRecords(default_data), load_party(dev_keys, "population"), trust, FaultPlan()
    )
    request = sign_envelope((EXAMPLES / name).read_bytes(), load_party(dev_keys, "adapter"))
    response = service.answer(request)
    assert response.status_code == 200, bytes(response.body)[-400:]
    body = etree.fromstring(bytes(response.body)).find(BODY)
    assert body is not None
    if name == "get-citizen.xml":
        assert read_get_citizen_response(body[0]) == default_data.citizens[0]
    else:
        assert read_verify_citizen_response(body[0]) is True


def test_portal_examples_are_accepted() -> None:
    """sync.json creates its dossier and progress.json moves it to accepted."""
    state = PortalState()
    sync = json.loads((EXAMPLES / "sync.json").read_text(encoding="utf-8"))
    progress = json.loads((EXAMPLES / "progress.json").read_text(encoding="utf-8"))
    assert sync["service"] == "DongBoHoSoMC"
    assert state.sync_dossiers(sync["data"], is_updating=False)[0]["error_code"] == "0"
    assert state.update_progress(progress["data"])[0]["error_code"] == "0"
    held = state.held(sync["data"][0]["MaHoSo"])
    assert held is not None
    assert held["status"] == 2


def test_token_form_uses_the_sandbox_client() -> None:
    """token.form carries the sandbox client credentials of MockSettings."""
    form = (EXAMPLES / "token.form").read_text()
    for client_id, secret in MockSettings(keys_dir=Path("unused")).registry_clients.items():
        assert f"client_id={client_id}" in form
        assert f"client_secret={secret}" in form
