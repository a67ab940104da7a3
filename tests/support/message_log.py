"""Helpers for the message log tests: signed SOAP exchanges and a store with the log's tables."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from lxml import etree
from sqlalchemy.ext.asyncio import AsyncEngine

import store.tables  # noqa: F401 - registers every table on the metadata
from connectors.exchange import Exchange
from security.keys import load_party
from security.wsse import SIGNING_NSMAP, sign_envelope
from store.access_log import AccessLogEntry
from store.db import create_engine, upgrade_async
from store.metadata import metadata

SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
XRD = "http://x-road.eu/xsd/xroad.xsd"
POP = "urn:vn:csdlqgdc:population:1.0"
URL = "http://127.0.0.1:9/population/soap"
CITIZEN_ID = "001190000007"
OFFICIAL = "VN001085000123"
DOSSIER = "000.00.04.H04-261126-0007"
T0 = dt.datetime.now(dt.UTC).replace(microsecond=123456)

LOG_TABLES = [
    metadata.tables[name]
    for name in (
        "message_log",
        "message_log_head",
        "message_log_certificates",
        "message_log_anchors",
        "access_log",
    )
]


def _envelope(message_id: str, body_child: etree._Element, extra: dict[str, str]) -> bytes:
    nsmap = {"soapenv": SOAP, "xrd": XRD, **SIGNING_NSMAP}
    root = etree.Element(f"{{{SOAP}}}Envelope", nsmap=nsmap)
    header = etree.SubElement(root, f"{{{SOAP}}}Header")
    for name, value in [
        ("client", "VN/GOV/000.00.04.H04/lienthong"),
        ("service", "VN/GOV/BCA/population/GetCitizen/v1"),
        ("id", message_id),
        ("userId", OFFICIAL),
        ("issue", DOSSIER),
        ("protocolVersion", "4.0"),
        *extra.items(),
    ]:
        etree.SubElement(header, f"{{{XRD}}}{name}").text = value
    etree.SubElement(root, f"{{{SOAP}}}Body").append(body_child)
    return etree.tostring(root)


def make_soap_exchange(
    keys: Path,
    *,
    message_id: str | None = None,
    at: dt.datetime | None = None,
    outcome: str = "ok",
    citizen_id: str = CITIZEN_ID,
    with_response: bool = True,
) -> Exchange:
    """A GetCitizen exchange signed by ``adapter`` and answered, signed, by ``population``."""
    message_id = message_id or str(uuid.uuid4())
    started = at or dt.datetime.now(dt.UTC)
    finished = started + dt.timedelta(milliseconds=40)
    request_body = etree.Element(f"{{{POP}}}GetCitizenRequest", nsmap={"pop": POP})
    etree.SubElement(request_body, f"{{{POP}}}citizenId").text = citizen_id
    request = sign_envelope(
        _envelope(message_id, request_body, {}), load_party(keys, "adapter"), now=started
    )
    response: bytes | None = None
    if with_response:
        answer = etree.Element(f"{{{POP}}}GetCitizenResponse", nsmap={"pop": POP})
        citizen = etree.SubElement(answer, f"{{{POP}}}citizen")
        etree.SubElement(citizen, f"{{{POP}}}citizenId").text = citizen_id
        etree.SubElement(citizen, f"{{{POP}}}fullName").text = "Nguyễn Thị An"
        request_hash = base64.b64encode(hashlib.sha256(request).digest()).decode()
        response = sign_envelope(
            _envelope(message_id, answer, {"requestHash": request_hash}),
            load_party(keys, "population"),
            now=finished,
        )
    return Exchange(
        upstream="population",
        operation="GetCitizen",
        protocol="soap",
        message_id=message_id,
        client="province-app",
        sender="adapter",
        receiver="population",
        user_id=OFFICIAL,
        issue=DOSSIER,
        method="POST",
        url=URL,
        request=request,
        request_headers={
            "Content-Type": "text/xml; charset=utf-8",
            "SOAPAction": f'"{POP}#GetCitizen"',
        },
        response=response,
        response_headers={"content-type": "text/xml; charset=utf-8"} if with_response else {},
        status=200 if with_response else None,
        outcome=outcome if with_response else "UpstreamTimeout",
        started_at=started,
        finished_at=finished,
    )


@asynccontextmanager
async def log_engine(url: str | Path) -> AsyncIterator[AsyncEngine]:
    """An engine on ``url``, migrated, whose message log and access log tables are empty.

    The schema comes from the migrations, as in production (tables made here from the models
    would also stop a later ``upgrade`` of the same database)."""
    await upgrade_async(url)
    engine = create_engine(url)
    async with engine.begin() as conn:
        for table in reversed(metadata.sorted_tables):
            if table in LOG_TABLES:
                await conn.execute(table.delete())
    try:
        yield engine
    finally:
        await engine.dispose()


@pytest.fixture(
    name="db_url", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def log_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Fixture ``db_url``: a SQLite data folder in ``tmp_path``, then the session's PostgreSQL
    database (import it, with :func:`log_engine_on_both`, into a test module to use it)."""
    if request.param == "sqlite":
        return str(tmp_path / "data")
    dsn: str = request.getfixturevalue("postgres_dsn")
    return dsn


