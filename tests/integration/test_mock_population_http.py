"""The population mock over real HTTP: zeep from the served WSDL, xmlsec1, faults, signatures."""

from __future__ import annotations

import base64
import hashlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import zeep
from lxml import etree
from zeep.plugins import Plugin

from mock_endpoints import MockSettings, create_mock_app
from mock_endpoints.app import MockState
from schemas.wire.population import FaultCode, read_fault_detail
from schemas.wire.xroad import build_header_elements
from security.keys import Credentials, load_party
from security.trust import TrustStore
from security.wsse import sign_envelope, verify_envelope
from tests.support import mock_clients
from tests.support.security_samples import run_xmlsec1, xmlsec1_id_args
from tests.support.servers import serve_app

SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
XRD = "http://x-road.eu/xsd/xroad.xsd"
UNKNOWN_ID = "001090999999"


class SigningPlugin(Plugin):  # type: ignore[misc]
    """Signs each outgoing envelope with WS-Security (zeep only binds the WSDL)."""

    def __init__(self, credentials: Credentials) -> None:
        self.credentials = credentials

    def egress(
        self, envelope: etree._Element, http_headers: dict[str, str], operation: Any, options: Any
    ) -> tuple[etree._Element, dict[str, str]]:
        return etree.fromstring(sign_envelope(envelope, self.credentials)), http_headers


class RecordingTransport(zeep.Transport):  # type: ignore[misc]
    """Keeps the bytes of the last request sent and the last response received."""

    sent: bytes = b""
    received: bytes = b""

    def post(self, address: str, message: bytes, headers: dict[str, str]) -> Any:
        self.sent = message
        response = super().post(address, message, headers)
        self.received = response.content
        return response


@pytest.fixture(scope="module")
def mock(dev_keys: Path) -> Iterator[tuple[str, MockState]]:
    app = create_mock_app(MockSettings(keys_dir=dev_keys, seed=9, citizens=40, businesses=5))
    with serve_app(app) as base:
        yield base, app.state.mock


@pytest.fixture(autouse=True)
def _no_faults(mock: tuple[str, MockState]) -> Iterator[None]:
    yield
    mock[1].faults.replace_all({})


@pytest.fixture(scope="module")
def trust(dev_keys: Path) -> TrustStore:
    return TrustStore.from_pem_file(dev_keys / "ca" / "cert.pem")


@pytest.fixture(scope="module")
def adapter(dev_keys: Path) -> Credentials:
    return load_party(dev_keys, "adapter")


@pytest.fixture(scope="module")
def transport() -> RecordingTransport:
    return RecordingTransport()


@pytest.fixture(scope="module")
def client(
    mock: tuple[str, MockState], adapter: Credentials, transport: RecordingTransport
) -> zeep.Client:
    return zeep.Client(
        f"{mock[0]}/population/soap?wsdl", plugins=[SigningPlugin(adapter)], transport=transport
    )


def _headers(operation: str) -> list[etree._Element]:
    return build_header_elements(mock_clients.xroad_header(operation))


def _post(base: str, data: bytes, operation: str = "GetCitizen", **kwargs: Any) -> httpx.Response:
    return httpx.post(
        f"{base}/population/soap",
        content=data,
        headers=mock_clients.soap_headers(operation),
        **kwargs,
    )


def _fault(response: httpx.Response) -> tuple[str, FaultCode]:
    root = etree.fromstring(response.content)
    fault = root.find(f"{{{SOAP}}}Body/{{{SOAP}}}Fault")
    assert fault is not None
    detail = fault.find("detail")
    assert detail is not None
    return fault.findtext("faultcode") or "", read_fault_detail(detail[0])


