"""The population connector against an in-process double of the SOAP service (no network).

The double verifies our signed request strictly, answers with an envelope signed by the
``population`` party, and can be told to misbehave: faults, unsigned or foreign-signed replies,
a wrong echo or ``requestHash``, proxy errors.
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

import pytest
from lxml import etree

from connectors.base import BreakerSettings, CallContext, RetrySettings, UpstreamConfig
from connectors.errors import (
    BadUpstreamResponse,
    BadUpstreamSignature,
    ConnectorError,
    InvalidRequest,
    NotFound,
    UpstreamRejected,
    UpstreamUnavailable,
)
from connectors.exchange import MemoryRecorder
from connectors.population import PopulationConnector, population_contract
from connectors.resilience import Resilience
from connectors.soap import BODY, ENVELOPE, HEADER, SOAP11_NS
from connectors.transport import FakeTransport, HttpResponse
from schemas.citizen_id import Sex, make_citizen_id
from schemas.models import Citizen
from schemas.wire import population as wire
from schemas.wire.xroad import (
    XRoadClient,
    XRoadHeader,
    XRoadService,
    build_header_elements,
    read_header,
)
from security.keys import Credentials, load_party
from security.trust import TrustStore
from security.wsse import SIGNING_NSMAP, sign_envelope, verify_envelope

CITIZEN = Citizen(
    citizen_id=make_citizen_id("001", 1990, Sex.FEMALE, 7),
    full_name="Nguyễn Thị An",
    date_of_birth=dt.date(1990, 5, 17),
    sex=Sex.FEMALE,
    place_of_origin="Hà Nội",
    permanent_address="1 Tràng Tiền, Hoàn Kiếm, Hà Nội",
)
UNKNOWN = make_citizen_id("001", 1990, Sex.MALE, 99)


class PopulationDouble:
    """Plays the population service; ``mode`` chooses how it answers."""

    def __init__(self, keys: Path) -> None:
        self.trust = TrustStore.from_pem_file(keys / "ca" / "cert.pem")
        self.credentials = load_party(keys, "population")
        self.mode = "ok"
        self.calls = 0
        self.fail_first = 0

    def _reply(self, header_elements: list[etree._Element], body_child: etree._Element) -> bytes:
        nsmap = {"soapenv": SOAP11_NS, **SIGNING_NSMAP}
        root = etree.Element(ENVELOPE, nsmap=nsmap)
        etree.SubElement(root, HEADER).extend(header_elements)
        etree.SubElement(root, BODY).append(body_child)
        signer: Credentials = self.credentials
        if self.mode == "foreign":
            signer = self._foreign
        if self.mode == "unsigned":
            return etree.tostring(root)
        signed = sign_envelope(root, signer)
        if self.mode == "tampered":
            return signed.replace(b"1990-05-17", b"1990-05-18")
        return signed

    async def __call__(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes
    ) -> HttpResponse:
        self.calls += 1
        assert headers["SOAPAction"].startswith('"urn:vn:csdlqgdc:population:1.0#')
        if self.mode.startswith("status:") or self.calls <= self.fail_first:
            status = int(self.mode.split(":")[1]) if self.mode.startswith("status:") else 503
            return HttpResponse(status, {"content-type": "text/html"}, b"<html>busy</html>")
        verified = verify_envelope(body, self.trust, expected_party="adapter")
        request_header = read_header(verified.header)
        answer = request_header.response(body)
        if self.mode == "wrong_hash":
            answer = replace(answer, request_hash="AAAA" + answer.request_hash[4:])  # type: ignore[index]
        if self.mode == "wrong_id":
            answer = replace(answer, message_id="another-message")
        if self.mode == "wrong_issue":
            answer = replace(answer, issue="000.00.04.H04-261126-9999")
        request = next(iter(verified.body))
        if self.mode == "bare_fault":
            return HttpResponse(500, {}, self._fault_reply(None, "UNAVAILABLE"))
        if self.mode.startswith("fault:"):
            return HttpResponse(
                500, {"content-type": "text/xml"}, self._fault_reply(answer, self.mode[6:])
            )
        if request.tag == wire.GET_CITIZEN_REQUEST:
            citizen_id = wire.read_get_citizen_request(request)
            if citizen_id != CITIZEN.citizen_id:
                return HttpResponse(
                    500, {}, self._fault_reply(answer, wire.FaultCode.CITIZEN_NOT_FOUND)
                )
            child = wire.build_get_citizen_response(CITIZEN)
        else:
            query = wire.read_verify_citizen_request(request)
            child = wire.build_verify_citizen_response(
                query.citizen_id == CITIZEN.citizen_id
                and query.full_name == CITIZEN.full_name
                and query.date_of_birth == CITIZEN.date_of_birth
            )
        reply = self._reply(build_header_elements(answer), child)
        return HttpResponse(200, {"content-type": "text/xml; charset=utf-8"}, reply)

    def _fault_reply(self, answer: object, code: str) -> bytes:
        fault_code = wire.FaultCode(code)
        fault = etree.Element(f"{{{SOAP11_NS}}}Fault")
        etree.SubElement(fault, "faultcode").text = f"soapenv:{fault_code.faultcode}"
        etree.SubElement(fault, "faultstring").text = "refused"
        etree.SubElement(fault, "detail").append(wire.build_fault_detail(fault_code))
        header = [] if answer is None else build_header_elements(answer)  # type: ignore[arg-type]
        return self._reply(header, fault)

    _foreign: Credentials


@pytest.fixture(scope="module")
def contract():  # type: ignore[no-untyped-def]
    """The WSDL bound once for the module."""
    return population_contract()


@pytest.fixture
def double(dev_keys: Path) -> PopulationDouble:
    """A well-behaved population double."""
    d = PopulationDouble(dev_keys)
    d._foreign = load_party(dev_keys, "registry")
    return d


def _connector(
    dev_keys: Path, double: PopulationDouble, contract: object, recorder: MemoryRecorder
) -> PopulationConnector:
    async def no_sleep(_: float) -> None:
        return None

    config = UpstreamConfig(
        name="population",
        base_url="http://population.test/population/soap",
        retry=RetrySettings(attempts=3, initial_backoff=0.0, jitter=0.0),
        breaker=BreakerSettings(failure_threshold=50),
    )
    return PopulationConnector(
        config,
        credentials=load_party(dev_keys, "adapter"),
        trust=TrustStore.from_pem_file(dev_keys / "ca" / "cert.pem"),
        member_code="H04",
        contract=contract,  # type: ignore[arg-type]
        transport=FakeTransport(double),
        recorder=recorder,
        resilience=Resilience(config, sleep=no_sleep),
    )


CTX = CallContext(
    "9b3a3f0e-0000-4000-8000-000000000001",
    "province-app",
    "VN001090000001",
    "000.00.04.H04-261126-0007",
)


@pytest.fixture
def recorder() -> MemoryRecorder:
    """Keeps every exchange."""
    return MemoryRecorder()


@pytest.fixture
def connector(
    dev_keys: Path, double: PopulationDouble, contract: object, recorder: MemoryRecorder
) -> PopulationConnector:
    """A population connector wired to the double."""
    return _connector(dev_keys, double, contract, recorder)


async def test_get_citizen_returns_the_canonical_citizen(
    connector: PopulationConnector, recorder: MemoryRecorder
) -> None:
    """A signed lookup returns the Citizen, and the exchange is recorded byte for byte."""
    citizen = await connector.get_citizen(CITIZEN.citizen_id, CTX)
    assert citizen == CITIZEN
    [exchange] = recorder.exchanges
    assert exchange.succeeded
    assert exchange.message_id == CTX.message_id
    assert (exchange.sender, exchange.receiver) == ("adapter", "population")
    assert (exchange.user_id, exchange.issue) == (CTX.user_id, CTX.issue)
    assert b"SignatureValue" in exchange.request
    assert exchange.response is not None
    assert b"GetCitizenResponse" in exchange.response


async def test_exchange_carries_the_certificates_signed_and_verified_with(
    connector: PopulationConnector, recorder: MemoryRecorder, dev_keys: Path
) -> None:
    """The recorded exchange names our signing certificate and the one the reply verified
    with (the message log need not parse the envelopes to find them)."""
    await connector.get_citizen(CITIZEN.citizen_id, CTX)
    [exchange] = recorder.exchanges
    assert exchange.request_certificate == load_party(dev_keys, "adapter").certificate
    assert exchange.response_certificate == load_party(dev_keys, "population").certificate


async def test_exchange_carries_the_digest_of_the_request_it_sent(
    connector: PopulationConnector, double: PopulationDouble, recorder: MemoryRecorder
) -> None:
    """The hex SHA-256 of the very bytes recorded (hashed once for the requestHash), on an
    answered call and on failed attempts alike."""
    await connector.get_citizen(CITIZEN.citizen_id, CTX)
    double.mode = "fault:UNAVAILABLE"
    with pytest.raises(UpstreamUnavailable):
        await connector.get_citizen(CITIZEN.citizen_id, CTX)
    assert len(recorder.exchanges) == 4
    for exchange in recorder.exchanges:
        assert exchange.request_sha256 == hashlib.sha256(exchange.request).hexdigest()


async def test_envelopes_of_successive_calls_differ_only_in_their_context(
    connector: PopulationConnector,
) -> None:
    """The envelope copied from the operation's template is the one built field by field,
    and one call's id, official and dossier never leak into the next."""
    first = connector.header_for("GetCitizen", CTX)
    other = replace(CTX, message_id="9b3a3f0e-0000-4000-8000-000000000002", issue="x", user_id="y")
    second = connector.header_for("GetCitizen", other)
    for header in (first, second, first):
        expected = etree.Element(ENVELOPE, nsmap=connector._nsmap)
        etree.SubElement(expected, HEADER).extend(build_header_elements(header))
        etree.SubElement(expected, BODY).append(wire.build_get_citizen_request(UNKNOWN))
        built = connector.envelope(header, wire.build_get_citizen_request(UNKNOWN))
        assert etree.tostring(built) == etree.tostring(expected)


