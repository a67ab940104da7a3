"""Population SOAP bodies ⇄ canonical values, against the wire samples, the XSD and zeep."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
import zeep
from hypothesis import given
from lxml import etree

from schemas.errors import InvalidWireRecord
from schemas.files import POPULATION_NS, POPULATION_WSDL, message_schema
from schemas.models import Citizen
from schemas.wire import population as wire
from tests.support.schemas_strategies import citizens

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "wire"
SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
CITIZEN_ID = "001190123456"
ID = f"<pop:citizenId>{CITIZEN_ID}</pop:citizenId>"


def _body_child(name: str) -> etree._Element:
    envelope = etree.parse(str(FIXTURES / name), etree.XMLParser(remove_blank_text=True)).getroot()
    body = envelope.find(f"{{{SOAP_ENV}}}Body")
    assert body is not None
    return body[0]


def _c14n(element: etree._Element) -> bytes:
    return etree.tostring(element, method="c14n", exclusive=True)


def _shape(element: etree._Element) -> tuple[object, ...]:
    """Tag, attributes, text and children, prefixes aside."""
    children = tuple(_shape(child) for child in element)
    text = (element.text or "").strip()
    attributes = {str(k): str(v) for k, v in element.attrib.items()}
    return (element.tag, attributes, text, children)


def _el(inner: str, root: str) -> etree._Element:
    return etree.fromstring(f'<pop:{root} xmlns:pop="{POPULATION_NS}">{inner}</pop:{root}>')


def test_get_citizen_request_sample_both_ways() -> None:
    """The sample request reads to its citizen ID and is rebuilt identically."""
    element = _body_child("population_get_citizen_request.xml")
    assert wire.read_get_citizen_request(element) == CITIZEN_ID
    assert _c14n(wire.build_get_citizen_request(CITIZEN_ID)) == _c14n(element)


def test_get_citizen_response_sample_both_ways() -> None:
    """The sample response reads to a Citizen whose rebuilt element equals the sample."""
    element = _body_child("population_get_citizen_response.xml")
    person = wire.read_get_citizen_response(element)
    assert person.citizen_id == CITIZEN_ID
    assert person.date_of_birth == date(1990, 3, 14)
    assert person.ethnicity == "Kinh"
    assert _c14n(wire.build_get_citizen_response(person)) == _c14n(element)


def test_verify_citizen_samples_both_ways() -> None:
    """The VerifyCitizen samples read to the query and the answer and are rebuilt identically."""
    request = _body_child("population_verify_citizen_request.xml")
    query = wire.read_verify_citizen_request(request)
    assert query == wire.VerifyCitizenQuery(CITIZEN_ID, "Nguyễn Thị Lan", date(1990, 3, 14))
    rebuilt = wire.build_verify_citizen_request(
        query.citizen_id, query.full_name, query.date_of_birth
    )
    assert _c14n(rebuilt) == _c14n(request)
    response = _body_child("population_verify_citizen_response.xml")
    assert wire.read_verify_citizen_response(response) is True
    assert _c14n(wire.build_verify_citizen_response(True)) == _c14n(response)
    assert wire.read_verify_citizen_response(wire.build_verify_citizen_response(False)) is False


def test_fault_sample_reads_to_its_code() -> None:
    """pop:fault/pop:code reads to a FaultCode; only UNAVAILABLE is a transient Server fault."""
    envelope = etree.parse(str(FIXTURES / "population_fault.xml")).getroot()
    detail = envelope.find(f".//{{{POPULATION_NS}}}fault")
    assert detail is not None
    code = wire.read_fault_detail(detail)
    assert code is wire.FaultCode.CITIZEN_NOT_FOUND
    assert code.faultcode == "Client"
    assert {c for c in wire.FaultCode if c.transient} == {wire.FaultCode.UNAVAILABLE}
    assert wire.FaultCode.UNAVAILABLE.faultcode == "Server"
    for each in wire.FaultCode:
        assert wire.read_fault_detail(wire.build_fault_detail(each)) is each


@given(citizens())
def test_any_citizen_round_trips_through_a_schema_valid_element(person: Citizen) -> None:
    """build_get_citizen_response is XSD-valid and reads back to an equal Citizen."""
    element = wire.build_get_citizen_response(person)
    schema = message_schema()
    assert schema.validate(element), schema.error_log
    reparsed = etree.fromstring(etree.tostring(element))
    assert wire.read_get_citizen_response(reparsed) == person


def test_builders_match_what_zeep_makes_from_the_wsdl() -> None:
    """Our hand-built request bodies are the ones zeep serializes from the WSDL."""
    client = zeep.Client(wsdl=str(POPULATION_WSDL))
    headers = {"id": "x", "userId": "x", "issue": "x", "protocolVersion": "4.0"}
    made = client.create_message(
        client.service, "GetCitizen", citizenId=CITIZEN_ID, _soapheaders=headers
    )
    assert _shape(made[1][0]) == _shape(wire.build_get_citizen_request(CITIZEN_ID))
    made = client.create_message(
        client.service,
        "VerifyCitizen",
        citizenId=CITIZEN_ID,
        fullName="Nguyễn Thị Lan",
        dateOfBirth=date(1990, 3, 14),
        _soapheaders=headers,
    )
    ours = wire.build_verify_citizen_request(CITIZEN_ID, "Nguyễn Thị Lan", date(1990, 3, 14))
    assert _shape(made[1][0]) == _shape(ours)


def test_soap_actions_and_operations() -> None:
    """Each operation has its SOAPAction and its request element maps back to it."""
    assert wire.soap_action("VerifyCitizen") == f"{POPULATION_NS}#VerifyCitizen"
    assert wire.OPERATION_OF_REQUEST[wire.GET_CITIZEN_REQUEST] == "GetCitizen"
    with pytest.raises(ValueError, match="unknown"):
        wire.soap_action("DeleteCitizen")


def test_bad_citizen_id_in_a_request_is_named_not_echoed() -> None:
    """A malformed ID is refused naming citizenId, without the value."""
    with pytest.raises(InvalidWireRecord) as caught:
        wire.read_get_citizen_request(
            _el("<pop:citizenId>003190123456</pop:citizenId>", "GetCitizenRequest")
        )
    assert "citizenId" in str(caught.value)
    assert "003190123456" not in str(caught.value)


@pytest.mark.parametrize(
    ("root", "inner", "reason"),
    [
        ("GetCitizenRequest", "", "lacks citizenId"),
        ("GetCitizenRequest", "<pop:citizenId>001190123456</pop:citizenId>" * 2, "repeated"),
        ("GetCitizenRequest", "<citizenId>001190123456</citizenId>", "unexpected"),
        (
            "VerifyCitizenRequest",
            ID + "<pop:fullName> </pop:fullName><pop:dateOfBirth>1990-03-14</pop:dateOfBirth>",
            "fullName must not be empty",
        ),
        (
            "VerifyCitizenRequest",
            ID + "<pop:fullName>A</pop:fullName><pop:dateOfBirth>14/03/1990</pop:dateOfBirth>",
            "YYYY-MM-DD",
        ),
        (
            "VerifyCitizenRequest",
            ID + "<pop:fullName>A</pop:fullName><pop:dateOfBirth>1990-02-30</pop:dateOfBirth>",
            "not a real date",
        ),
        ("VerifyCitizenResponse", "<pop:match>yes</pop:match>", "xs:boolean"),
        ("fault", "<pop:code>OOPS</pop:code>", "not a known fault code"),
    ],
)
def test_malformed_bodies_are_refused(root: str, inner: str, reason: str) -> None:
    """Missing, repeated, unqualified or ill-typed children are refused naming what is wrong."""
    readers = {
        "GetCitizenRequest": wire.read_get_citizen_request,
        "VerifyCitizenRequest": wire.read_verify_citizen_request,
        "VerifyCitizenResponse": wire.read_verify_citizen_response,
        "fault": wire.read_fault_detail,
    }
    with pytest.raises(InvalidWireRecord, match=reason):
        readers[root](_el(inner, root))


def test_reader_refuses_the_wrong_element() -> None:
    """A VerifyCitizenRequest is not a GetCitizenRequest."""
    element = wire.build_verify_citizen_request(CITIZEN_ID, "A", date(1990, 1, 1))
    with pytest.raises(InvalidWireRecord, match="unexpected element"):
        wire.read_get_citizen_request(element)


def test_inconsistent_citizen_in_a_response_is_refused() -> None:
    """A response whose birth date contradicts the ID fails, listing the problem, not values."""
    element = _body_child("population_get_citizen_response.xml")
    born = element.find(f".//{{{POPULATION_NS}}}dateOfBirth")
    assert born is not None
    born.text = "1991-03-14"
    with pytest.raises(InvalidWireRecord) as caught:
        wire.read_get_citizen_response(element)
    assert any("birth year does not match" in p for p in caught.value.problems)
    assert CITIZEN_ID not in str(caught.value)


def test_missing_and_unknown_citizen_fields_are_named_by_their_wire_names() -> None:
    """A missing fullName is reported as fullName; an unknown element is refused."""
    element = _body_child("population_get_citizen_response.xml")
    record = element[0]
    full_name = record.find(f"{{{POPULATION_NS}}}fullName")
    assert full_name is not None
    record.remove(full_name)
    with pytest.raises(InvalidWireRecord) as caught:
        wire.read_get_citizen_response(element)
    assert [p.split(":")[0] for p in caught.value.problems] == ["fullName"]
    etree.SubElement(record, f"{{{POPULATION_NS}}}religion").text = "x"
    with pytest.raises(InvalidWireRecord, match="unknown elements: religion"):
        wire.read_get_citizen_response(element)
