"""The population readers read child elements as the plain ``QName`` reading did.

``schemas.wire.population`` reads each child's tag as a string (``{ns}name`` starts with our
namespace in braces) instead of building an ``etree.QName`` per child. Each body here, good or
hostile (wrong, missing or longer namespaces; repeated, nested, missing and extra elements;
comments and processing instructions; hostile text, dates, sexes, IDs and country codes), is read
with the readers as they are and with the former QName reading put back: the same value, or the
same error, message and field. The ``GetCitizenRequest`` is built from a template: the same
bytes as building it element by element.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any
from unittest import mock

import pytest
from hypothesis import given, settings
from lxml import etree

from schemas.citizen_id import Sex, make_citizen_id, parse_citizen_id
from schemas.errors import InvalidWireRecord, SchemaError
from schemas.files import POPULATION_NS
from schemas.wire import population as wire
from tests.support.schemas_strategies import TEXT_VALUES, citizen_ids, citizens

ID = make_citizen_id("001", 1990, Sex.FEMALE, 7)
GOOD: dict[str, str] = {
    "citizenId": ID,
    "fullName": "Nguyễn Thị An",
    "dateOfBirth": "1990-05-17",
    "sex": "female",
    "placeOfOrigin": "Hà Nội",
    "permanentAddress": "1 Tràng Tiền, Hoàn Kiếm, Hà Nội",
    "currentAddress": "12 Lý Thường Kiệt",
    "nationality": "VN",
    "ethnicity": "Kinh",
}
TEXTS = ("fullName", "placeOfOrigin", "permanentAddress", "currentAddress", "ethnicity")


def _children_with_qnames(element: etree._Element, what: str) -> dict[str, str]:
    """The readers' child reading as it was: one ``etree.QName`` per child."""
    values: dict[str, str] = {}
    for child in element:
        if not isinstance(child.tag, str):
            continue
        qname = etree.QName(child)
        if qname.namespace != POPULATION_NS or qname.localname in values or len(child):
            raise InvalidWireRecord(
                f"{what} has an unexpected or repeated element", field=f"{what}/{qname.localname}"
            )
        values[qname.localname] = child.text or ""
    return values


def _xml_can_hold(value: str) -> bool:
    try:
        etree.Element("x").text = value
    except ValueError:
        return False
    return True


def _record(
    root: str, fields: list[tuple[str, str]], *, ns: str | None = POPULATION_NS, wrap: bool = True
) -> etree._Element:
    """``root`` holding ``fields`` (name, text) in order, under a ``pop:citizen`` if ``wrap``."""
    element = etree.Element(f"{{{POPULATION_NS}}}{root}", nsmap=wire.NSMAP)
    parent = etree.SubElement(element, f"{{{POPULATION_NS}}}citizen") if wrap else element
    for name, value in fields:
        etree.SubElement(parent, f"{{{ns}}}{name}" if ns else name).text = value
    return element


def _with(**changes: str | None) -> list[tuple[str, str]]:
    values = {**GOOD, **changes}
    return [(name, value) for name, value in values.items() if value is not None]


def _citizen_cases() -> Iterator[tuple[str, etree._Element]]:
    response = "GetCitizenResponse"
    yield "good", _record(response, _with())
    yield "only required", _record(response, _with(currentAddress=None, ethnicity=None))
    for name in GOOD:
        yield f"missing {name}", _record(response, _with(**{name: None}))
    for name in TEXTS:
        for index, value in enumerate(TEXT_VALUES):
            if _xml_can_hold(value):
                yield f"{name} #{index}", _record(response, _with(**{name: value}))
    for value in ("1990-5-17", "1990-02-30", "1899-12-31", "2990-05-17", " 1990-05-17", ""):
        yield f"date {value!r}", _record(response, _with(dateOfBirth=value))
    for value in ("male", "FEMALE", " female", ""):
        yield f"sex {value!r}", _record(response, _with(sex=value))
    for value in ("vn", "VNM", "VN\n", ""):
        yield f"nationality {value!r}", _record(response, _with(nationality=value))
    for value in (" " + ID, ID[:11], "999" + ID[3:], make_citizen_id("001", 1991, Sex.FEMALE, 7)):
        yield f"id {value!r}", _record(response, _with(citizenId=value))
    yield "extra field", _record(response, [*_with(), ("nickname", "An")])
    yield "repeated field", _record(response, [*_with(), ("fullName", "Bình")])
    yield "reordered", _record(response, list(reversed(_with())))
    yield "no namespace", _record(response, _with(), ns=None)
    yield "another namespace", _record(response, _with(), ns="urn:other")
    yield "a longer namespace", _record(response, _with(), ns=POPULATION_NS + "x")
    yield "a shorter namespace", _record(response, _with(), ns=POPULATION_NS[:-1])
    nested = _record(response, _with())
    etree.SubElement(nested[0][1], f"{{{POPULATION_NS}}}part").text = "x"
    yield "nested", nested
    commented = _record(response, _with())
    commented[0].insert(2, etree.Comment("note"))
    commented[0].append(etree.ProcessingInstruction("pi", "x"))
    yield "comment and PI", commented
    two = _record(response, _with())
    two.append(_record(response, _with())[0])
    yield "two citizens", two
    yield "no citizen", etree.Element(wire.GET_CITIZEN_RESPONSE)