def _deepcopied_envelope(
    connector: PopulationConnector, header: XRoadHeader, payload: etree._Element
) -> etree._Element:
    """The envelope as ``SoapConnector.envelope`` built it before: a deep-copied template."""
    template = etree.Element(ENVELOPE, nsmap=connector._nsmap)
    etree.SubElement(template, HEADER).extend(
        build_header_elements(replace(header, message_id="", user_id="", issue=""))
    )
    etree.SubElement(template, BODY)
    root = copy.deepcopy(template)
    root[0][2].text = header.message_id
    root[0][3].text = header.user_id
    root[0][4].text = header.issue
    root[1].append(payload)
    return root


def _envelope_inputs(connector: PopulationConnector) -> list[tuple[XRoadHeader, etree._Element]]:
    """Headers and bodies that differ in every field the template fixes or a call fills."""
    base = connector.header_for("GetCitizen", CTX)
    verify = connector.header_for("VerifyCitizen", CTX)
    member = XRoadClient(member_code="H04", x_road_instance="VN-TEST", member_class="COM")
    service = XRoadService(member_code="CSDLQGDC", service_code="GetCitizen")
    return [
        (base, wire.build_get_citizen_request(UNKNOWN)),
        (
            replace(verify, message_id="9b3a3f0e-0000-4000-8000-00000000000f"),
            wire.build_verify_citizen_request(
                CITIZEN.citizen_id, "Nguyễn Thị Ánh", CITIZEN.date_of_birth
            ),
        ),
        (
            replace(base, user_id="VN<&>\"'", issue="hồ sơ ]]> & <x/>"),
            wire.build_get_citizen_request(CITIZEN.citizen_id),
        ),
        (
            replace(base, client=member, service=service, protocol_version="4.1"),
            wire.build_get_citizen_request(UNKNOWN),
        ),
        (base.response(b"<request/>"), wire.build_get_citizen_request(UNKNOWN)),
    ]


