"""``DirectCitizenLookup``: which requests it serves itself and which it leaves to FastAPI.

What it answers is compared with FastAPI's answers in ``test_api_fast_path_parity.py``; here,
that it serves the valid lookups (with the route in the scope, as routing puts it) and passes
every other request on unchanged.
"""

from __future__ import annotations

import contextlib
from types import SimpleNamespace
from typing import Any, cast

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from starlette.types import Message, Receive, Scope, Send

from adapter_api.clients import ClientRegistry, Role, make_client
from adapter_api.container import Container
from adapter_api.issues import Issue
from adapter_api.metrics import Metrics
from adapter_api.routes.citizens import lookup_route
from adapter_api.routes.direct import DirectCitizenLookup
from adapter_api.routes.fast_path import without_fast_paths
from schemas.models import Citizen, Sex
from security.keys import load_party

CITIZEN_ID = "001085000123"
OFFICIAL = "VN001090000001"
ISSUE = "000.00.04.H04-261126-0001"
PATH = f"/v1/citizens/{CITIZEN_ID}"


class _Population:
    name = "population"

    async def get_citizen(self, citizen_id: str, ctx: Any) -> Citizen:
        return Citizen(
            citizen_id=citizen_id,
            full_name="Nguyễn Văn An",
            date_of_birth="1985-03-02",
            sex=Sex.MALE,
            place_of_origin="Hà Nội",
            permanent_address="Hà Nội",
        )


class _Issues:
    async def get(self, dossier_code: str, *, fresh: bool = False) -> Issue | None:
        return Issue("TP.HT", frozenset({CITIZEN_ID}), None)

    async def serves(self, issue: Issue, code: str, citizen_id: str, *, grace: Any) -> bool:
        return True


class _Logs:
    def __init__(self) -> None:
        self.rows: list[Any] = []
        self.access_log = self

    async def record(self, entry: Any) -> None:
        self.rows.append(entry)

    def together(self) -> contextlib.nullcontext[None]:
        return contextlib.nullcontext()


@pytest.fixture
def container(dev_keys: Any) -> Container:
    """What the lookup reads of a container: a province client, the faked upstream, logs."""
    party = load_party(dev_keys, "province-app")
    logs = _Logs()
    fake = SimpleNamespace(
        clients=ClientRegistry(
            [make_client("province-app", Role.PROVINCE, certificate=party.certificate)]
        ),
        rate_limiter=None,
        issues=_Issues(),
        settings=SimpleNamespace(purpose_grace_days=30),
        population=_Population(),
        metrics=Metrics(),
        logs=logs,
        access_log=logs,
    )
    return cast(Container, fake)


class _Inner:
    """FastAPI's place: notes the requests passed on to it."""

    def __init__(self) -> None:
        self.passed: list[Scope] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.passed.append(scope)
        await send({"type": "http.response.start", "status": 418, "headers": []})
        await send({"type": "http.response.body", "body": b""})


def _scope(
    method: str = "GET", path: str = PATH, headers: list[tuple[bytes, bytes]] | None = None
) -> Scope:
    return {
        "type": "http",
        "method": method,
        "path": path,
        "root_path": "",
        "query_string": b"",
        "headers": [(b"x-user-id", OFFICIAL.encode()), (b"x-issue", ISSUE.encode())]
        if headers is None
        else headers,
        "state": {"client_id": "province-app", "request_id": "r-1"},
    }


async def _call(layer: DirectCitizenLookup, scope: Scope) -> list[Message]:
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    await layer(scope, receive, send)
    return sent


async def test_a_valid_lookup_is_served_with_the_route_in_the_scope(
    container: Container,
) -> None:
    inner = _Inner()
    layer = DirectCitizenLookup(inner, container=container, route=lookup_route())
    scope = _scope()
    sent = await _call(layer, scope)
    assert inner.passed == []
    assert sent[0]["status"] == 200
    assert scope["route"] is lookup_route()
    assert scope["route"].path == "/v1/citizens/{citizen_id}"
    assert b'"citizen_id":"001085000123"' in sent[1]["body"]


@pytest.mark.parametrize(
    "scope",
    [
        _scope(method="HEAD"),
        _scope(method="POST"),
        _scope(path=PATH + "/"),
        _scope(path="/v1/citizens/" + CITIZEN_ID[:-1]),
        _scope(path="/v1/citizens/verify"),
        _scope(path="/v1/citizens//" + CITIZEN_ID),
        _scope(path="/v2/citizens/" + CITIZEN_ID),
        {**_scope(), "root_path": "/api"},
        _scope(headers=[(b"x-user-id", OFFICIAL.encode())]),
        _scope(headers=[(b"x-issue", ISSUE.encode())]),
        _scope(headers=[(b"x-user-id", OFFICIAL.encode())] * 2 + [(b"x-issue", ISSUE.encode())]),
        _scope(headers=[(b"x-user-id", b"VN1"), (b"x-issue", ISSUE.encode())]),
        _scope(headers=[(b"x-user-id", OFFICIAL.encode()), (b"x-issue", b"nope")]),
        {"type": "lifespan"},
    ],
)
async def test_anything_else_goes_on_to_fastapi_unchanged(
    container: Container, scope: Scope
) -> None:
    inner = _Inner()
    layer = DirectCitizenLookup(inner, container=container, route=lookup_route())
    before = dict(scope)
    await _call(layer, scope)
    assert inner.passed == [scope]
    assert scope == before


async def test_an_app_without_fast_paths_gets_no_direct_route(container: Container) -> None:
    app = FastAPI()
    without_fast_paths(app)
    inner = _Inner()
    layer = DirectCitizenLookup(inner, container=container, route=lookup_route())
    scope = {**_scope(), "app": app}
    await _call(layer, scope)
    assert inner.passed == [scope]


def test_only_the_lookup_route_can_be_served_directly(container: Container) -> None:
    async def endpoint() -> None:
        return None

    for route in (
        APIRoute("/v1/citizens/{citizen_id}", endpoint, methods=["POST"]),
        APIRoute("/v1/citizens/{tax_code}", endpoint, methods=["GET"]),
    ):
        with pytest.raises(TypeError, match="not the citizen lookup route"):
            DirectCitizenLookup(_Inner(), container=container, route=route)
