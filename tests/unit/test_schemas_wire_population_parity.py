"""The population readers read as the plain readings do.

``schemas.wire.population`` reads each child's tag as a string (``{ns}name`` starts with our
namespace in braces) instead of building an ``etree.QName`` per child. Each body here, good or
hostile (wrong, missing or longer namespaces; repeated, nested, missing and extra elements;
comments and processing instructions; hostile text, dates, sexes, IDs and country codes), is read
with the readers as they are and with the former QName reading put back: the same value, or the
same error, message and field. The ``GetCitizenRequest`` is built from a template: the same
bytes as building it element by element.

A ``GetCitizenResponse`` is read in one pass first (``_citizen_at_once``), the model set from
the values it checked: on the same bodies, and on answers whose wire texts are fuzzed, it
gives the very ``Citizen`` the plain reading (element by element, then pydantic) gives — the
same field values of the same types in the same order, the same fields set, the same JSON —
or leaves the answer to the plain reading, so a refusal is the plain one's error. The answers
are also read as the hardened parser reads them once sent (an empty element has no text at
all), with birth dates up to today and tomorrow, and texts decomposed, astral or 500 long.
Its texts are checked together, joined by NUL: texts pass together exactly when each passes
alone, shown on fuzzed lists of texts, with the facts the argument rests on (NUL composes
with nothing; the pattern's ``\\s`` is Python's ``isspace``) checked for every character.
"""

from __future__ import annotations

import copy
import re
import unicodedata
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Annotated, Any, get_args
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree
from pydantic import AfterValidator, StringConstraints, TypeAdapter

from schemas import models
from schemas.citizen_id import (
    CitizenId,
    Sex,
    make_citizen_id,
    parse_citizen_id,
    validate_citizen_id,
)
from schemas.errors import InvalidWireRecord, SchemaError
from schemas.files import POPULATION_NS
from schemas.models import Citizen
from schemas.text import LINE_SUSPECTS, line_validator
from schemas.times import VN_TZ, plausible_birth_date
from schemas.wire import population as wire
from security.xml import parse_xml
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


def _parsed(element_xml: str, replacing: str, *, hardened: bool = True) -> etree._Element:
    """A good answer as the hardened parser (or lxml's own, keeping comments) reads it, the
    element ``replacing`` written as ``element_xml`` (in the population namespace)."""
    children = "".join(
        element_xml if name == replacing else f"<{name}>{value}</{name}>"
        for name, value in GOOD.items()
    )
    body = (
        f'<GetCitizenResponse xmlns="{POPULATION_NS}"><citizen>{children}</citizen>'
        "</GetCitizenResponse>"
    )
    return parse_xml(body.encode()) if hardened else etree.fromstring(body.encode())


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
    for value in (
        *("1990-5-17", "1990-02-30", "1899-12-31", "2990-05-17", " 1990-05-17", ""),
        *("19900517", "1990-W20-4", "1990-05-17\n", "١٩٩٠-05-17"),  # fromisoformat's others
    ):
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
    today = datetime.now(VN_TZ).date()
    for born in (today, today + timedelta(days=1), today.replace(month=1, day=1)):
        for sex in Sex:
            yield (
                f"born {born} {sex}",
                _record(
                    response,
                    _with(
                        citizenId=make_citizen_id("079", born.year, sex, 1),
                        dateOfBirth=born.isoformat(),
                        sex=sex.value,
                    ),
                ),
            )
    for born_text, sex in (("1900-01-01", Sex.MALE), ("2399-12-31", Sex.FEMALE)):
        year = int(born_text[:4])
        yield (
            f"born {born_text}",
            _record(
                response,
                _with(
                    citizenId=make_citizen_id("079", year, sex, 1),
                    dateOfBirth=born_text,
                    sex=sex.value,
                ),
            ),
        )
    for digits in ("090", "190", "290", "390", "091", "089", "990"):  # ID birth digits 4-6
        yield f"id digits {digits}", _record(response, _with(citizenId=f"001{digits}000007"))
    parsed = {f"empty {name}": (f"<{name}/>", name) for name in GOOD}  # text None
    parsed |= {
        "CDATA name": ("<fullName><![CDATA[Nguyễn Thị An]]></fullName>", "fullName"),
        "decomposed by reference": (
            "<fullName>Nguye&#x302;&#x303;n Thi&#x323; An</fullName>",
            "fullName",
        ),
        "name split by a comment": ("<fullName>An<!-- x --> B</fullName>", "fullName"),
        "id split by a comment": (f"<citizenId>{ID[:6]}<!---->{ID[6:]}</citizenId>", "citizenId"),
        "attribute": ('<fullName lang="vi">An</fullName>', "fullName"),
        "tail text": ("<fullName>An</fullName>tail", "fullName"),
        "line break by reference": ("<fullName>An&#10;</fullName>", "fullName"),
        "NBSP by reference": ("<fullName>&#xa0;An</fullName>", "fullName"),
    }
    for name, (element_xml, replacing) in parsed.items():
        yield f"{name} (parsed)", _parsed(element_xml, replacing)
        yield f"{name} (parsed, comments kept)", _parsed(element_xml, replacing, hardened=False)
    for name in TEXTS:  # every text in decomposed form, or with an astral character
        yield (
            f"{name} decomposed",
            _record(response, _with(**{name: unicodedata.normalize("NFD", GOOD[name])})),
        )
        yield f"{name} astral", _record(response, _with(**{name: GOOD[name] + " 𠀀"}))
        yield f"{name} 500 long", _record(response, _with(**{name: "ễ" * 500}))
        yield f"{name} 501 long", _record(response, _with(**{name: "ễ" * 501}))


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


