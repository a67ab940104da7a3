"""``create_mock_app``: the three mock national systems (or some of them) in one ASGI app.

URL layout::

    GET  /population/soap?wsdl     POST /population/soap
    POST /registry/token
    GET  /registry/apiCSDLDKDN/1.0/chiTietDoanhNghiep?maSoDoanhNghiep=…
    POST /portal/login             POST /portal/api
    POST /tsa                      RFC 3161 time-stamps (when the key folder has a ``tsa`` party)
    POST /{agency}/api/requests    GET /{agency}/api/requests/{reference}
                                   (agency: civil-status, residence, social-security; agencies.py)
    POST /ministry/webhooks        POST /zns/message/template
    POST /sms/SendMultipleMessage_V4_post_json/
    /_admin/…                      test data, what the portal holds, faults (admin.py)

Nothing is built at import; everything hangs off the app returned here. ``app.state.mock`` is the
:class:`MockState` (records, fault plan, portal state, tokens) for tests running in-process.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from mock_endpoints import agencies, portal, registry
from mock_endpoints.admin import AdminRoutes
from mock_endpoints.agency_state import AgencyBook, AgencyClock, agency_books
from mock_endpoints.data import SyntheticData
from mock_endpoints.faults import UPSTREAMS, FaultPlan
from mock_endpoints.ministry import MinistryReceiver
from mock_endpoints.population import PopulationService
from mock_endpoints.portal_state import PortalState
from mock_endpoints.records import MockRecords
from mock_endpoints.responses import JsonResponse
from mock_endpoints.rest import SignedRest
from mock_endpoints.settings import MockSettings
from mock_endpoints.sms import SmsService
from mock_endpoints.tokens import TokenStore
from mock_endpoints.tsa import TSA_PATH, TsaService
from mock_endpoints.zns import ZnsService
from security.http_signatures import HttpSigner, HttpVerifier, TrustedKeyDirectory
from security.keys import load_party
from security.pki import TSA_PARTY
from security.replay import MemoryReplayCache
from security.trust import TrustStore


@dataclass
class MockState:
    """What the running mock holds, reachable as ``app.state.mock``."""

    settings: MockSettings
    data: SyntheticData
    records: MockRecords
    faults: FaultPlan
    portal: PortalState | None
    tokens: TokenStore | None
    agencies: dict[str, AgencyBook] = field(default_factory=dict)
    agency_clock: AgencyClock = field(default_factory=AgencyClock)


def create_mock_app(settings: MockSettings) -> Starlette:
    """The mock national endpoints described by ``settings``, as one Starlette app."""
    keys_dir = settings.keys_dir
    trust = TrustStore.from_pem_file(keys_dir / "ca" / "cert.pem")
    data = SyntheticData(settings.seed, settings.citizens, settings.businesses)
    records = MockRecords(data)
    faults = FaultPlan(settings.faults, seed=settings.seed)
    served = tuple(name for name in UPSTREAMS if settings.serves(name))
    verifier = HttpVerifier(
        TrustedKeyDirectory(keys_dir, trust), MemoryReplayCache(), max_skew=settings.max_skew
    )
    routes: list[BaseRoute] = []
    portal_state: PortalState | None = None
    tokens: TokenStore | None = None

    if "population" in served:
        service = PopulationService(
            records,
            load_party(keys_dir, "population"),
            trust,
            faults,
            allow_unsigned=settings.allow_unsigned,
        )
        routes += [
            Route("/population/soap", service.wsdl, methods=["GET"]),
            Route("/population/soap", service.handle, methods=["POST"]),
        ]

    if "registry" in served:
        tokens = TokenStore(settings.registry_clients, ttl=settings.token_ttl)
        registry_service = registry.RegistryService(records, tokens)
        rest = SignedRest(
            registry.UPSTREAM,
            signer=HttpSigner(load_party(keys_dir, "registry"), ttl=settings.response_ttl),
            verifier=verifier,
            faults=faults,
            signature_error=registry.signature_error,
            unavailable=registry.unavailable,
            allow_unsigned=settings.allow_unsigned,
        )

        async def registry_token(request: Request) -> Response:
            return await rest.run(request, registry_service.token, droppable=False)

        async def registry_detail(request: Request) -> Response:
            return await rest.run(request, registry_service.detail)

        routes += [
            Route(registry.TOKEN_PATH, registry_token, methods=["POST"]),
            Route(registry.DETAIL_PATH, registry_detail, methods=["GET"]),
        ]

    if "portal" in served:
        portal_state = PortalState(
            procedures=data.procedures,
            session_ttl=settings.session_ttl,
            users=settings.portal_users,
            dedup=settings.portal_dedup,
        )
        portal_service = portal.PortalService(portal_state)
        portal_rest = SignedRest(
            portal.UPSTREAM,
            signer=HttpSigner(load_party(keys_dir, "portal"), ttl=settings.response_ttl),
            verifier=verifier,
            faults=faults,
            signature_error=portal.signature_error,
            unavailable=portal.unavailable,
            allow_unsigned=settings.allow_unsigned,
        )

        async def portal_login(request: Request) -> Response:
            return await portal_rest.run(request, portal_service.login, droppable=False)

        async def portal_api(request: Request) -> Response:
            return await portal_rest.run(request, portal_service.api, droppable=portal.is_write)

        routes += [
            Route(portal.LOGIN_PATH, portal_login, methods=["POST"]),
            Route(portal.API_PATH, portal_api, methods=["POST"]),
        ]

    if (keys_dir / TSA_PARTY / "key.pem").is_file():
        routes.append(
            Route(TSA_PATH, TsaService(load_party(keys_dir, TSA_PARTY)).handle, methods=["POST"])
        )
    agency_clock = AgencyClock()
    books = {
        name: book for name, book in agency_books(records, agency_clock).items() if name in served
    }
    if books:
        rests = {
            name: SignedRest(
                name,
                signer=HttpSigner(load_party(keys_dir, name), ttl=settings.response_ttl),
                verifier=verifier,
                faults=faults,
                signature_error=agencies.signature_error,
                unavailable=agencies.unavailable,
                allow_unsigned=settings.allow_unsigned,
            )
            for name in books
        }
        routes += agencies.agency_routes(books, rests)
        routes += agencies.AgencyAdmin(books, agency_clock).routes()
    # push receivers: a ministry's webhook endpoint, Zalo ZNS and SMS brandname
    if "ministry" in served:
        routes += MinistryReceiver(verifier, faults).routes()
    if "zns" in served:
        routes += ZnsService(faults).routes()
    if "sms" in served:
        routes += SmsService(faults).routes()

    admin = AdminRoutes(
        records=records, faults=faults, portal=portal_state, tokens=tokens, served=served
    )
    routes += admin.routes()

    async def index(request: Request) -> Response:
        return JsonResponse(
            {
                "name": "lienthong mock national endpoints",
                "served": list(served),
                "seed": settings.seed,
                "admin": "/_admin",
            }
        )

    routes.append(Route("/", index, methods=["GET"]))
    app = Starlette(routes=routes)
    app.state.mock = MockState(
        settings, data, records, faults, portal_state, tokens, books, agency_clock
    )
    return app


__all__ = ["MockState", "create_mock_app"]
