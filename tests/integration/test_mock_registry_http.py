"""The business registry mock over real HTTP: OAuth2 tokens, detail, errors, signatures, faults."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from mock_endpoints import MockSettings, create_mock_app
from mock_endpoints.app import MockState
from mock_endpoints.faults import UpstreamFaults
from schemas.models import BusinessStatus
from schemas.tax_code import make_tax_code
from schemas.wire.registry import business_from_registry
from tests.support.mock_clients import SignedClient
from tests.support.servers import serve_app

FORM = {"content-type": "application/x-www-form-urlencoded"}
CREDENTIALS = (
    b"grant_type=client_credentials&client_id=lienthong-sandbox&client_secret=sandbox-secret"
)
DETAIL = "/registry/apiCSDLDKDN/1.0/chiTietDoanhNghiep"


@pytest.fixture(scope="module")
def mock(dev_keys: Path) -> Iterator[tuple[str, MockState]]:
    settings = MockSettings(keys_dir=dev_keys, seed=3, citizens=30, businesses=12, token_ttl=1.0)
    app = create_mock_app(settings)
    with serve_app(app) as base:
        yield base, app.state.mock


@pytest.fixture
def client(mock: tuple[str, MockState], dev_keys: Path) -> Iterator[SignedClient]:
    with SignedClient(mock[0], dev_keys) as signed:
        yield signed
    mock[1].faults.replace_all({})


def _token(client: SignedClient) -> str:
    response = client.send("POST", "/registry/token", body=CREDENTIALS, headers=FORM)
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


def _detail(client: SignedClient, tax_code: str, token: str, **kwargs: object) -> httpx.Response:
    return client.send(
        "GET",
        f"{DETAIL}?maSoDoanhNghiep={tax_code}",
        headers={"authorization": f"Bearer {token}"},
        **kwargs,  # type: ignore[arg-type]
    )


def _unknown_tax_code(mock: MockState) -> str:
    held = {b.record.tax_code for b in mock.records.businesses(None)}
    for serial in range(10_000, 99_999):
        try:
            code = make_tax_code(f"0109{serial:05d}")
        except ValueError:
            continue
        if code not in held:
            return code
    raise AssertionError("no free tax code")


def test_token_then_detail_answers_the_business_signed(
    client: SignedClient, mock: tuple[str, MockState]
) -> None:
    """A client-credentials token opens the detail call; the answer is registry-signed JSON."""
    business = mock[1].records.businesses(1)[0].record
    token_response = client.send("POST", "/registry/token", body=CREDENTIALS, headers=FORM)
    assert token_response.json()["token_type"] == "Bearer"
    assert token_response.json()["expires_in"] == 1
    assert client.check(token_response, "registry") == "registry"
    response = _detail(client, business.tax_code, token_response.json()["access_token"])
    assert response.status_code == 200
    assert client.check(response, "registry") == "registry"
    data = response.json()["Data"]
    assert data["MainInformation"]["MaSoDoanhNghiep"] == business.tax_code
    assert data["Representatives"][0]["SoGiayTo"] == business.representatives[0].citizen_id
    assert business_from_registry(response.json()) == business


def test_http_basic_client_authentication_works(client: SignedClient) -> None:
    """client_id/secret may come as HTTP Basic; a wrong secret is 401 invalid_client."""
    good = base64.b64encode(b"lienthong-sandbox:sandbox-secret").decode()
    bad = base64.b64encode(b"lienthong-sandbox:wrong").decode()
    body = b"grant_type=client_credentials"
    ok = client.send(
        "POST", "/registry/token", body=body, headers={**FORM, "authorization": f"Basic {good}"}
    )
    refused = client.send(
        "POST", "/registry/token", body=body, headers={**FORM, "authorization": f"Basic {bad}"}
    )
    assert ok.status_code == 200
    assert refused.status_code == 401
    assert refused.json()["error"] == "invalid_client"
    assert "basic" in refused.headers["www-authenticate"].lower()


def test_other_grant_types_are_refused(client: SignedClient) -> None:
    """grant_type=password answers 400 unsupported_grant_type, in OAuth2's error form."""
    response = client.send("POST", "/registry/token", body=b"grant_type=password", headers=FORM)
    assert response.status_code == 400
    assert response.json()["error"] == "unsupported_grant_type"


def test_tokens_expire(client: SignedClient, mock: tuple[str, MockState]) -> None:
    """A token stops working after its lifetime (1 s here): 401 INVALID_TOKEN."""
    business = mock[1].records.businesses(1)[0].record
    token = _token(client)
    assert _detail(client, business.tax_code, token).status_code == 200
    time.sleep(1.1)
    expired = _detail(client, business.tax_code, token)
    assert expired.status_code == 401
    assert expired.json()["Code"] == "INVALID_TOKEN"
    assert "invalid_token" in expired.headers["www-authenticate"]