def _held(citizen: Citizen) -> tuple[object, ...]:
    """All a Citizen holds: its values with their types, in order, its fields set, its extra
    and private values, and its JSON (whole, without None, minimised)."""
    serialise = citizen.__pydantic_serializer__.to_json
    return (
        type(citizen),
        [(name, type(value), value) for name, value in citizen.__dict__.items()],
        citizen.model_fields_set,
        citizen.__pydantic_extra__,
        citizen.__pydantic_private__,
        hash(citizen),
        citizen.model_dump_json(),
        serialise(citizen, exclude_none=True),
        serialise(citizen, include={"citizen_id", "sex", "date_of_birth"}, exclude_none=True),
    )


def _same_as_the_plain_reading(element: etree._Element) -> str:
    """The reader's outcome is the plain reading's; a Citizen read in one pass holds exactly
    what the plain reading's holds."""
    plain = _outcome(lambda: wire._read_get_citizen_response(element))
    assert _outcome(lambda: wire.read_get_citizen_response(element)) == plain
    at_once = wire._citizen_at_once(element)
    if at_once is not None:
        assert plain[0] == "read"
        assert _held(at_once) == _held(wire._read_get_citizen_response(element))
    return str(plain[0])


CITIZEN_CASES = list(_citizen_cases())
OTHER_CASES = list(_other_cases())


@pytest.mark.parametrize(
    "element", [case for _, case in CITIZEN_CASES], ids=[name for name, _ in CITIZEN_CASES]
)
def test_every_citizen_answer_reads_the_same_both_ways(element: etree._Element) -> None:
    """Accepted: the same Citizen (as JSON); refused: the same error, message and field."""
    _same_both_ways(wire._read_get_citizen_response, element)
    _same_as_the_plain_reading(element)


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
    """The hostile cases exercise refusals, and the good ones are read (most in one pass)."""
    outcomes = [_same_both_ways(wire._read_get_citizen_response, e) for _, e in CITIZEN_CASES]
    assert outcomes.count("read") >= 15
    assert outcomes.count("refused") >= 40
    at_once = [wire._citizen_at_once(element) is not None for _, element in CITIZEN_CASES]
    assert sum(at_once) >= 10


@settings(max_examples=50, deadline=None)
@given(person=citizens())
def test_any_citizen_reads_the_same_both_ways(person: Any) -> None:
    """Every valid citizen reads back to itself, both ways."""
    element = wire.build_get_citizen_response(person)
    assert _same_both_ways(wire._read_get_citizen_response, element) == "read"
    assert _same_as_the_plain_reading(element) == "read"
    assert wire._citizen_at_once(element) is not None  # a valid answer is read in one pass
    assert wire.read_get_citizen_response(element) == person


#: characters the text rules, pydantic's stripping or the date, ID and country checks treat
#: apart: every kind of whitespace, controls, bidi, zero-width, non-characters, astral,
#: combining marks, a character NFC changes, and plain ones
_ODD_CHARACTERS = (
    *(c for c in map(chr, range(0x3001)) if c.isspace()),
    *"\x00\x07\x7f\x9f\u200b\u200c\u200e\u202e\u2066\u061c\u2060\ufeff\u180e",
    *"\ufdd0\ufffe\U0001fffe\U0010ffff\u0301\u0302\u2126😀aA0-ễ",
)


