"""The population WSDL and XSDs: they load in zeep and lxml and describe the agreed messages."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pytest
import zeep
from lxml import etree

from schemas.files import (
    POPULATION_NS,
    POPULATION_WSDL,
    POPULATION_XSD,
    XROAD_IDENTIFIERS_XSD,
    XROAD_NS,
    XROAD_XSD,
    message_schema,
    population_wsdl_document,
    xml_schema,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "wire"
SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"


def _operations(client: zeep.Client) -> dict[str, str]:
    service = next(iter(client.wsdl.services.values()))
    port = next(iter(service.ports.values()))
    return {name: op.soapaction for name, op in port.binding._operations.items()}


def test_wsdl_loads_in_zeep_from_its_folder() -> None:
    """zeep binds the WSDL file with its relative XSD imports: both operations and their actions."""
    client = zeep.Client(wsdl=str(POPULATION_WSDL))
    assert _operations(client) == {
        "GetCitizen": f"{POPULATION_NS}#GetCitizen",
        "VerifyCitizen": f"{POPULATION_NS}#VerifyCitizen",
    }
    assert client.service._binding_options["address"] == "http://127.0.0.1:8001/population/soap"


def test_served_document_is_self_contained_and_carries_the_address(tmp_path: Path) -> None:
    """population_wsdl_document loads in zeep alone in an empty folder, with the given address."""
    path = tmp_path / "population.wsdl"
    path.write_bytes(population_wsdl_document("http://127.0.0.1:9/population/soap"))
    client = zeep.Client(wsdl=str(path))
    assert client.service._binding_options["address"] == "http://127.0.0.1:9/population/soap"
    assert set(_operations(client)) == {"GetCitizen", "VerifyCitizen"}
    assert b"schemaLocation" not in path.read_bytes()


def test_zeep_request_matches_the_schemas() -> None:
    """A GetCitizen message zeep builds from the WSDL validates against our XSDs (header, body)."""
    client = zeep.Client(wsdl=str(POPULATION_WSDL))
    envelope = client.create_message(
        client.service,
        "GetCitizen",
        citizenId="001190123456",
        _soapheaders={
            "client": {
                "objectType": "SUBSYSTEM",
                "xRoadInstance": "VN",
                "memberClass": "GOV",
                "memberCode": "000.00.04.H04",
                "subsystemCode": "motcua",
            },
            "service": {
                "objectType": "SERVICE",
                "xRoadInstance": "VN",
                "memberClass": "GOV",
                "memberCode": "BCA",
                "serviceCode": "GetCitizen",
            },
            "id": "0b6f3e4c-5a2d-4f1e-9c8b-7d6a5e4f3c2b",
            "userId": "VN079085004321",
            "issue": "000.00.04.H04-261126-0007",
            "protocolVersion": "4.0",
        },
    )
    schema = message_schema()
    header, body = envelope[0], envelope[1]
    assert len(header) == 6
    for element in [*header, *body]:
        assert schema.validate(element), schema.error_log


@pytest.mark.parametrize(
    "name",
    [
        "population_get_citizen_request.xml",
        "population_get_citizen_response.xml",
        "population_verify_citizen_request.xml",
        "population_verify_citizen_response.xml",
        "population_fault.xml",
    ],
)
def test_fixtures_validate_against_the_schemas(name: str) -> None:
    """Every header element and body element of the wire samples is valid."""
    envelope = etree.parse(str(FIXTURES / name)).getroot()
    schema = message_schema()
    elements = [e for part in envelope for e in part if e.tag != f"{{{SOAP_ENV}}}Fault"]
    elements += envelope.findall(f".//{{{POPULATION_NS}}}fault")
    assert elements
    for element in elements:
        assert schema.validate(element), schema.error_log


@pytest.mark.parametrize(
    ("xml", "problem"),
    [
        (
            f'<pop:GetCitizenRequest xmlns:pop="{POPULATION_NS}">'
            "<pop:citizenId>12345</pop:citizenId></pop:GetCitizenRequest>",
            "pattern",
        ),
        (
            f'<pop:VerifyCitizenResponse xmlns:pop="{POPULATION_NS}">'
            "<pop:match>maybe</pop:match></pop:VerifyCitizenResponse>",
            "boolean",
        ),
        (
            f'<pop:fault xmlns:pop="{POPULATION_NS}"><pop:code>OOPS</pop:code></pop:fault>',
            "enumeration",
        ),
        (f'<xrd:protocolVersion xmlns:xrd="{XROAD_NS}">3.0</xrd:protocolVersion>', "pattern"),
        (
            f'<xrd:client xmlns:xrd="{XROAD_NS}" xmlns:id="http://x-road.eu/xsd/identifiers"><id:xRoadInstance>VN</id:xRoadInstance><id:memberClass>GOV</id:memberClass><id:memberCode>X</id:memberCode></xrd:client>',
            "objectType",
        ),
        (f'<xrd:requestHash xmlns:xrd="{XROAD_NS}">AAAA</xrd:requestHash>', "algorithmId"),
    ],
)
def test_schemas_refuse_bad_elements(xml: str, problem: str) -> None:
    """Bad IDs, booleans, fault codes, protocol versions and missing attributes are invalid."""
    schema = message_schema()
    assert not schema.validate(etree.fromstring(xml))
    assert problem in str(schema.error_log)


def test_each_xsd_compiles_on_its_own() -> None:
    """lxml compiles each schema file (xroad.xsd pulls identifiers.xsd by relative location)."""
    for path in (POPULATION_XSD, XROAD_XSD, XROAD_IDENTIFIERS_XSD):
        assert isinstance(xml_schema(path), etree.XMLSchema)


def test_files_ship_as_package_data() -> None:
    """The files sit in an importable package, so package-data globs carry them into a wheel."""
    folder = resources.files("schemas.wsdl")
    names = {entry.name for entry in folder.iterdir()}
    assert {"population.wsdl", "population.xsd", "xroad.xsd", "identifiers.xsd"} <= names
    assert POPULATION_WSDL.parent == Path(str(folder))
