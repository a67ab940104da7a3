"""The SOAP connector's shortcuts build what the plain code built.

* ``header_for`` fills an ``XRoadHeader`` in as a draft and switches its class: the header is
  the one ``XRoadHeader(...)`` makes, in every respect (equality, hash, repr, fields, frozen);
* ``envelope`` finds its template by the identity of the header's client and service: equal
  but distinct objects, more of them than are kept, give the bytes a fresh template gives;
* a reply's Body elements are found with ``iterchildren("*")``: the elements the list of the
  children with a string tag held, whatever else the Body holds;
* the ``requestHash`` a reply must echo comes from ``binascii.b2a_base64``: ``b64encode``'s text.
"""

from __future__ import annotations

import base64
import binascii
import copy
import dataclasses
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from connectors.base import CallContext, UpstreamConfig
from connectors.errors import InvalidRequest
from connectors.population import PopulationConnector, population_contract
from connectors.soap import BODY, ENVELOPE, HEADER
from connectors.transport import FakeTransport, HttpResponse
from schemas.wire import population as wire
from schemas.wire.xroad import XRoadClient, XRoadHeader, XRoadService, build_header_elements
from security.keys import load_party
from security.trust import TrustStore

CTX = CallContext(
    "9b3a3f0e-0000-4000-8000-000000000001",
    "province-app",
    "VN001090000001",
    "000.00.04.H04-261126-0007",
)


async def _unused(method: str, url: str, headers: object, body: bytes) -> HttpResponse:
    raise AssertionError("no request is sent")


@pytest.fixture(scope="module")
def connector(dev_keys: Path) -> PopulationConnector:
    return PopulationConnector(
        UpstreamConfig(name="population", base_url="http://population.test/soap"),
        credentials=load_party(dev_keys, "adapter"),
        trust=TrustStore.from_pem_file(dev_keys / "ca" / "cert.pem"),
        member_code="H04",
        contract=population_contract(),
        transport=FakeTransport(_unused),  # type: ignore[arg-type]
    )


@pytest.mark.parametrize("operation", ["GetCitizen", "VerifyCitizen"])
@pytest.mark.parametrize(
    "ctx",
    [
        CTX,
        dataclasses.replace(CTX, message_id="", user_id=" VN<&> ", issue="hồ sơ ]]>"),
        dataclasses.replace(CTX, user_id="x", issue="y"),
    ],
)
def test_a_header_drafted_is_the_header_made(
    connector: PopulationConnector, operation: str, ctx: CallContext
) -> None:
    drafted = connector.header_for(operation, ctx)
    made = XRoadHeader(
        client=connector.client_id,
        service=connector.services[operation],
        message_id=ctx.message_id,
        user_id=ctx.user_id,  # type: ignore[arg-type]
        issue=ctx.issue,  # type: ignore[arg-type]
    )
    assert type(drafted) is XRoadHeader
    assert drafted == made
    assert hash(drafted) == hash(made)
    assert repr(drafted) == repr(made)
    assert dataclasses.astuple(drafted) == dataclasses.astuple(made)
    for field in dataclasses.fields(XRoadHeader):  # every slot filled, with the same object
        assert getattr(drafted, field.name) is getattr(made, field.name) or (
            getattr(drafted, field.name) == getattr(made, field.name)
        )
    with pytest.raises(dataclasses.FrozenInstanceError):
        drafted.issue = "changed"  # type: ignore[misc]
    assert dataclasses.replace(drafted, issue="z") == dataclasses.replace(made, issue="z")
    assert copy.copy(drafted) == made
    assert copy.deepcopy(drafted) == made
    assert drafted.response(b"<r/>") == made.response(b"<r/>")


@pytest.mark.parametrize(
    "ctx",
    [
        dataclasses.replace(CTX, user_id=None),
        dataclasses.replace(CTX, issue=""),
        dataclasses.replace(CTX, user_id="", issue=None),
    ],
)
def test_a_header_without_the_official_or_the_dossier_is_refused_as_before(
    connector: PopulationConnector, ctx: CallContext
) -> None:
    with pytest.raises(InvalidRequest) as refused:
        connector.header_for("GetCitizen", ctx)
    assert refused.value.fault_code == "missing_context"
    assert refused.value.message_id == ctx.message_id


def _fresh(nsmap: dict[str, str], header: XRoadHeader, payload: etree._Element) -> bytes:
    """The envelope built from nothing, field by field."""
    root = etree.Element(ENVELOPE, nsmap=nsmap)
    etree.SubElement(root, HEADER).extend(build_header_elements(header))
    etree.SubElement(root, BODY).append(payload)
    return etree.tostring(root)


def test_templates_found_by_identity_give_the_bytes_of_fresh_envelopes(
    connector: PopulationConnector,
) -> None:
    """Equal clients and services as new objects on every call, more of them than the
    connector keeps templates for, among the ones it reuses: the same bytes every time."""
    base = connector.header_for("GetCitizen", CTX)
    for round_ in range(3):
        for number in range(80):
            equal = dataclasses.replace(
                base,
                client=dataclasses.replace(base.client),
                service=dataclasses.replace(base.service, service_code=f"Op{number % 70}"),
                message_id=f"m-{round_}-{number}",
            )
            for header in (base, equal, dataclasses.replace(equal, protocol_version="4.1")):
                payload = wire.build_get_citizen_request("001090000001")
                built = connector.envelope(header, copy.deepcopy(payload))
                assert etree.tostring(built) == _fresh(connector._nsmap, header, payload)
    assert len(connector._templates) <= 64
    member = dataclasses.replace(base, client=XRoadClient(member_code="H05"))
    assert b"H05" in etree.tostring(connector.envelope(member, etree.Element("p")))
    service = XRoadService(member_code="M", service_code="S")
    other = dataclasses.replace(base, service=service)
    assert etree.tostring(connector.envelope(other, etree.Element("p"))) == _fresh(
        connector._nsmap, other, etree.Element("p")
    )


_BODY_CHILDREN = st.lists(
    st.sampled_from(["element", "other", "comment", "instruction", "entity", "text"]),
    max_size=5,
)


@settings(max_examples=200, deadline=None)
@given(children=_BODY_CHILDREN)
def test_body_elements_are_the_children_with_a_string_tag(children: list[str]) -> None:
    body = etree.Element(BODY)
    for kind in children:
        if kind == "element":
            etree.SubElement(body, wire.GET_CITIZEN_RESPONSE)
        elif kind == "other":
            etree.SubElement(body, "{urn:other}x").text = "t"
        elif kind == "comment":
            body.append(etree.Comment("c"))
        elif kind == "instruction":
            body.append(etree.ProcessingInstruction("pi", "x"))
        elif kind == "entity":
            body.append(etree.Entity("amp"))
        elif len(body):
            body[-1].tail = " text "
        else:
            body.text = " text "
    assert list(body.iterchildren("*")) == [c for c in body if isinstance(c.tag, str)]


@settings(max_examples=200, deadline=None)
@given(digest=st.binary(max_size=64))
def test_the_request_hash_text_is_that_of_b64encode(digest: bytes) -> None:
    assert binascii.b2a_base64(digest, newline=False).decode("ascii") == base64.b64encode(
        digest
    ).decode("ascii")