def _mutations(good: str) -> st.SearchStrategy[str]:
    """``good`` with odd characters around or inside it, odd text, or text about 500 long."""
    pieces = st.text(alphabet=st.sampled_from(_ODD_CHARACTERS), max_size=3)
    return st.one_of(
        st.builds(lambda before, after: before + good + after, pieces, pieces),
        st.builds(
            lambda at, piece: good[:at] + piece + good[at:],
            st.integers(min_value=0, max_value=len(good)),
            pieces,
        ),
        st.text(alphabet=st.sampled_from(_ODD_CHARACTERS), max_size=8),
        st.builds(lambda n, c: c * n, st.integers(min_value=498, max_value=502), pieces),
    )


@st.composite
def _fuzzed_answers(draw: st.DrawFn) -> etree._Element:
    """The answer for a valid citizen, a few of its wire texts changed or removed."""
    record = wire.build_get_citizen_response(draw(citizens()))[0]
    texts = {etree.QName(child).localname: child.text or "" for child in record}
    for name in draw(st.sets(st.sampled_from(list(GOOD)), max_size=3)):
        if draw(st.booleans()) and name in texts:
            del texts[name]
        else:
            texts[name] = draw(_mutations(texts.get(name, GOOD[name])))
    fields = [(name, value) for name, value in texts.items() if _xml_can_hold(value)]
    return _record("GetCitizenResponse", fields)


@settings(max_examples=400, deadline=None)
@given(element=_fuzzed_answers())
def test_fuzzed_answers_read_as_the_plain_reading_reads_them(element: etree._Element) -> None:
    """Read in one pass, the very Citizen of the plain reading; else the plain outcome."""
    _same_as_the_plain_reading(element)


@settings(max_examples=300, deadline=None)
@given(element=_fuzzed_answers())
def test_fuzzed_answers_parsed_read_as_the_plain_reading_reads_them(
    element: etree._Element,
) -> None:
    """The same answers as the hardened parser reads them once sent: an empty element has no
    text at all (None, not ""), a CR LF is a line feed."""
    _same_as_the_plain_reading(parse_xml(etree.tostring(element)))


@st.composite
def _text_lists(draw: st.DrawFn) -> list[str]:
    """A few texts of a record: good ones, mutated ones (odd characters at either end or
    inside, combining marks that could join across a boundary, about 500 long), odd ones."""
    goods = st.sampled_from([*GOOD.values(), "ễ", "a", "e\u0301", "\u0301a", "Ω", "한"])
    one = st.one_of(goods, goods, goods.flatmap(_mutations), st.sampled_from(TEXT_VALUES))
    return draw(st.lists(one, min_size=1, max_size=5))


def _checked_together(texts: list[str]) -> bool:
    joined = wire._JOIN.join(texts)
    kept = wire._KEPT_TEXTS[len(texts)].fullmatch(joined) is not None
    return kept and unicodedata.is_normalized("NFC", joined)


_SUSPECT = re.compile(f"[{LINE_SUSPECTS}]")


@settings(max_examples=600, deadline=None)
@given(texts=_text_lists())
def test_texts_kept_together_are_each_kept_alone(texts: list[str]) -> None:
    """When the joined texts pass the one check, each text alone is one ``_text`` (strip,
    length, ``clean_line``) returns unchanged; when each is clean, NFC and unstripped, the
    joined texts pass (the one-pass reading is not lost for them)."""
    each_kept = all(wire._text(text) == text and not _SUSPECT.search(text) for text in texts)
    if _checked_together(texts):
        assert all(wire._text(text) == text for text in texts)
    assert _checked_together(texts) is each_kept


def test_the_joining_character_composes_with_nothing() -> None:
    """NUL has no decomposition, is in none, and has combining class 0: NFC of texts joined
    by it is the NFC of each, joined, so the joined text is NFC exactly when each text is."""
    assert wire._JOIN == "\x00"
    assert unicodedata.combining(wire._JOIN) == 0
    assert unicodedata.decomposition(wire._JOIN) == ""
    for code in range(0x110000):
        assert "0000" not in unicodedata.decomposition(chr(code)).split(), hex(code)
    assert wire._KEPT_TEXTS[1].fullmatch("An")
    assert wire._KEPT_TEXTS[2].fullmatch("A\x00n")
    for held in ("A\x00n", "A\x00\x00n", "\x00An", "An\x00"):  # texts holding NUL
        assert not wire._KEPT_TEXTS[1].fullmatch(held)
        assert not wire._KEPT_TEXTS[2].fullmatch(wire._JOIN.join(["An", held]))
        assert not _xml_can_hold(held)