async def test_envelope_bytes_equal_those_of_a_deep_copied_template(
    connector: PopulationConnector,
) -> None:
    """The template copied with ``copy.copy`` serializes byte for byte as the deep-copied one
    did, for several clients, services, header values (escaped, non-ASCII, a requestHash) and
    bodies, whether the operation's template is new or reused."""
    for _ in range(2):  # the second round copies cached templates
        for header, payload in _envelope_inputs(connector):
            built = connector.envelope(header, copy.deepcopy(payload))
            before = _deepcopied_envelope(connector, header, copy.deepcopy(payload))
            for encoding in ("us-ascii", "utf-8"):
                assert etree.tostring(built, encoding=encoding) == etree.tostring(
                    before, encoding=encoding
                )
            assert read_header(built[0]) == header


async def test_request_header_carries_the_call_context(
    connector: PopulationConnector, double: PopulationDouble
) -> None:
    """client, service, id, userId and issue are filled from config and the call's context."""
    transport = connector.transport
    assert isinstance(transport, FakeTransport)
    await connector.get_citizen(CITIZEN.citizen_id, CTX)
    body = transport.requests[0][3]
    header = read_header(verify_envelope(body, double.trust).header)
    assert header.client.member_code == "H04"
    assert header.client.subsystem_code == "lienthong"
    assert (header.service.member_code, header.service.subsystem_code) == ("CSDLQGDC", "population")
    assert (header.service.service_code, header.service.service_version) == ("GetCitizen", "v1")
    assert (header.message_id, header.user_id, header.issue) == (
        CTX.message_id,
        CTX.user_id,
        CTX.issue,
    )
    assert header.protocol_version == "4.0"