def test_zeep_client_from_the_served_wsdl_gets_a_citizen(
    client: zeep.Client,
    transport: RecordingTransport,
    mock: tuple[str, MockState],
    trust: TrustStore,
) -> None:
    """zeep, bound from ?wsdl, calls GetCitizen; the answer is signed and hashes our request."""
    citizen = mock[1].records.citizens(1)[0].record
    result = client.service.GetCitizen(
        citizenId=citizen.citizen_id, _soapheaders=_headers("GetCitizen")
    )
    assert result.body.citizen.fullName == citizen.full_name
    assert result.body.citizen.dateOfBirth == citizen.date_of_birth
    assert result.header.userId == f"VN{mock_clients.OFFICIAL_ID}"
    verified = verify_envelope(transport.received, trust, expected_party="population")
    expected_hash = base64.b64encode(hashlib.sha256(transport.sent).digest()).decode()
    assert verified.header.findtext(f"{{{XRD}}}requestHash") == expected_hash


def test_zeep_verify_citizen_answers_a_boolean(
    client: zeep.Client, mock: tuple[str, MockState]
) -> None:
    """VerifyCitizen through zeep: the right triple matches, a wrong name does not."""
    citizen = mock[1].records.citizens(2)[1].record
    ok = client.service.VerifyCitizen(
        citizenId=citizen.citizen_id,
        fullName=citizen.full_name,
        dateOfBirth=citizen.date_of_birth,
        _soapheaders=_headers("VerifyCitizen"),
    )
    wrong = client.service.VerifyCitizen(
        citizenId=citizen.citizen_id,
        fullName="Nguyễn Văn Không",
        dateOfBirth=citizen.date_of_birth,
        _soapheaders=_headers("VerifyCitizen"),
    )
    assert ok.body.match is True
    assert wrong.body.match is False


def test_zeep_sees_a_soap_fault_for_an_unknown_citizen(client: zeep.Client) -> None:
    """An unknown ID raises zeep's Fault: soapenv:Client with detail code CITIZEN_NOT_FOUND."""
    with pytest.raises(zeep.exceptions.Fault) as caught:
        client.service.GetCitizen(citizenId=UNKNOWN_ID, _soapheaders=_headers("GetCitizen"))
    assert caught.value.code == "soapenv:Client"
    assert read_fault_detail(caught.value.detail[0]) is FaultCode.CITIZEN_NOT_FOUND


@pytest.mark.xmlsec1
def test_xmlsec1_verifies_the_signed_response(
    xmlsec1: str,
    mock: tuple[str, MockState],
    adapter: Credentials,
    dev_keys: Path,
    tmp_path: Path,
) -> None:
    """`xmlsec1 --verify` accepts the mock's signed response, and refuses it tampered."""
    citizen = mock[1].records.citizens(1)[0].record
    response = _post(mock[0], mock_clients.get_citizen(citizen.citizen_id, adapter))
    assert response.status_code == 200
    args = [*xmlsec1_id_args(), "--id-attr:Id", f"{XRD}:requestHash"]
    cert = str(dev_keys / "population" / "cert.pem")

    def verdict(data: bytes) -> int:
        document = tmp_path / "response.xml"
        document.write_bytes(data)
        return run_xmlsec1(
            xmlsec1, "--verify", "--pubkey-cert-pem", cert, *args, str(document)
        ).returncode

    assert verdict(response.content) == 0
    name = citizen.full_name.encode()
    tampered = response.content.replace(name, name.upper())
    assert tampered != response.content
    assert verdict(tampered) != 0


def test_unsigned_request_over_http_is_refused(mock: tuple[str, MockState]) -> None:
    """An unsigned POST gets HTTP 500 soapenv:Client BAD_SIGNATURE."""
    citizen = mock[1].records.citizens(1)[0].record
    response = _post(mock[0], mock_clients.get_citizen(citizen.citizen_id, None))
    assert response.status_code == 500
    assert _fault(response) == ("soapenv:Client", FaultCode.BAD_SIGNATURE)
    assert citizen.full_name.encode() not in response.content