def test_missing_token_is_refused(client: SignedClient, mock: tuple[str, MockState]) -> None:
    """The detail call without a bearer token answers 401 INVALID_TOKEN."""
    business = mock[1].records.businesses(1)[0].record
    response = client.send("GET", f"{DETAIL}?maSoDoanhNghiep={business.tax_code}")
    assert response.status_code == 401
    assert response.json()["Code"] == "INVALID_TOKEN"


def test_unknown_and_invalid_tax_codes(client: SignedClient, mock: tuple[str, MockState]) -> None:
    """A valid but unknown code is 404 NOT_FOUND; a bad check digit 400 INVALID_TAX_CODE."""
    token = _token(client)
    unknown = _detail(client, _unknown_tax_code(mock[1]), token)
    assert unknown.status_code == 404
    assert unknown.json()["Code"] == "NOT_FOUND"
    assert client.check(unknown, "registry") == "registry"
    business = mock[1].records.businesses(1)[0].record
    wrong_digit = business.tax_code[:9] + str((int(business.tax_code[9]) + 1) % 10)
    invalid = _detail(client, wrong_digit, token)
    assert invalid.status_code == 400
    assert invalid.json()["Code"] == "INVALID_TAX_CODE"
    missing = client.send("GET", DETAIL, headers={"authorization": f"Bearer {token}"})
    assert missing.json()["Code"] == "INVALID_REQUEST"


def test_unsigned_and_replayed_requests_are_refused(
    client: SignedClient, mock: tuple[str, MockState]
) -> None:
    """No signature, or a signature sent a second time, is 401 BAD_SIGNATURE (signed answer)."""
    business = mock[1].records.businesses(1)[0].record
    token = _token(client)
    unsigned = _detail(client, business.tax_code, token, sign=False)
    assert unsigned.status_code == 401
    assert unsigned.json()["Code"] == "BAD_SIGNATURE"
    assert client.check(unsigned, "registry") == "registry"
    first = _detail(client, business.tax_code, token)
    sent: httpx.Request = first.extensions["lienthong_request"]
    replay = client.http.send(client.http.build_request("GET", sent.url, headers=sent.headers))
    assert replay.status_code == 401
    assert "replayed_nonce" in replay.json()["Message"]


def test_dissolving_a_business_shows_in_the_registry(
    client: SignedClient, mock: tuple[str, MockState]
) -> None:
    """``PATCH /_admin/registry/businesses/{code}`` to dissolved changes the legal status text."""
    business = mock[1].records.businesses(2)[1].record
    patch = httpx.patch(
        f"{mock[0]}/_admin/registry/businesses/{business.tax_code}", json={"status": "dissolved"}
    )
    assert patch.status_code == 200
    response = _detail(client, business.tax_code, _token(client))
    assert response.json()["Data"]["MainInformation"]["TinhTrangPhapLy"] == "Đã giải thể"
    assert business_from_registry(response.json()).status is BusinessStatus.DISSOLVED


def test_outage_and_error_rate_answer_503(
    client: SignedClient, mock: tuple[str, MockState]
) -> None:
    """Outage and a full error rate answer 503 UNAVAILABLE, signed, with Retry-After."""
    business = mock[1].records.businesses(1)[0].record
    token = _token(client)
    for faults in (UpstreamFaults(outage=True), UpstreamFaults(error_rate=1.0)):
        mock[1].faults.set("registry", faults)
        response = _detail(client, business.tax_code, token)
        assert response.status_code == 503
        assert response.json()["Code"] == "UNAVAILABLE"
        assert response.headers["retry-after"] == "1"
        assert client.check(response, "registry") == "registry"


def test_dropped_detail_times_out_and_the_token_call_is_never_dropped(
    client: SignedClient, mock: tuple[str, MockState]
) -> None:
    """drop_after_commit withholds detail answers (client timeout) but never token answers."""
    business = mock[1].records.businesses(1)[0].record
    mock[1].faults.set("registry", UpstreamFaults(drop_after_commit=1.0))
    token = _token(client)
    with pytest.raises(httpx.ReadTimeout):
        _detail(client, business.tax_code, token, timeout=0.5)


def test_latency_is_added(client: SignedClient, mock: tuple[str, MockState]) -> None:
    """latency_ms=250 delays the answer by at least 0.25 s."""
    mock[1].faults.set("registry", UpstreamFaults(latency_ms=250))
    started = time.monotonic()
    assert client.send("POST", "/registry/token", body=CREDENTIALS, headers=FORM).status_code == 200
    assert time.monotonic() - started >= 0.25
