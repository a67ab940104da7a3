"""X-Road 4.0 SOAP header elements ⇄ XRoadHeader, against the wire samples and the XSD."""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

from schemas.errors import InvalidWireRecord
from schemas.files import XROAD_ID_NS, XROAD_NS, message_schema
from schemas.wire import xroad

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "wire"
SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"

EXPECTED = xroad.XRoadHeader(
    client=xroad.XRoadClient(member_code="000.00.04.H04", subsystem_code="motcua"),
    service=xroad.XRoadService(
        member_code="BCA",
        service_code="GetCitizen",
        subsystem_code="csdlqgdc",
        service_version="v1",
    ),
    message_id="0b6f3e4c-5a2d-4f1e-9c8b-7d6a5e4f3c2b",
    user_id="VN079085004321",
    issue="000.00.04.H04-261126-0007",
)


def _header(name: str) -> etree._Element:
    parser = etree.XMLParser(remove_blank_text=True)
    header = etree.parse(str(FIXTURES / name), parser).getroot().find(f"{{{SOAP_ENV}}}Header")
    assert header is not None
    return header


def _c14n(element: etree._Element) -> bytes:
    return etree.tostring(element, method="c14n", exclusive=True)


def test_request_sample_both_ways() -> None:
    """The sample request header reads to the expected value and is rebuilt identically."""
    header = _header("population_get_citizen_request.xml")
    assert xroad.read_header(header) == EXPECTED
    built = xroad.build_header_elements(EXPECTED)
    assert [_c14n(e) for e in built] == [_c14n(e) for e in header]


def test_response_echoes_and_hashes_the_request_bytes() -> None:
    """The sample response header is the request's, plus the SHA-256 of the request file's bytes."""
    request_bytes = (FIXTURES / "population_get_citizen_request.xml").read_bytes()
    header = _header("population_get_citizen_response.xml")
    read = xroad.read_header(header, response=True)
    assert read == EXPECTED.response(request_bytes)
    assert read.request_hash == xroad.request_hash(request_bytes)
    assert [_c14n(e) for e in xroad.build_header_elements(read)] == [_c14n(e) for e in header]


def test_built_elements_are_schema_valid() -> None:
    """Every built header element validates, for a member client without subsystem too."""
    header = xroad.XRoadHeader(
        client=xroad.XRoadClient(member_code="000.00.04.H04"),
        service=xroad.XRoadService(member_code="BCA", service_code="VerifyCitizen"),
        message_id="m",
        user_id=xroad.user_id_for("079085004321"),
        issue="000.00.04.H04-261126-0007",
    ).response(b"<request/>")
    schema = message_schema()
    elements = xroad.build_header_elements(header)
    assert elements[0].get(xroad.OBJECT_TYPE) == "MEMBER"
    for element in elements:
        assert schema.validate(element), schema.error_log


def test_other_header_entries_are_ignored() -> None:
    """A wsse:Security element beside the X-Road elements does not disturb reading."""
    header = _header("population_get_citizen_request.xml")
    etree.SubElement(
        header,
        "{http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd}Security",
    )
    assert xroad.read_header(header) == EXPECTED


def test_comments_are_not_elements() -> None:
    """Comments among the header entries and inside an identifier are skipped, not refused."""
    header = _header("population_get_citizen_request.xml")
    header.insert(0, etree.Comment(" routed by the provincial bus "))
    header[1].insert(0, etree.Comment(" client "))
    assert xroad.read_header(header) == EXPECTED


def test_missing_elements_are_listed() -> None:
    """Each missing element is named; a request header is not a response header."""
    header = _header("population_get_citizen_request.xml")
    for name in ("userId", "issue"):
        found = header.find(f"{{{XROAD_NS}}}{name}")
        assert found is not None
        header.remove(found)
    with pytest.raises(InvalidWireRecord) as caught:
        xroad.read_header(header)
    assert caught.value.problems == ("userId: missing", "issue: missing")
    with pytest.raises(InvalidWireRecord, match="requestHash: missing"):
        xroad.read_header(_header("population_get_citizen_request.xml"), response=True)


def _mutated(change: str) -> etree._Element:
    header = _header("population_get_citizen_response.xml")
    if change == "object type":
        header[0].set(f"{{{XROAD_ID_NS}}}objectType", "SERVICE")
    elif change == "repeat":
        header.append(etree.fromstring(etree.tostring(header[2])))
    elif change == "protocol":
        header[5].text = "3.1"
    elif change == "empty id":
        header[2].text = " "
    elif change == "algorithm":
        header[6].set("algorithmId", "http://www.w3.org/2000/09/xmldsig#sha1")
    elif change == "no member code":
        header[1].remove(header[1][2])
    elif change == "no service code":
        header[1].remove(header[1][4])
    elif change == "foreign identifier":
        etree.SubElement(header[0], "{urn:example:other}memberCode").text = "X"
    elif change == "repeated identifier":
        header[0].append(etree.fromstring(etree.tostring(header[0][2])))
    return header


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ("object type", "client objectType"),
        ("repeat", "repeats id"),
        ("protocol", "protocolVersion must be 4.x"),
        ("empty id", "id is empty"),
        ("algorithm", "SHA-256"),
        ("no member code", "service lacks memberCode"),
        ("no service code", "serviceCode"),
        ("foreign identifier", "client has an unexpected or repeated element"),
        ("repeated identifier", "client has an unexpected or repeated element"),
    ],
)
def test_malformed_headers_are_refused(change: str, reason: str) -> None:
    """Wrong objectType, repeats, old protocol, empty id, SHA-1 or missing codes are refused."""
    with pytest.raises(InvalidWireRecord, match=reason):
        xroad.read_header(_mutated(change), response=True)