def test_outage_answers_unavailable(mock: tuple[str, MockState], adapter: Credentials) -> None:
    """With the population upstream in outage, every call gets soapenv:Server UNAVAILABLE."""
    from mock_endpoints.faults import UpstreamFaults

    mock[1].faults.set("population", UpstreamFaults(outage=True))
    citizen = mock[1].records.citizens(1)[0].record
    response = _post(mock[0], mock_clients.get_citizen(citizen.citizen_id, adapter))
    assert response.status_code == 500
    assert _fault(response) == ("soapenv:Server", FaultCode.UNAVAILABLE)


def test_error_rate_set_through_the_admin_route(
    mock: tuple[str, MockState], adapter: Credentials, trust: TrustStore
) -> None:
    """``PUT /_admin/faults`` with error_rate 1 makes every call UNAVAILABLE, still signed."""
    base = mock[0]
    put = httpx.put(f"{base}/_admin/faults", json={"population": {"error_rate": 1}})
    assert put.status_code == 200
    citizen = mock[1].records.citizens(1)[0].record
    response = _post(base, mock_clients.get_citizen(citizen.citizen_id, adapter))
    assert _fault(response)[1] is FaultCode.UNAVAILABLE
    assert verify_envelope(response.content, trust).party == "population"
    assert httpx.get(f"{base}/_admin/faults").json()["counters"]["population"]["unavailable"] >= 1


def test_latency_delays_the_answer(mock: tuple[str, MockState], adapter: Credentials) -> None:
    """latency_ms=300 makes the call take at least 0.3 s (a lower bound only)."""
    from mock_endpoints.faults import UpstreamFaults

    mock[1].faults.set("population", UpstreamFaults(latency_ms=300))
    citizen = mock[1].records.citizens(1)[0].record
    started = time.monotonic()
    response = _post(mock[0], mock_clients.get_citizen(citizen.citizen_id, adapter))
    assert response.status_code == 200
    assert time.monotonic() - started >= 0.3


def test_dropped_response_times_the_client_out(
    mock: tuple[str, MockState], adapter: Credentials
) -> None:
    """drop_after_commit: the call is handled but no answer comes before the client's timeout."""
    from mock_endpoints.faults import UpstreamFaults

    mock[1].faults.set("population", UpstreamFaults(drop_after_commit=1.0, drop_count=1))
    citizen = mock[1].records.citizens(1)[0].record
    request = mock_clients.get_citizen(citizen.citizen_id, adapter)
    with pytest.raises(httpx.ReadTimeout):
        _post(mock[0], request, timeout=0.5)
    assert mock[1].faults.counters()["population"]["dropped"] == 1
    assert _post(mock[0], request).status_code == 200  # the budget of one drop is spent


def test_moving_a_citizen_shows_in_the_next_lookup(
    client: zeep.Client, mock: tuple[str, MockState]
) -> None:
    """``PATCH /_admin/population/citizens/{id}`` changes what GetCitizen answers."""
    citizen = mock[1].records.citizens(3)[2].record
    patch = httpx.patch(
        f"{mock[0]}/_admin/population/citizens/{citizen.citizen_id}",
        json={"permanent_address": "Số 1 đường Lê Lợi, Phường Bến Nghé, Thành phố Hồ Chí Minh"},
    )
    assert patch.status_code == 200
    assert patch.json()["version"] == 2
    result = client.service.GetCitizen(
        citizenId=citizen.citizen_id, _soapheaders=_headers("GetCitizen")
    )
    assert result.body.citizen.permanentAddress.startswith("Số 1 đường Lê Lợi")


def test_wsdl_is_served_with_this_servers_address(mock: tuple[str, MockState]) -> None:
    """``GET ?wsdl`` answers the WSDL whose soap:address is this server's endpoint."""
    response = httpx.get(f"{mock[0]}/population/soap?wsdl")
    assert response.status_code == 200
    root = etree.fromstring(response.content)
    addresses = root.findall(".//{http://schemas.xmlsoap.org/wsdl/soap/}address")
    assert [a.get("location") for a in addresses] == [f"{mock[0]}/population/soap"]
