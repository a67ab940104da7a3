"""Population service SOAP bodies (document/literal, ``urn:vn:csdlqgdc:population:1.0``) ⇄ models.

Builders return the body's child element (lxml) for a connector or the mock to put in an envelope;
readers take that element (already parsed by a hardened parser) and return canonical values.
The element layout is ``schemas/wsdl/population.xsd``; ``schemas.files.message_schema()``
validates the same elements (its error log may quote values: do not log it).

A ``GetCitizenResponse`` is read in one pass first (:func:`_citizen_at_once`): its elements read
into the values ``Citizen`` validation would give, checked with the model's own rules, and the
model set from them (:func:`~schemas.wire.validation.checked_model`). It answers only when sure;
on anything else (an element missing, empty, repeated, nested, unknown or commented, a value
the checks refuse or that would be stripped) the plain reading runs, to accept or to name the
field at fault. Why: pydantic's validation of a citizen (its core and eight Python validators
called through it) costs more than reading the elements; the checks alone cost half.
``tests/unit/test_schemas_wire_population_parity.py`` reads good and hostile bodies both ways.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any

from lxml import etree

from schemas.citizen_id import Sex, birth_year_and_sex, is_citizen_id, parse_citizen_id
from schemas.errors import InvalidWireRecord, SchemaError
from schemas.files import POPULATION_NS
from schemas.models import Citizen
from schemas.text import clean_line
from schemas.times import plausible_birth_date
from schemas.wire.validation import build_model, checked_model

NSMAP = {"pop": POPULATION_NS}


def _q(name: str) -> str:
    return f"{{{POPULATION_NS}}}{name}"


GET_CITIZEN_REQUEST = _q("GetCitizenRequest")
GET_CITIZEN_RESPONSE = _q("GetCitizenResponse")
VERIFY_CITIZEN_REQUEST = _q("VerifyCitizenRequest")
VERIFY_CITIZEN_RESPONSE = _q("VerifyCitizenResponse")
FAULT_DETAIL = _q("fault")

#: operation name -> (request element, response element)
OPERATIONS: dict[str, tuple[str, str]] = {
    "GetCitizen": (GET_CITIZEN_REQUEST, GET_CITIZEN_RESPONSE),
    "VerifyCitizen": (VERIFY_CITIZEN_REQUEST, VERIFY_CITIZEN_RESPONSE),
}
#: request element -> operation name
OPERATION_OF_REQUEST: dict[str, str] = {req: op for op, (req, _) in OPERATIONS.items()}


def soap_action(operation: str) -> str:
    """The SOAPAction of ``operation`` (``urn:vn:csdlqgdc:population:1.0#GetCitizen``)."""
    if operation not in OPERATIONS:
        raise ValueError(f"unknown population operation {operation!r}")
    return f"{POPULATION_NS}#{operation}"


class FaultCode(StrEnum):
    """``detail/pop:fault/pop:code`` values."""

    CITIZEN_NOT_FOUND = "CITIZEN_NOT_FOUND"
    INVALID_CITIZEN_ID = "INVALID_CITIZEN_ID"
    INVALID_REQUEST = "INVALID_REQUEST"
    MISSING_HEADER = "MISSING_HEADER"
    BAD_SIGNATURE = "BAD_SIGNATURE"
    UNAVAILABLE = "UNAVAILABLE"

    @property
    def faultcode(self) -> str:
        """``Server`` for a transient fault (UNAVAILABLE), ``Client`` otherwise."""
        return "Server" if self is FaultCode.UNAVAILABLE else "Client"

    @property
    def transient(self) -> bool:
        """True when retrying later may succeed."""
        return self is FaultCode.UNAVAILABLE


@dataclass(frozen=True, slots=True)
class VerifyCitizenQuery:
    """What a VerifyCitizen request asks: do these ID, name and birth date belong together."""

    citizen_id: str
    full_name: str
    date_of_birth: date


# --- building -------------------------------------------------------------------------------


def _sub(parent: etree._Element, name: str, text: str) -> etree._Element:
    child = etree.SubElement(parent, _q(name))
    child.text = text
    return child


def _get_citizen_request_template() -> etree._Element:
    root = etree.Element(GET_CITIZEN_REQUEST, nsmap=NSMAP)
    _sub(root, "citizenId", "")
    return root


#: the request's elements, built once: a copy is cheaper than building them again (~3 µs)
_GET_CITIZEN_REQUEST_TEMPLATE = _get_citizen_request_template()


def build_get_citizen_request(citizen_id: str) -> etree._Element:
    """``pop:GetCitizenRequest`` for ``citizen_id`` (validated)."""
    if not is_citizen_id(citizen_id):
        parse_citizen_id(citizen_id)  # raises, naming what is wrong
    root = copy.copy(_GET_CITIZEN_REQUEST_TEMPLATE)  # the whole tree (lxml)
    root[0].text = citizen_id
    return root


def build_get_citizen_response(citizen: Citizen) -> etree._Element:
    """``pop:GetCitizenResponse`` carrying ``citizen``."""
    root = etree.Element(GET_CITIZEN_RESPONSE, nsmap=NSMAP)
    record = etree.SubElement(root, _q("citizen"))
    _sub(record, "citizenId", citizen.citizen_id)
    _sub(record, "fullName", citizen.full_name)
    _sub(record, "dateOfBirth", citizen.date_of_birth.isoformat())
    _sub(record, "sex", citizen.sex.value)
    _sub(record, "placeOfOrigin", citizen.place_of_origin)
    _sub(record, "permanentAddress", citizen.permanent_address)
    if citizen.current_address is not None:
        _sub(record, "currentAddress", citizen.current_address)
    _sub(record, "nationality", citizen.nationality)
    if citizen.ethnicity is not None:
        _sub(record, "ethnicity", citizen.ethnicity)
    return root


def build_verify_citizen_request(
    citizen_id: str, full_name: str, date_of_birth: date
) -> etree._Element:
    """``pop:VerifyCitizenRequest`` for these three values (the ID validated)."""
    parse_citizen_id(citizen_id)
    root = etree.Element(VERIFY_CITIZEN_REQUEST, nsmap=NSMAP)
    _sub(root, "citizenId", citizen_id)
    _sub(root, "fullName", full_name)
    _sub(root, "dateOfBirth", date_of_birth.isoformat())
    return root


def build_verify_citizen_response(match: bool) -> etree._Element:
    """``pop:VerifyCitizenResponse`` answering ``match`` and nothing else."""
    root = etree.Element(VERIFY_CITIZEN_RESPONSE, nsmap=NSMAP)
    _sub(root, "match", "true" if match else "false")
    return root


def build_fault_detail(code: FaultCode | str) -> etree._Element:
    """``pop:fault`` with ``pop:code``, to put under the SOAP fault's ``detail``."""
    root = etree.Element(FAULT_DETAIL, nsmap=NSMAP)
    _sub(root, "code", FaultCode(code).value)
    return root


# --- reading --------------------------------------------------------------------------------

_XS_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", re.ASCII)


def _expect(element: etree._Element, tag: str, what: str) -> None:
    if element.tag != tag:
        raise InvalidWireRecord(f"{what}: unexpected element", field=what)


_PREFIX = f"{{{POPULATION_NS}}}"
_PREFIX_LENGTH = len(_PREFIX)


def _children(element: etree._Element, what: str) -> dict[str, str]:
    """Child local name -> text; unknown namespaces, repeats and nested content are refused.

    The tag is read as a string: ``{ns}name`` is in our namespace exactly when it starts with
    ``{POPULATION_NS}`` (lxml's ``QName`` splits at the first ``}`` too), without building a
    ``QName`` per child.
    """
    values: dict[str, str] = {}
    for child in element:
        tag = child.tag
        if not isinstance(tag, str):
            continue  # comments and processing instructions
        name = tag[_PREFIX_LENGTH:]
        if not tag.startswith(_PREFIX) or name in values or len(child):
            raise InvalidWireRecord(
                f"{what} has an unexpected or repeated element",
                field=f"{what}/{etree.QName(child).localname}",
            )
        values[name] = child.text or ""
    return values


def _required(values: dict[str, str], name: str, what: str) -> str:
    if name not in values:
        raise InvalidWireRecord(f"{what} lacks {name}", field=f"{what}/{name}")
    return values[name]


def _date(text: str, where: str) -> date:
    if not _XS_DATE.fullmatch(text):
        raise InvalidWireRecord(f"{where} must be a date YYYY-MM-DD", field=where)
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise InvalidWireRecord(f"{where} is not a real date", field=where) from exc


def _citizen_id(text: str, where: str) -> str:
    try:
        parse_citizen_id(text, field=where)
    except SchemaError as exc:
        raise InvalidWireRecord(exc.message, field=where) from exc
    return text


def read_get_citizen_request(element: etree._Element) -> str:
    """The citizen ID a ``pop:GetCitizenRequest`` asks for."""
    what = "GetCitizenRequest"
    _expect(element, GET_CITIZEN_REQUEST, what)
    values = _children(element, what)
    return _citizen_id(_required(values, "citizenId", what), f"{what}/citizenId")


_CITIZEN_FIELDS = {
    "citizenId": "citizen_id",
    "fullName": "full_name",
    "dateOfBirth": "date_of_birth",
    "sex": "sex",
    "placeOfOrigin": "place_of_origin",
    "permanentAddress": "permanent_address",
    "currentAddress": "current_address",
    "nationality": "nationality",
    "ethnicity": "ethnicity",
}
_WIRE_NAME = {model: wire for wire, model in _CITIZEN_FIELDS.items()}


#: ``pop:`` tag -> the ``Citizen`` field it holds
_CITIZEN_FIELD_OF_TAG = {_q(wire): model for wire, model in _CITIZEN_FIELDS.items()}
_CITIZEN_RECORD = _q("citizen")
_SEXES = {sex.value: sex for sex in Sex}
#: the ``Text`` fields' longest value (``schemas.models.Text``)
_TEXT_MAX_LENGTH = 500


def _text(value: str | None) -> str | None:
    """What a ``Text`` field holds for ``value``; None when validation would not keep it as it
    is (outer whitespace to strip: Python's ``isspace`` covers all pydantic strips) or refuses
    it."""
    if not value or value[0].isspace() or value[-1].isspace() or len(value) > _TEXT_MAX_LENGTH:
        return None
    try:
        return clean_line(value)
    except ValueError:  # PydanticCustomError
        return None


def _citizen_at_once(element: etree._Element) -> Citizen | None:
    """The ``Citizen`` of a ``pop:GetCitizenResponse`` the plain reading would return, or None:
    not shown here, the plain reading decides (see the module docstring)."""
    if element.tag != GET_CITIZEN_RESPONSE or len(element) != 1:
        return None  # len counts comments and processing instructions too
    record = element[0]
    if record.tag != _CITIZEN_RECORD:
        return None
    # a nested child is left out, a repeat kept once, an unknown or non-element child keyed "":
    # each makes the count differ or "" a key
    fields_of = _CITIZEN_FIELD_OF_TAG
    values = {fields_of.get(child.tag, ""): child.text for child in record if not len(child)}
    if "" in values or len(values) != len(record) or None in values.values():
        return None  # None: an empty element, whose "" the plain reading refuses
    get = values.get
    citizen_id = get("citizen_id") or ""
    born_text = get("date_of_birth") or ""
    sex = _SEXES.get(get("sex") or "")
    if sex is None or not is_citizen_id(citizen_id) or not _XS_DATE.fullmatch(born_text):
        return None
    try:
        born = plausible_birth_date(date.fromisoformat(born_text))
    except ValueError:  # not a real date, or out of range (PydanticCustomError)
        return None
    if birth_year_and_sex(citizen_id) != (born.year, sex):
        return None
    full_name = _text(get("full_name"))
    place_of_origin = _text(get("place_of_origin"))
    permanent_address = _text(get("permanent_address"))
    current_address = get("current_address")
    ethnicity = get("ethnicity")
    nationality = get("nationality", "VN")
    if (
        full_name is None
        or place_of_origin is None
        or permanent_address is None
        or (current_address is not None and (current_address := _text(current_address)) is None)
        or (ethnicity is not None and (ethnicity := _text(ethnicity)) is None)
        or nationality is None
        or not (len(nationality) == 2 and nationality.isascii())
        or not (nationality.isalpha() and nationality.isupper())  # CountryCode: ^[A-Z]{2}$
    ):
        return None
    fields = {
        "citizen_id": citizen_id,
        "full_name": full_name,
        "date_of_birth": born,
        "sex": sex,
        "place_of_origin": place_of_origin,
        "permanent_address": permanent_address,
        "current_address": current_address,
        "nationality": nationality,
        "ethnicity": ethnicity,
    }
    return checked_model(Citizen, fields, set(values))


def read_get_citizen_response(element: etree._Element) -> Citizen:
    """The ``Citizen`` a ``pop:GetCitizenResponse`` carries."""
    citizen = _citizen_at_once(element)
    return citizen if citizen is not None else _read_get_citizen_response(element)


def _read_get_citizen_response(element: etree._Element) -> Citizen:
    """:func:`read_get_citizen_response` the plain way: element by element, then validated."""
    what = "GetCitizenResponse"
    _expect(element, GET_CITIZEN_RESPONSE, what)
    records = [child for child in element if isinstance(child.tag, str)]
    if len(records) != 1 or records[0].tag != _q("citizen"):
        raise InvalidWireRecord(f"{what} must hold exactly one citizen", field=f"{what}/citizen")
    values = _children(records[0], f"{what}/citizen")
    unknown = sorted(values.keys() - _CITIZEN_FIELDS.keys())
    if unknown:
        raise InvalidWireRecord(f"{what}/citizen has unknown elements: {', '.join(unknown)}")
    data: dict[str, Any] = {_CITIZEN_FIELDS[name]: text for name, text in values.items()}
    if "date_of_birth" in data:
        data["date_of_birth"] = _date(data["date_of_birth"], f"{what}/citizen/dateOfBirth")
    return build_model(Citizen, data, what=f"{what}/citizen", names=_WIRE_NAME)


def read_verify_citizen_request(element: etree._Element) -> VerifyCitizenQuery:
    """The ID, name and birth date a ``pop:VerifyCitizenRequest`` asks about."""
    what = "VerifyCitizenRequest"
    _expect(element, VERIFY_CITIZEN_REQUEST, what)
    values = _children(element, what)
    citizen_id = _citizen_id(_required(values, "citizenId", what), f"{what}/citizenId")
    full_name = _required(values, "fullName", what).strip()
    if not full_name:
        raise InvalidWireRecord(f"{what}/fullName must not be empty", field=f"{what}/fullName")
    born = _date(_required(values, "dateOfBirth", what), f"{what}/dateOfBirth")
    return VerifyCitizenQuery(citizen_id=citizen_id, full_name=full_name, date_of_birth=born)


def read_verify_citizen_response(element: etree._Element) -> bool:
    """The ``match`` answer of a ``pop:VerifyCitizenResponse``."""
    what = "VerifyCitizenResponse"
    _expect(element, VERIFY_CITIZEN_RESPONSE, what)
    text = _required(_children(element, what), "match", what).strip()
    if text in ("true", "1"):
        return True
    if text in ("false", "0"):
        return False
    raise InvalidWireRecord(f"{what}/match must be an xs:boolean", field=f"{what}/match")


def read_fault_detail(element: etree._Element) -> FaultCode:
    """The code of a ``pop:fault`` detail element."""
    what = "fault"
    _expect(element, FAULT_DETAIL, what)
    text = _required(_children(element, what), "code", what).strip()
    try:
        return FaultCode(text)
    except ValueError as exc:
        raise InvalidWireRecord("fault/code is not a known fault code", field="fault/code") from exc
