"""The population database connector (SOAP 1.1 + WS-Security + X-Road 4.0): citizen lookups.

``get_citizen`` and ``verify_citizen`` build their Body with ``schemas.wire.population`` (plain
lxml, no zeep on the hot path), send it through ``SoapConnector`` and read the reply back into the
canonical model. The WSDL is bound by zeep once, at construction, from ``schemas/wsdl``.

Faults: ``CITIZEN_NOT_FOUND`` → ``NotFound``; ``INVALID_CITIZEN_ID``, ``INVALID_REQUEST``,
``MISSING_HEADER`` → ``InvalidRequest``; ``BAD_SIGNATURE`` → ``UpstreamRejected``;
``UNAVAILABLE`` (a Server fault) → ``UpstreamUnavailable``, retried.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from connectors.base import CallContext, UpstreamConfig
from connectors.errors import (
    BadUpstreamResponse,
    InvalidRequest,
    NotFound,
    PermanentError,
    UpstreamRejected,
)
from connectors.exchange import ExchangeRecorder
from connectors.resilience import Resilience
from connectors.soap import DEFAULT_MAX_SKEW, DEFAULT_SIGNATURE_TTL, SoapConnector
from connectors.transport import Transport
from connectors.wsdl import SoapContract
from schemas.errors import InvalidCitizenId, InvalidWireRecord, SchemaError
from schemas.files import POPULATION_NS, POPULATION_WSDL
from schemas.models import Citizen
from schemas.wire import population as wire
from schemas.wire.xroad import XRoadClient, XRoadService
from security.keys import Credentials
from security.trust import TrustStore

GET_CITIZEN = "GetCitizen"
VERIFY_CITIZEN = "VerifyCitizen"

#: the population service's X-Road identity: VN / GOV / CSDLQGDC / population, version v1
POPULATION_SERVICE = XRoadService(
    member_code="CSDLQGDC", service_code="", subsystem_code="population", service_version="v1"
)
#: our client subsystem's code under the province's member code
CLIENT_SUBSYSTEM = "lienthong"


def population_contract() -> SoapContract:
    """The population WSDL bound by zeep, checked to have the operations this connector uses."""
    contract = SoapContract.from_wsdl(POPULATION_WSDL)
    contract.require(wire.OPERATIONS)
    return contract


class PopulationConnector(SoapConnector):
    """Looks up and verifies citizens in the national population database."""

    fault_code_tag = f"{{{POPULATION_NS}}}code"
    fault_errors: Mapping[str, type[PermanentError]] = {
        wire.FaultCode.CITIZEN_NOT_FOUND.value: NotFound,
        wire.FaultCode.INVALID_CITIZEN_ID.value: InvalidRequest,
        wire.FaultCode.INVALID_REQUEST.value: InvalidRequest,
        wire.FaultCode.MISSING_HEADER.value: InvalidRequest,
        wire.FaultCode.BAD_SIGNATURE.value: UpstreamRejected,
    }
    transient_fault_codes = frozenset(code.value for code in wire.FaultCode if code.transient)

    def __init__(
        self,
        config: UpstreamConfig,
        *,
        credentials: Credentials,
        trust: TrustStore,
        member_code: str,
        contract: SoapContract | None = None,
        service: XRoadService = POPULATION_SERVICE,
        transport: Transport | None = None,
        recorder: ExchangeRecorder | None = None,
        resilience: Resilience | None = None,
        signature_ttl: dt.timedelta = DEFAULT_SIGNATURE_TTL,
        max_skew: dt.timedelta = DEFAULT_MAX_SKEW,
    ) -> None:
        super().__init__(
            config,
            contract=contract or population_contract(),
            credentials=credentials,
            trust=trust,
            client=XRoadClient(member_code=member_code, subsystem_code=CLIENT_SUBSYSTEM),
            service=service,
            body_nsmap=wire.NSMAP,
            transport=transport,
            recorder=recorder,
            resilience=resilience,
            signature_ttl=signature_ttl,
            max_skew=max_skew,
        )

    def _invalid(self, operation: str, ctx: CallContext, exc: SchemaError) -> InvalidRequest:
        code = wire.FaultCode.INVALID_REQUEST
        if isinstance(exc, InvalidCitizenId):
            code = wire.FaultCode.INVALID_CITIZEN_ID
        return InvalidRequest(
            f"{self.name}: {operation} not sent, the request is malformed ({code.value})",
            upstream=self.name,
            message_id=ctx.message_id,
            fault_code=code.value,
        )

    def _malformed(self, operation: str, ctx: CallContext) -> BadUpstreamResponse:
        return BadUpstreamResponse(
            f"{self.name}: {operation} reply does not map to the canonical model",
            upstream=self.name,
            message_id=ctx.message_id,
            fault_code="malformed_record",
        )

    async def get_citizen(
        self, citizen_id: str, ctx: CallContext, *, deadline: float | None = None
    ) -> Citizen:
        """The citizen with ``citizen_id``; ``NotFound`` when the database does not know them."""
        try:
            payload = wire.build_get_citizen_request(citizen_id)
        except SchemaError as exc:
            raise self._invalid(GET_CITIZEN, ctx, exc) from exc
        element = await self.call(GET_CITIZEN, payload, ctx, deadline=deadline)
        try:
            return wire.read_get_citizen_response(element)
        except (InvalidWireRecord, SchemaError) as exc:
            raise self._malformed(GET_CITIZEN, ctx) from exc

    async def verify_citizen(
        self,
        citizen_id: str,
        full_name: str,
        date_of_birth: dt.date,
        ctx: CallContext,
        *,
        deadline: float | None = None,
    ) -> bool:
        """Whether ID, name and date of birth belong together (nothing else is disclosed)."""
        try:
            payload = wire.build_verify_citizen_request(citizen_id, full_name, date_of_birth)
        except SchemaError as exc:
            raise self._invalid(VERIFY_CITIZEN, ctx, exc) from exc
        element = await self.call(VERIFY_CITIZEN, payload, ctx, deadline=deadline)
        try:
            return wire.read_verify_citizen_response(element)
        except (InvalidWireRecord, SchemaError) as exc:
            raise self._malformed(VERIFY_CITIZEN, ctx) from exc


__all__ = [
    "CLIENT_SUBSYSTEM",
    "GET_CITIZEN",
    "POPULATION_SERVICE",
    "VERIFY_CITIZEN",
    "PopulationConnector",
    "population_contract",
]