def test_the_texts_pattern_strips_what_python_strips() -> None:
    """``\\s`` in the pattern is Python's ``isspace``, for every character."""
    space = re.compile(r"\s")
    for code in range(0x110000):
        char = chr(code)
        assert (space.fullmatch(char) is not None) is char.isspace(), hex(code)


def test_a_clean_answer_checks_its_texts_together() -> None:
    """The good answer, and one with only its required fields, are read without checking
    each text alone."""
    for fields in (_with(), _with(currentAddress=None, ethnicity=None)):
        element = _record("GetCitizenResponse", fields)
        with mock.patch.object(wire, "_text", side_effect=AssertionError("one by one")):
            citizen = wire._citizen_at_once(element)
        assert citizen is not None
        assert _held(citizen) == _held(wire._read_get_citizen_response(element))


def test_the_one_pass_reading_checks_the_citizen_model_as_it_is() -> None:
    """The one-pass reading applies ``Citizen``'s rules as written here: a change to the model
    (a field, a type, a default, a validator) must be made there too, and this test with it."""
    assert Citizen.__annotations__ == {
        "citizen_id": "CitizenId",
        "full_name": "Text",
        "date_of_birth": "BirthDate",
        "sex": "Sex",
        "place_of_origin": "Text",
        "permanent_address": "Text",
        "current_address": "Text | None",
        "nationality": "CountryCode",
        "ethnicity": "Text | None",
    }
    assert Citizen.model_config == {
        "frozen": True,
        "extra": "forbid",
        "hide_input_in_errors": True,
    }
    optional = {n: f.default for n, f in Citizen.model_fields.items() if not f.is_required()}
    assert optional == {"current_address": None, "nationality": "VN", "ethnicity": None}
    decorators = Citizen.__pydantic_decorators__
    assert list(decorators.model_validators) == ["_agrees_with_citizen_id"]
    assert not decorators.field_validators
    assert not decorators.validators
    assert not decorators.root_validators
    assert get_args(models.Text)[1:] == (
        StringConstraints(strip_whitespace=True, min_length=1, max_length=500),
        AfterValidator(line_validator),
    )
    assert get_args(models.BirthDate)[1:] == (AfterValidator(plausible_birth_date),)
    assert get_args(models.CountryCode)[1:] == (StringConstraints(pattern=r"^[A-Z]{2}$"),)
    assert get_args(CitizenId)[1:] == (AfterValidator(validate_citizen_id),)
    assert {sex.value for sex in Sex} == {"male", "female"}


def test_pydantic_strips_no_character_that_python_keeps() -> None:
    """The one-pass reading leaves a text with a Python ``isspace`` character at either end to
    the plain reading: every character pydantic strips must be one of them."""
    strip = TypeAdapter(Annotated[str, StringConstraints(strip_whitespace=True)]).validate_python
    kept = "".join(c for c in map(chr, range(0x30000)) if _xml_can_hold(c) and not c.isspace())
    assert strip(f"{kept}x") == f"{kept}x"
    assert strip(f"x{kept}") == f"x{kept}"


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


def test_the_request_is_the_template_as_copy_copy_copies_it() -> None:
    """The template's own ``__copy__`` (called directly) is ``copy.copy``'s: a deep copy, the
    template left as it was."""
    template = wire._GET_CITIZEN_REQUEST_TEMPLATE
    before = etree.tostring(template)
    for citizen_id in (ID, make_citizen_id("840", 2001, Sex.MALE, 42)):
        plain = copy.copy(template)
        plain[0].text = citizen_id
        built = wire.build_get_citizen_request(citizen_id)
        assert etree.tostring(built) == etree.tostring(plain)
        assert built is not template
        assert built[0] is not template[0]
    assert etree.tostring(template) == before


@pytest.mark.parametrize(
    "value", ["", " " + ID, ID[:11], "999" + ID[3:], "٠" + ID[1:], ID + "\n", None, 1]
)
def test_a_bad_id_is_refused_with_the_parsers_error(value: str) -> None:
    """The request builder refuses what the parser refuses, with its error."""
    with pytest.raises(SchemaError) as built:
        wire.build_get_citizen_request(value)
    with pytest.raises(SchemaError) as parsed:
        parse_citizen_id(value)
    assert (type(built.value), built.value.message) == (type(parsed.value), parsed.value.message)