async def test_verify_citizen_answers_match_and_mismatch(connector: PopulationConnector) -> None:
    """VerifyCitizen answers true for the right triple and false for a wrong name."""
    assert await connector.verify_citizen(
        CITIZEN.citizen_id, CITIZEN.full_name, CITIZEN.date_of_birth, CTX
    )
    assert not await connector.verify_citizen(
        CITIZEN.citizen_id, "Someone Else", CITIZEN.date_of_birth, CTX
    )


async def test_unknown_citizen_is_not_found_and_not_retried(
    connector: PopulationConnector, double: PopulationDouble
) -> None:
    """CITIZEN_NOT_FOUND is a permanent NotFound carrying the fault code and message id."""
    with pytest.raises(NotFound) as info:
        await connector.get_citizen(UNKNOWN, CTX)
    assert info.value.fault_code == "CITIZEN_NOT_FOUND"
    assert info.value.message_id == CTX.message_id
    assert UNKNOWN not in str(info.value)
    assert double.calls == 1


@pytest.mark.parametrize(
    ("code", "error"),
    [
        ("INVALID_REQUEST", InvalidRequest),
        ("MISSING_HEADER", InvalidRequest),
        ("BAD_SIGNATURE", UpstreamRejected),
    ],
)
async def test_client_faults_map_to_permanent_errors(
    connector: PopulationConnector, double: PopulationDouble, code: str, error: type[Exception]
) -> None:
    """Client faults are permanent: raised once with their code, never retried."""
    double.mode = f"fault:{code}"
    with pytest.raises(error) as info:
        await connector.get_citizen(CITIZEN.citizen_id, CTX)
    assert info.value.fault_code == code  # type: ignore[attr-defined]
    assert double.calls == 1


async def test_unavailable_server_fault_is_retried(
    connector: PopulationConnector, double: PopulationDouble, recorder: MemoryRecorder
) -> None:
    """The transient UNAVAILABLE Server fault is retried up to the attempt limit."""
    double.mode = "fault:UNAVAILABLE"
    with pytest.raises(UpstreamUnavailable) as info:
        await connector.get_citizen(CITIZEN.citizen_id, CTX)
    assert info.value.fault_code == "UNAVAILABLE"
    assert double.calls == 3
    assert [e.attempt for e in recorder.exchanges] == [1, 2, 3]
    assert all(e.outcome == "UNAVAILABLE" for e in recorder.exchanges)


async def test_fault_without_echo_is_accepted_when_signed(
    connector: PopulationConnector, double: PopulationDouble
) -> None:
    """A signed fault raised before the request was read (no X-Road echo) is still mapped."""
    double.mode = "bare_fault"
    with pytest.raises(UpstreamUnavailable) as info:
        await connector.get_citizen(CITIZEN.citizen_id, CTX)
    assert info.value.fault_code == "UNAVAILABLE"


async def test_proxy_errors_are_ridden_out(
    connector: PopulationConnector, double: PopulationDouble
) -> None:
    """Two 503s from a proxy, then the answer: the caller sees only the citizen."""
    double.fail_first = 2
    assert await connector.get_citizen(CITIZEN.citizen_id, CTX) == CITIZEN
    assert double.calls == 3


@pytest.mark.parametrize(
    ("mode", "reason"),
    [
        ("unsigned", "missing_signature"),
        ("foreign", "unexpected_party"),
        ("tampered", "digest_mismatch"),
    ],
)
async def test_replies_with_bad_signatures_are_refused(
    connector: PopulationConnector, double: PopulationDouble, mode: str, reason: str
) -> None:
    """Unsigned, foreign-signed and tampered replies are refused as BadUpstreamSignature."""
    double.mode = mode
    with pytest.raises(BadUpstreamSignature) as info:
        await connector.get_citizen(CITIZEN.citizen_id, CTX)
    assert info.value.fault_code == reason
    assert double.calls == 1


