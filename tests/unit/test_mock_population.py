"""The population mock's SOAP handling, in-process: answers, faults, signatures, requestHash."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import pytest
from lxml import etree

from mock_endpoints.data import SyntheticData
from mock_endpoints.faults import FaultPlan
from mock_endpoints.population import PopulationService, normalise_name
from mock_endpoints.records import MockRecords
from schemas.wire.population import (
    FaultCode,
    read_fault_detail,
    read_get_citizen_response,
    read_verify_citizen_response,
)
from security.keys import Credentials, load_party
from security.trust import TrustStore
from security.wsse import verify_envelope
from tests.support import mock_clients

SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
XRD = "http://x-road.eu/xsd/xroad.xsd"


@pytest.fixture(scope="module")
def trust(dev_keys: Path) -> TrustStore:
    return TrustStore.from_pem_file(dev_keys / "ca" / "cert.pem")


@pytest.fixture(scope="module")
def adapter(dev_keys: Path) -> Credentials:
    return load_party(dev_keys, "adapter")


@pytest.fixture(scope="module")
def records() -> MockRecords:
    return MockRecords(SyntheticData(5, 30, 0))


@pytest.fixture(scope="module")
def service(dev_keys: Path, trust: TrustStore, records: MockRecords) -> PopulationService:
    return PopulationService(records, load_party(dev_keys, "population"), trust, FaultPlan())


def _fault_code(body: bytes) -> tuple[str, FaultCode, str]:
    root = etree.fromstring(body)
    fault = root.find(f"{{{SOAP}}}Body/{{{SOAP}}}Fault")
    assert fault is not None
    detail = fault.find("detail")
    assert detail is not None
    return (
        fault.findtext("faultcode") or "",
        read_fault_detail(detail[0]),
        (fault.findtext("faultstring") or ""),
    )


def test_get_citizen_answers_the_record_signed(
    service: PopulationService, adapter: Credentials, trust: TrustStore, records: MockRecords
) -> None:
    """A signed GetCitizen gets the citizen, signed by the population party."""
    citizen = records.citizens(1)[0].record
    response = service.answer(mock_clients.get_citizen(citizen.citizen_id, adapter))
    assert response.status_code == 200
    verified = verify_envelope(bytes(response.body), trust, expected_party="population")
    body = verified.body[0]
    assert read_get_citizen_response(body) == citizen


def test_response_echoes_the_header_and_hashes_the_request(
    service: PopulationService, adapter: Credentials, records: MockRecords
) -> None:
    """The X-Road header comes back as sent, plus requestHash = base64 SHA-256 of the request."""
    request = mock_clients.get_citizen(records.citizens(1)[0].record.citizen_id, adapter)
    response = etree.fromstring(bytes(service.answer(request).body))
    sent = etree.fromstring(request)
    header = response.find(f"{{{SOAP}}}Header")
    assert header is not None
    for name in ("id", "userId", "issue", "protocolVersion"):
        assert header.findtext(f"{{{XRD}}}{name}") == sent.findtext(
            f"{{{SOAP}}}Header/{{{XRD}}}{name}"
        )
    expected = base64.b64encode(hashlib.sha256(request).digest()).decode()
    assert header.findtext(f"{{{XRD}}}requestHash") == expected


def test_unknown_citizen_is_a_client_fault(
    service: PopulationService, adapter: Credentials
) -> None:
    """An ID nobody has gets soapenv:Client CITIZEN_NOT_FOUND, HTTP 500, without the ID."""
    response = service.answer(mock_clients.get_citizen("001090999999", adapter))
    faultcode, code, faultstring = _fault_code(bytes(response.body))
    assert response.status_code == 500
    assert (faultcode, code) == ("soapenv:Client", FaultCode.CITIZEN_NOT_FOUND)
    assert "001090999999" not in faultstring


@pytest.mark.parametrize("citizen_id", ["12345", "999090000001", "00109000000x"])
def test_invalid_citizen_id_is_a_client_fault(
    service: PopulationService, adapter: Credentials, citizen_id: str
) -> None:
    """A short ID, an unknown region code or a letter gets INVALID_CITIZEN_ID."""
    response = service.answer(mock_clients.get_citizen(citizen_id, adapter))
    assert _fault_code(bytes(response.body))[1] is FaultCode.INVALID_CITIZEN_ID


def test_unsigned_request_is_refused(service: PopulationService, records: MockRecords) -> None:
    """An unsigned request gets BAD_SIGNATURE and no personal data."""
    citizen = records.citizens(1)[0].record
    response = service.answer(mock_clients.get_citizen(citizen.citizen_id, None))
    faultcode, code, faultstring = _fault_code(bytes(response.body))
    assert (faultcode, code) == ("soapenv:Client", FaultCode.BAD_SIGNATURE)
    assert citizen.full_name not in bytes(response.body).decode()
    assert "missing_signature" in faultstring


def test_tampered_request_is_refused(
    service: PopulationService, adapter: Credentials, records: MockRecords
) -> None:
    """A signed request changed after signing gets BAD_SIGNATURE (digest mismatch)."""
    first, second = (c.record.citizen_id for c in records.citizens(2))
    signed = mock_clients.get_citizen(first, adapter).replace(first.encode(), second.encode())
    faultstring = _fault_code(bytes(service.answer(signed).body))
    assert faultstring[1] is FaultCode.BAD_SIGNATURE
    assert "digest_mismatch" in faultstring[2]


def test_request_signed_by_an_outsider_is_refused(
    service: PopulationService, dev_keys_rsa: Path, records: MockRecords
) -> None:
    """A signature whose certificate does not chain to our CA gets BAD_SIGNATURE."""
    stranger = load_party(dev_keys_rsa, "adapter")
    request = mock_clients.get_citizen(records.citizens(1)[0].record.citizen_id, stranger)
    assert _fault_code(bytes(service.answer(request).body))[1] is FaultCode.BAD_SIGNATURE


@pytest.mark.parametrize("missing", ["userId", "issue", "client", "protocolVersion"])
def test_missing_header_field_is_a_fault(
    service: PopulationService, adapter: Credentials, records: MockRecords, missing: str
) -> None:
    """A request without one of the X-Road header fields gets MISSING_HEADER naming it."""
    citizen_id = records.citizens(1)[0].record.citizen_id
    request = mock_clients.get_citizen(citizen_id, adapter, drop=(missing,))
    _, code, faultstring = _fault_code(bytes(service.answer(request).body))
    assert code is FaultCode.MISSING_HEADER
    assert missing in faultstring


def test_body_not_matching_the_schema_is_invalid_request(
    service: PopulationService, adapter: Credentials
) -> None:
    """A body element the schema does not know gets INVALID_REQUEST."""
    body = etree.Element("{urn:vn:csdlqgdc:population:1.0}DeleteCitizenRequest")
    request = mock_clients.envelope(body, "GetCitizen")
    from security.wsse import sign_envelope

    response = service.answer(sign_envelope(request, adapter))
    assert _fault_code(bytes(response.body))[1] is FaultCode.INVALID_REQUEST


def test_service_code_must_name_the_body_operation(
    service: PopulationService, adapter: Credentials, records: MockRecords
) -> None:
    """X-Road routes by serviceCode: a GetCitizen body sent to VerifyCitizen is INVALID_REQUEST."""
    from schemas.wire.population import build_get_citizen_request
    from security.wsse import sign_envelope

    citizen_id = records.citizens(1)[0].record.citizen_id
    body = build_get_citizen_request(citizen_id)
    misrouted = service.answer(sign_envelope(mock_clients.envelope(body, "VerifyCitizen"), adapter))
    _, code, faultstring = _fault_code(bytes(misrouted.body))
    assert code is FaultCode.INVALID_REQUEST
    assert "service" in faultstring
    assert citizen_id not in faultstring
    routed = service.answer(sign_envelope(mock_clients.envelope(body, "GetCitizen"), adapter))
    assert routed.status_code == 200


def test_malformed_xml_and_dtds_are_invalid_requests(service: PopulationService) -> None:
    """Broken XML and DTDs are refused as INVALID_REQUEST, and the fault is still signed."""
    for data in (b"<not-closed", b'<!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>'):
        response = service.answer(data)
        assert _fault_code(bytes(response.body))[1] is FaultCode.INVALID_REQUEST
        assert b"Signature" in bytes(response.body)


def test_verify_citizen_matches_only_the_right_triple(
    service: PopulationService, adapter: Credentials, records: MockRecords
) -> None:
    """ID + name + birth date match; a wrong birth date or unknown ID is just false."""
    citizen = records.citizens(1)[0].record

    def ask(citizen_id: str, name: str, born: object) -> bool:
        request = mock_clients.verify_citizen(citizen_id, name, born, adapter)  # type: ignore[arg-type]
        response = service.answer(request)
        assert response.status_code == 200
        body = etree.fromstring(bytes(response.body)).find(f"{{{SOAP}}}Body")
        assert body is not None
        assert len(body) == 1
        assert len(body[0]) == 1
        return read_verify_citizen_response(body[0])

    born = citizen.date_of_birth
    assert ask(citizen.citizen_id, citizen.full_name.upper(), born)
    assert not ask(citizen.citizen_id, citizen.full_name, born.replace(day=1 + born.day % 27))
    assert not ask("001090999999", citizen.full_name, born)


def test_allow_unsigned_accepts_unsigned_but_still_signs(
    dev_keys: Path, trust: TrustStore, records: MockRecords
) -> None:
    """With allow_unsigned an unsigned request is answered, and the answer is signed."""
    service = PopulationService(
        records, load_party(dev_keys, "population"), trust, FaultPlan(), allow_unsigned=True
    )
    citizen = records.citizens(1)[0].record
    response = service.answer(mock_clients.get_citizen(citizen.citizen_id, None))
    assert response.status_code == 200
    assert verify_envelope(bytes(response.body), trust).party == "population"


def test_names_compare_without_case_or_spacing() -> None:
    """Name comparison ignores case, extra spaces and Unicode normal form."""
    assert normalise_name("  NGUYỄN  văn an ") == normalise_name("Nguyễn Văn An")
    decomposed = "Nguye\u0302\u0303n"
    assert normalise_name(decomposed) == normalise_name("Nguyễn")