def _other_cases() -> Iterator[tuple[str, Callable[[etree._Element], object], etree._Element]]:
    readers: dict[str, Callable[[etree._Element], object]] = {
        "GetCitizenRequest": wire.read_get_citizen_request,
        "VerifyCitizenRequest": wire.read_verify_citizen_request,
        "VerifyCitizenResponse": wire.read_verify_citizen_response,
        "fault": wire.read_fault_detail,
    }
    fields = {
        "GetCitizenRequest": [("citizenId", ID)],
        "VerifyCitizenRequest": [
            ("citizenId", ID),
            ("fullName", "Nguyễn Thị An"),
            ("dateOfBirth", "1990-05-17"),
        ],
        "VerifyCitizenResponse": [("match", "true")],
        "fault": [("code", "CITIZEN_NOT_FOUND")],
    }
    for root, read in readers.items():
        good = fields[root]
        yield f"{root} good", read, _record(root, good, wrap=False)
        yield f"{root} extra", read, _record(root, [*good, ("other", "x")], wrap=False)
        yield f"{root} repeated", read, _record(root, [*good, *good], wrap=False)
        yield f"{root} foreign", read, _record(root, good, ns="urn:other", wrap=False)
        yield f"{root} bare", read, _record(root, good, ns=None, wrap=False)
        yield f"{root} empty", read, _record(root, [], wrap=False)


def _outcome(read: Callable[[], object]) -> tuple[object, ...]:
    try:
        value = read()
    except SchemaError as exc:
        return ("refused", type(exc).__name__, exc.message, exc.field)
    dump = getattr(value, "model_dump_json", None)
    return ("read", dump() if dump is not None else value)


def _same_both_ways(read: Callable[[etree._Element], object], element: etree._Element) -> str:
    with mock.patch.object(wire, "_children", _children_with_qnames):
        plain = _outcome(lambda: read(element))
    fast = _outcome(lambda: read(element))
    assert fast == plain
    return str(fast[0])


CITIZEN_CASES = list(_citizen_cases())
OTHER_CASES = list(_other_cases())


@pytest.mark.parametrize(
    "element", [case for _, case in CITIZEN_CASES], ids=[name for name, _ in CITIZEN_CASES]
)
def test_every_citizen_answer_reads_the_same_both_ways(element: etree._Element) -> None:
    """Accepted: the same Citizen (as JSON); refused: the same error, message and field."""
    _same_both_ways(wire.read_get_citizen_response, element)


@pytest.mark.parametrize(
    ("read", "element"),
    [(read, element) for _, read, element in OTHER_CASES],
    ids=[name for name, _, _ in OTHER_CASES],
)
def test_every_other_body_reads_the_same_both_ways(
    read: Callable[[etree._Element], object], element: etree._Element
) -> None:
    """The requests, the verify answer and the fault detail, good and hostile."""
    _same_both_ways(read, element)


def test_the_cases_are_both_accepted_and_refused() -> None:
    """The hostile cases exercise refusals, and the good ones are read."""
    outcomes = [_same_both_ways(wire.read_get_citizen_response, e) for _, e in CITIZEN_CASES]
    assert outcomes.count("read") >= 15
    assert outcomes.count("refused") >= 40


@settings(max_examples=50, deadline=None)
@given(person=citizens())
def test_any_citizen_reads_the_same_both_ways(person: Any) -> None:
    """Every valid citizen reads back to itself, both ways."""
    element = wire.build_get_citizen_response(person)
    assert _same_both_ways(wire.read_get_citizen_response, element) == "read"
    assert wire.read_get_citizen_response(element) == person


def _request_built_element_by_element(citizen_id: str) -> etree._Element:
    parse_citizen_id(citizen_id)
    root = etree.Element(wire.GET_CITIZEN_REQUEST, nsmap=wire.NSMAP)
    etree.SubElement(root, f"{{{POPULATION_NS}}}citizenId").text = citizen_id
    return root


@given(citizen_id=citizen_ids)
def test_the_request_is_the_element_built_the_plain_way(citizen_id: str) -> None:
    """The copied template serialises to the same bytes, alone and moved into an envelope."""
    built = wire.build_get_citizen_request(citizen_id)
    plain = _request_built_element_by_element(citizen_id)
    assert etree.tostring(built) == etree.tostring(plain)
    envelopes = []
    for element in (built, plain):
        body = etree.Element("{urn:outer}Body", nsmap={"pop": POPULATION_NS, "o": "urn:outer"})
        body.append(element)
        envelopes.append(etree.tostring(body))
    assert envelopes[0] == envelopes[1]


def test_copies_of_the_request_are_independent() -> None:
    """Filling one request leaves the template, and the other requests, untouched."""
    first = wire.build_get_citizen_request(ID)
    second = wire.build_get_citizen_request(make_citizen_id("079", 2001, Sex.MALE, 42))
    assert first[0].text == ID
    assert second[0].text != ID
    assert etree.tostring(wire.build_get_citizen_request(ID)) == etree.tostring(first)


@pytest.mark.parametrize("value", ["", " " + ID, ID[:11], "999" + ID[3:], "٠" + ID[1:]])
def test_a_bad_id_is_refused_with_the_parsers_error(value: str) -> None:
    """The request builder refuses what the parser refuses, with its error."""
    with pytest.raises(SchemaError) as built:
        wire.build_get_citizen_request(value)
    with pytest.raises(SchemaError) as parsed:
        parse_citizen_id(value)
    assert (type(built.value), built.value.message) == (type(parsed.value), parsed.value.message)
