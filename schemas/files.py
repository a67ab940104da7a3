"""The wire-format files kept in ``schemas/wsdl/`` and the XML Schema objects built from them.

- ``population.wsdl`` — the population service (SOAP 1.1, document/literal, X-Road 4.0 headers);
  it imports ``population.xsd`` and ``xroad.xsd`` (which imports ``identifiers.xsd``) by relative
  ``schemaLocation``, so it loads in zeep from its own folder.
- ``population_wsdl_document(address)`` gives the same WSDL with the schemas inlined and the
  ``soap:address`` set: a self-contained document to serve at ``?wsdl``.
- ``message_schema()`` validates any population body element, fault detail or X-Road header
  element (``schema.validate(element)``).

The XSD files are our own, trusted documents; they are still parsed without network access or
entity expansion.
"""

from __future__ import annotations

import copy
from functools import lru_cache
from pathlib import Path

from lxml import etree

WSDL_DIR = Path(__file__).resolve().parent / "wsdl"
POPULATION_WSDL = WSDL_DIR / "population.wsdl"
POPULATION_XSD = WSDL_DIR / "population.xsd"
XROAD_XSD = WSDL_DIR / "xroad.xsd"
XROAD_IDENTIFIERS_XSD = WSDL_DIR / "identifiers.xsd"

POPULATION_NS = "urn:vn:csdlqgdc:population:1.0"
XROAD_NS = "http://x-road.eu/xsd/xroad.xsd"
XROAD_ID_NS = "http://x-road.eu/xsd/identifiers"

_XS_NS = "http://www.w3.org/2001/XMLSchema"
_WSDL_NS = "http://schemas.xmlsoap.org/wsdl/"
_WSDL_SOAP_NS = "http://schemas.xmlsoap.org/wsdl/soap/"


def _parser() -> etree.XMLParser:
    return etree.XMLParser(resolve_entities=False, no_network=True, remove_blank_text=True)


def _read(path: Path) -> etree._Element:
    return etree.parse(str(path), parser=_parser()).getroot()


@lru_cache(maxsize=8)
def xml_schema(path: Path) -> etree.XMLSchema:
    """The compiled XML Schema of one of our ``.xsd`` files (cached)."""
    return etree.XMLSchema(etree.parse(str(path), parser=_parser()))


@lru_cache(maxsize=1)
def message_schema() -> etree.XMLSchema:
    """One schema covering the population namespace and the X-Road header namespace."""
    driver = (
        f'<xs:schema xmlns:xs="{_XS_NS}">'
        f'<xs:import namespace="{POPULATION_NS}" schemaLocation="{POPULATION_XSD.name}"/>'
        f'<xs:import namespace="{XROAD_NS}" schemaLocation="{XROAD_XSD.name}"/>'
        "</xs:schema>"
    )
    document = etree.XML(driver.encode(), parser=_parser(), base_url=(WSDL_DIR / "_").as_uri())
    return etree.XMLSchema(document)


def population_wsdl_document(address: str | None = None) -> bytes:
    """The population WSDL with its schemas inlined and ``soap:address`` set to ``address``."""
    wsdl = copy.deepcopy(_read(POPULATION_WSDL))
    types = wsdl.find(f"{{{_WSDL_NS}}}types")
    assert types is not None
    for child in list(types):
        types.remove(child)
    for path in (XROAD_IDENTIFIERS_XSD, XROAD_XSD, POPULATION_XSD):
        schema = copy.deepcopy(_read(path))
        for imported in schema.findall(f"{{{_XS_NS}}}import"):
            imported.attrib.pop("schemaLocation", "")
        types.append(schema)
    if address is not None:
        for location in wsdl.iter(f"{{{_WSDL_SOAP_NS}}}address"):
            location.set("location", address)
    return etree.tostring(wsdl, xml_declaration=True, encoding="UTF-8")