@pytest.mark.parametrize(
    ("mode", "field"),
    [("wrong_hash", "requestHash"), ("wrong_id", "id"), ("wrong_issue", "issue")],
)
async def test_replies_that_do_not_echo_the_request_are_refused(
    connector: PopulationConnector, double: PopulationDouble, mode: str, field: str
) -> None:
    """A reply with another message id, dossier or request hash does not answer our request."""
    double.mode = mode
    with pytest.raises(BadUpstreamResponse) as info:
        await connector.get_citizen(CITIZEN.citizen_id, CTX)
    assert info.value.fault_code == f"echo_mismatch_{field}"


async def test_malformed_citizen_id_is_refused_before_sending(
    connector: PopulationConnector, double: PopulationDouble
) -> None:
    """A citizen ID of the wrong shape never leaves the adapter."""
    with pytest.raises(InvalidRequest) as info:
        await connector.get_citizen("12345", CTX)
    assert info.value.fault_code == "INVALID_CITIZEN_ID"
    assert double.calls == 0


async def test_lookup_without_official_or_dossier_is_refused(
    connector: PopulationConnector, double: PopulationDouble
) -> None:
    """The X-Road header needs the official and the dossier; without them nothing is sent."""
    with pytest.raises(InvalidRequest) as info:
        await connector.get_citizen(CITIZEN.citizen_id, CallContext.new("province-app"))
    assert info.value.fault_code == "missing_context"
    assert double.calls == 0


async def test_plain_500_without_envelope_is_a_bad_response(
    connector: PopulationConnector, double: PopulationDouble
) -> None:
    """A 500 that is not a SOAP envelope is refused (not retried: only 502/503/504 are)."""
    double.mode = "status:500"
    with pytest.raises((BadUpstreamResponse, BadUpstreamSignature)):
        await connector.get_citizen(CITIZEN.citizen_id, CTX)
    assert double.calls == 1


async def test_health_reports_the_breaker_and_last_outcomes(
    connector: PopulationConnector, double: PopulationDouble
) -> None:
    """health() shows a closed breaker, the operations and the last failure's code."""
    await connector.get_citizen(CITIZEN.citizen_id, CTX)
    with pytest.raises(NotFound):
        await connector.get_citizen(UNKNOWN, CTX)
    health = connector.health()
    assert health.ready
    assert health.state.value == "closed"
    assert set(health.operations) == {"GetCitizen", "VerifyCitizen"}
    assert health.last_success is not None
    assert health.last_failure_code == "CITIZEN_NOT_FOUND"
    assert health.as_dict()["name"] == "population"


async def test_log_lines_carry_no_payload_or_personal_field(
    connector: PopulationConnector, double: PopulationDouble, caplog: pytest.LogCaptureFixture
) -> None:
    """Log lines name upstream, operation, message id and outcome; never IDs, names or bodies."""
    caplog.set_level("DEBUG", logger="lienthong.connectors")
    await connector.get_citizen(CITIZEN.citizen_id, CTX)
    with pytest.raises(NotFound):
        await connector.get_citizen(UNKNOWN, CTX)
    assert caplog.records
    for record in caplog.records:
        text = record.getMessage() + " " + repr(record.__dict__)
        secrets = (CITIZEN.citizen_id, UNKNOWN, CITIZEN.full_name, "1990-05-17", "Envelope")
        for secret in (*secrets, CTX.user_id or "?"):
            assert secret not in text
        assert record.__dict__["upstream"] == "population"
        assert record.__dict__["message_id"] == CTX.message_id


@pytest.mark.parametrize("code", [code.value for code in wire.FaultCode])
async def test_every_fault_the_mock_can_give_is_the_recorded_outcome(
    connector: PopulationConnector,
    double: PopulationDouble,
    recorder: MemoryRecorder,
    code: str,
) -> None:
    """Each SOAP fault code of the population service is what the exchange records, not its
    HTTP 500 and never ``ok``."""
    double.mode = f"fault:{code}"
    with pytest.raises(ConnectorError):
        await connector.get_citizen(CITIZEN.citizen_id, CTX)
    assert {(e.status, e.outcome) for e in recorder.exchanges} == {(500, code)}