@pytest.fixture(name="engine")
async def log_engine_on_both(db_url: str) -> AsyncIterator[AsyncEngine]:
    """Fixture ``engine``: :func:`log_engine` on ``db_url`` (fresh, empty log tables)."""
    async with log_engine(db_url) as made:
        yield made


def access_entry(citizen_id: str, n: int, *, at: dt.datetime, **changes: object) -> AccessLogEntry:
    """Lookup number ``n`` of ``citizen_id`` by the sandbox's provincial system, made ``at``."""
    values: dict[str, object] = {
        "citizen_id": citizen_id,
        "client_id": "province-app",
        "organisation": "UBND tỉnh Hà Giang",
        "official": "VN001085000123",
        "dossier_code": f"000.00.04.H04-261126-{n:04d}",
        "operation": "GetCitizen",
        "fields": ("citizen_id", "full_name"),
        "request_id": f"req-{n}",
        "message_id": f"msg-{n}",
        "occurred_at": at,
    }
    values.update(changes)
    return AccessLogEntry(**values)  # type: ignore[arg-type]


def make_rest_exchange(
    keys: Path,
    *,
    at: dt.datetime | None = None,
    outcome: str = "ok",
    tamper_response: bool = False,
) -> Exchange:
    """A portal call signed (RFC 9421) by ``adapter`` and answered, signed, by ``portal``."""
    from security.http_signatures import HttpSigner, RequestView

    started = at or dt.datetime.now(dt.UTC)
    finished = started + dt.timedelta(milliseconds=25)
    url = "http://127.0.0.1:9/portal/api?trace=1"
    body = b'{"session":"s-1","madonvi":"000.00.04.H04","service":"TraCuuHoSo"}'
    headers = {"Content-Type": "application/json"}
    request_signer = HttpSigner(load_party(keys, "adapter"), clock=started.timestamp)
    headers.update(request_signer.sign_request("POST", url, headers, body))
    reply = b'{"error_code":"0","data":{"trang_thai":4}}'
    response_headers = {"content-type": "application/json"}
    response_signer = HttpSigner(load_party(keys, "portal"), clock=finished.timestamp)
    response_headers.update(
        {
            name.lower(): value
            for name, value in response_signer.sign_response(
                200, response_headers, reply, request=RequestView("POST", url, headers)
            ).items()
        }
    )
    if tamper_response:
        reply = reply.replace(b'"trang_thai":4', b'"trang_thai":9')
    return Exchange(
        upstream="portal",
        operation="TraCuuHoSo",
        protocol="rest",
        message_id=str(uuid.uuid4()),
        client="province-app",
        sender="adapter",
        receiver="portal",
        user_id=None,
        issue=DOSSIER,
        method="POST",
        url=url,
        request=body,
        request_headers=headers,
        response=reply,
        response_headers=response_headers,
        status=200,
        outcome=outcome,
        started_at=started,
        finished_at=finished,
    )
