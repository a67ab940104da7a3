"""Population service SOAP bodies (document/literal, ``urn:vn:csdlqgdc:population:1.0``) ⇄ models.

Builders return the body's child element (lxml) for a connector or the mock to put in an envelope;
readers take that element (already parsed by a hardened parser) and return canonical values.
The element layout is ``schemas/wsdl/population.xsd``; ``schemas.files.message_schema()``
validates the same elements (its error log may quote values: do not log it).

A ``GetCitizenResponse`` is read in one pass first (:func:`_citizen_at_once`): its elements read
into the values ``Citizen`` validation would give, checked with the model's rules (the ID by
``CITIZEN_ID_RE``, its birth digits by ``BIRTH_DIGITS``, the texts all at once), and the
model set from them (:func:`~schemas.wire.validation.checked_model`). It answers only when sure;
on anything else (an element missing, empty, repeated, nested, unknown or commented, a value
the checks refuse or that would be stripped) the plain reading runs, to accept or to name the
field at fault. Why: pydantic's validation of a citizen (its core and eight Python validators
called through it) costs more than reading the elements; the checks alone cost half.
``tests/unit/test_schemas_wire_population_parity.py`` reads good and hostile bodies both ways.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from itertools import repeat
from operator import attrgetter, itemgetter
from typing import Any
from unicodedata import is_normalized

from lxml import etree

from schemas.citizen_id import (
    BIRTH_DIGITS,
    CITIZEN_ID_RE,
    Sex,
    parse_citizen_id,
)
from schemas.errors import InvalidWireRecord, SchemaError
from schemas.files import POPULATION_NS
from schemas.models import Citizen
from schemas.text import LINE_SUSPECTS, clean_line
from schemas.times import BIRTH_DATE_MIN, VN_TZ
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
#: a copy of the template: lxml's ``__copy__`` copies the whole tree (``copy.copy`` calls it,
#: after a dispatch of its own in Python); lxml's stubs do not declare it
_new_get_citizen_request: Callable[[], etree._Element]
_new_get_citizen_request = _GET_CITIZEN_REQUEST_TEMPLATE.__copy__  # type: ignore[attr-defined]


def build_get_citizen_request(citizen_id: str) -> etree._Element:
    """``pop:GetCitizenRequest`` for ``citizen_id`` (validated)."""
    if not isinstance(citizen_id, str) or CITIZEN_ID_RE.fullmatch(citizen_id) is None:
        parse_citizen_id(citizen_id)  # raises, naming what is wrong (is_citizen_id, inline)
    root = _new_get_citizen_request()
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
#: ``CountryCode``: ``^[A-Z]{2}$`` (``$`` is the end of the text in pydantic's regex engine)
_COUNTRY_CODE = re.compile("[A-Z]{2}")
#: every ``Citizen`` field, in the model's order, with its default (None for a required one)
_CITIZEN_DEFAULTS: dict[str, Any] = {
    name: None if field.is_required() else field.default
    for name, field in Citizen.model_fields.items()
}
#: the fields a citizen must have
_REQUIRED_FIELDS = frozenset(
    name for name, field in Citizen.model_fields.items() if field.is_required()
)
#: the ``Text`` fields
_TEXT_FIELDS = frozenset(
    {"full_name", "place_of_origin", "permanent_address", "current_address", "ethnicity"}
)
#: the other fields' values
_NOT_TEXTS = itemgetter("citizen_id", "date_of_birth", "sex", "nationality")
_TAG = attrgetter("tag")
_TEXT = attrgetter("text")
#: what joins a record's texts for :data:`_KEPT_TEXTS`: a control character, which no text
#: the patterns let through holds
_JOIN = "\x00"


def _kept_texts(count: int) -> re.Pattern[str]:
    """``count`` texts joined by :data:`_JOIN`, each of them 1 to 500 characters with no
    whitespace at either end (so validation strips nothing and does not refuse its length) and
    none of the characters ``clean_line`` looks at more closely (``LINE_SUSPECTS``, NUL among
    them). Exactly ``count``: a text holding a NUL (XML cannot carry one anyway) would make the
    joined text one piece more."""
    ends, inside = f"[^\\s{LINE_SUSPECTS}]", f"[^{LINE_SUSPECTS}]"
    text = f"{ends}(?:{inside}{{0,{_TEXT_MAX_LENGTH - 2}}}{ends})?"
    return re.compile(f"{text}(?:{_JOIN}{text}){{{count - 1}}}")


#: how many texts -> :func:`_kept_texts` for that many: ``clean_line`` keeps each text as it is
#: when the joined texts match and are NFC (see :func:`_citizen_at_once`)
_KEPT_TEXTS = {count: _kept_texts(count) for count in range(1, len(_CITIZEN_FIELDS) + 1)}


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
    not shown here, the plain reading decides (see the module docstring).

    Its texts are checked together: when, joined, they match :data:`_KEPT_TEXTS` (the ID, the
    date, the sex and the country code do too, when valid), each is one of the pieces matched;
    when the joined text is also NFC, each is NFC (NFC keeps the joining NULs, which compose
    with nothing, where they are, and adds none: a piece that NFC changed would change the
    joined text), and so ``_text`` would return it unchanged. Otherwise each text is checked on
    its own with ``_text``.
    """
    if element.tag != GET_CITIZEN_RESPONSE or len(element) != 1:
        return None  # len counts comments and processing instructions too
    record = element[0]
    if record.tag != _CITIZEN_RECORD:
        return None
    # field -> text: an unknown or non-element child is keyed "", a repeat kept once (the
    # count differs), a nested one has a length
    fields_of = map(_CITIZEN_FIELD_OF_TAG.get, map(_TAG, record), repeat(""))
    values = dict(zip(fields_of, map(_TEXT, record), strict=True))
    if "" in values or len(values) != len(record) or any(map(len, record)):
        return None
    texts = values.values()
    if None in texts or not values.keys() >= _REQUIRED_FIELDS:
        return None  # an empty element (the plain reading refuses its ""), a field missing
    fields = _CITIZEN_DEFAULTS | values  # every field, in the model's order
    citizen_id, born_text, sex_text, nationality = _NOT_TEXTS(fields)
    sex = _SEXES.get(sex_text)
    if (
        sex is None
        or CITIZEN_ID_RE.fullmatch(citizen_id) is None
        or _XS_DATE.fullmatch(born_text) is None
        or _COUNTRY_CODE.fullmatch(nationality) is None
    ):
        return None
    try:
        born = date.fromisoformat(born_text)
    except ValueError:  # not a real date
        return None
    if (
        not BIRTH_DATE_MIN <= born <= datetime.now(VN_TZ).date()  # plausible_birth_date
        or citizen_id[3:6] != BIRTH_DIGITS.get((born.year, sex))  # birth_year_and_sex
    ):
        return None
    fields["date_of_birth"] = born
    fields["sex"] = sex
    joined = _JOIN.join(texts)
    if _KEPT_TEXTS[len(texts)].fullmatch(joined) is None or not is_normalized("NFC", joined):
        for name in _TEXT_FIELDS & values.keys():
            text = _text(values[name])
            if text is None:
                return None
            fields[name] = text
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
