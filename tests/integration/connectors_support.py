"""Helpers for the connectors' integration tests: the real mock served on 127.0.0.1, its admin
routes (faults, counters), a tampering proxy, and quick-to-fail upstream settings."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from lxml import etree
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from connectors.base import (
    BreakerSettings,
    CallContext,
    RetrySettings,
    Timeouts,
    UpstreamConfig,
)
from mock_endpoints.app import create_mock_app
from mock_endpoints.settings import MockSettings
from security.http_signatures import HttpSigner, RequestView
from security.keys import load_party
from security.wsse import SECURITY, sign_envelope
from security.xml import parse_xml
from tests.support.servers import serve_app

OFFICIAL = "VN001090000001"
DOSSIER = "000.00.04.H04-261126-0007"


def context(client: str = "province-app") -> CallContext:
    """A fresh call context with an official and a dossier."""
    return CallContext.new(client, user_id=OFFICIAL, issue=DOSSIER)


def upstream(
    name: str,
    base_url: str,
    *,
    attempt: float = 2.0,
    attempts: int = 3,
    deadline: float = 10.0,
    threshold: int = 50,
    reset: float = 0.3,
    party: str = "",
) -> UpstreamConfig:
    """Settings that fail fast: short timeouts, tiny backoff, a breaker that rarely opens."""
    return UpstreamConfig(
        name=name,
        base_url=base_url,
        party=party,
        timeouts=Timeouts(connect=1.0, attempt=attempt),
        retry=RetrySettings(
            attempts=attempts,
            initial_backoff=0.01,
            max_backoff=0.05,
            jitter=0.01,
            deadline=deadline,
        ),
        breaker=BreakerSettings(failure_threshold=threshold, reset_timeout=reset),
        max_concurrency=16,
    )


@dataclass
class MockServer:
    """The mock national endpoints on 127.0.0.1 and a client for their admin routes."""

    url: str
    app: Any
    admin: httpx.Client

    def faults(self, upstream: str, **fields: object) -> None:
        """Replace one upstream's faults (PUT /_admin/faults/{upstream})."""
        self.admin.put(f"/_admin/faults/{upstream}", json=fields).raise_for_status()

    def clear_faults(self) -> None:
        """No faults anywhere (DELETE /_admin/faults)."""
        self.admin.delete("/_admin/faults").raise_for_status()

    def calls(self, upstream: str) -> int:
        """How many calls ``upstream`` has seen (the fault plan's counter)."""
        counters = self.admin.get("/_admin/faults").json()["counters"]
        return int(counters[upstream]["calls"])

    def get(self, path: str) -> Any:
        """GET an admin route's JSON."""
        response = self.admin.get(path)
        response.raise_for_status()
        return response.json()


@contextmanager
def running_mock(keys: Path, **settings: Any) -> Iterator[MockServer]:
    """Serve ``create_mock_app(MockSettings(keys_dir=keys, …))`` for the duration."""
    app = create_mock_app(MockSettings(keys_dir=keys, **settings))
    with serve_app(app) as url, httpx.Client(base_url=url, timeout=10) as admin:
        yield MockServer(url, app, admin)


# ------------------------------------------------------------------------- tampering proxy


class TamperingProxy:
    """Forwards every request to the mock and spoils the answer as ``mode`` says.

    Modes: ``pass``; ``strip`` (remove the signature); ``tamper`` (change a byte of the body
    after signing); ``foreign`` (re-sign with another party's key, ``foreign_party``).
    """

    def __init__(self, target: str, keys: Path, foreign_party: str = "portal") -> None:
        self.target = target
        self.mode = "pass"
        self.foreign = load_party(keys, foreign_party)
        self.app = Starlette(routes=[Route("/{path:path}", self.forward, methods=["GET", "POST"])])

    async def forward(self, request: Request) -> Response:
        body = await request.body()
        headers = {k: v for k, v in request.headers.items() if k.lower() != "content-length"}
        url = (
            self.target + request.url.path + (f"?{request.url.query}" if request.url.query else "")
        )
        async with httpx.AsyncClient(timeout=30) as client:
            upstream = await client.request(request.method, url, content=body, headers=headers)
        out_headers = {
            k: v
            for k, v in upstream.headers.items()
            if k.lower() not in ("content-length", "transfer-encoding", "connection")
        }
        content = upstream.content
        is_xml = "xml" in upstream.headers.get("content-type", "")
        if self.mode == "strip":
            if is_xml:
                content = _strip_wsse(content)
            out_headers = {
                k: v
                for k, v in out_headers.items()
                if k.lower() not in ("signature", "signature-input")
            }
        elif self.mode == "tamper":
            content = _tamper(content, is_xml)
        elif self.mode == "foreign":
            if is_xml:
                content = sign_envelope(_without_wsse(content), self.foreign)
            else:
                view = RequestView(request.method, str(request.url), dict(request.headers))
                headers_out = {
                    k: v
                    for k, v in out_headers.items()
                    if k.lower() not in ("signature", "signature-input", "content-digest")
                }
                signer = HttpSigner(self.foreign)
                headers_out.update(
                    signer.sign_response(upstream.status_code, headers_out, content, request=view)
                )
                out_headers = headers_out
        return Response(content, status_code=upstream.status_code, headers=out_headers)


def _without_wsse(data: bytes) -> etree._Element:
    root = parse_xml(data)
    copy_root = copy.deepcopy(root)
    for security in copy_root.iter(SECURITY):
        parent = security.getparent()
        assert parent is not None
        parent.remove(security)
    wsu = "{http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd}Id"
    for element in copy_root.iter():
        if wsu in element.attrib:
            del element.attrib[wsu]
    return copy_root


def _strip_wsse(data: bytes) -> bytes:
    return etree.tostring(_without_wsse(data))


def _tamper(data: bytes, is_xml: bool) -> bytes:
    if is_xml:
        marker = b"<pop:citizenId>"
        index = data.find(marker)
        if index >= 0:
            position = index + len(marker) + 11
            digit = data[position : position + 1]
            return data[:position] + (b"1" if digit != b"1" else b"2") + data[position + 1 :]
    return data.replace(b'"', b"'", 1) if data.startswith(b"{") else data + b" "


@contextmanager
def running_proxy(
    target: str, keys: Path, foreign_party: str
) -> Iterator[tuple[str, TamperingProxy]]:
    """A tampering proxy in front of ``target``: yields its URL and the proxy (to set the mode)."""
    proxy = TamperingProxy(target, keys, foreign_party)
    with serve_app(proxy.app) as url:
        yield url, proxy
