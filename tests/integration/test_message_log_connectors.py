"""Real traffic into the message log: the population connector against the mock endpoints.

A lookup through ``PopulationConnector`` (recorder: ``SqlMessageLog``) against the mock
population service over HTTP on loopback leaves one record per exchange; the log verifies with
every signature, and the exported bundle of the lookup verifies with ``xmlsec1`` and ``openssl``.
"""

from __future__ import annotations

import json
import subprocess
import urllib.request
import zipfile
from pathlib import Path

import pytest

from connectors.base import CallContext, UpstreamConfig
from connectors.errors import NotFound
from connectors.population import PopulationConnector
from mock_endpoints.app import create_mock_app
from mock_endpoints.settings import MockSettings
from security.keys import load_party
from security.trust import TrustStore
from store.log_keys import message_log_key
from store.message_log import (
    BodyCipher,
    KeyFolderCertificates,
    SqlMessageLog,
    export_bundle,
    verify_log,
)
from store.message_log.records import iter_records, records_for_message
from tests.support.message_log import DOSSIER, OFFICIAL, log_engine
from tests.support.servers import serve_app


@pytest.mark.xmlsec1
async def test_lookups_through_the_connector_are_logged_and_export_as_evidence(
    dev_keys: Path, tmp_path: Path, xmlsec1: str
) -> None:
    """A found and a missing citizen: two records, signatures re-verified, bundle checks pass."""
    trust = TrustStore.from_pem_file(dev_keys / "ca" / "cert.pem")
    cipher = BodyCipher(message_log_key(dev_keys))
    with serve_app(create_mock_app(MockSettings(keys_dir=dev_keys, citizens=5))) as base:
        with urllib.request.urlopen(f"{base}/_admin/population/citizens?limit=1") as answer:  # noqa: S310
            citizen_id = json.load(answer)["citizens"][0]["citizen_id"]
        async with log_engine(tmp_path / "data") as engine:
            log = SqlMessageLog(engine, cipher, certificates=KeyFolderCertificates(dev_keys))
            connector = PopulationConnector(
                UpstreamConfig(name="population", base_url=f"{base}/population/soap"),
                credentials=load_party(dev_keys, "adapter"),
                trust=trust,
                member_code="000.00.04.H04",
                recorder=log,
            )
            found = CallContext.new("province-app", user_id=OFFICIAL, issue=DOSSIER)
            missing = CallContext.new("province-app", user_id=OFFICIAL, issue=DOSSIER)
            try:
                citizen = await connector.get_citizen(citizen_id, found)
                with pytest.raises(NotFound):
                    await connector.get_citizen("001099999999", missing)
            finally:
                await connector.aclose()

            async with engine.connect() as conn:
                (record,) = await records_for_message(conn, found.message_id)
                (refused,) = await records_for_message(conn, missing.message_id)
            assert citizen.citizen_id == citizen_id
            sealed = record.sealed
            assert (sealed.protocol, sealed.upstream, sealed.outcome) == (
                "soap",
                "population",
                "ok",
            )
            assert (sealed.client, sealed.sender, sealed.receiver) == (
                "province-app",
                "adapter",
                "population",
            )
            assert (sealed.user_id, sealed.issue) == (OFFICIAL, DOSSIER)
            assert refused.sealed.outcome != "ok"
            report = await verify_log(engine, cipher=cipher, trust=trust)
            assert report.intact, report.line()
            assert report.records == 2
            assert report.signatures_checked >= 3

            bundle = await export_bundle(
                engine,
                found.message_id,
                tmp_path / "evidence.zip",
                cipher=cipher,
                ca_pem=(dev_keys / "ca" / "cert.pem").read_bytes(),
            )
    folder = tmp_path / "unpacked"
    with zipfile.ZipFile(bundle.path) as archive:
        archive.extractall(folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    outcomes = [
        (
            check["argv"][0],
            subprocess.run(check["argv"], cwd=folder, capture_output=True).returncode,
        )
        for check in manifest["checks"]
    ]
    assert ("xmlsec1", 0) in outcomes
    assert all(code == 0 for _, code in outcomes), outcomes
    assert citizen_id.encode() in (folder / "response.xml").read_bytes()


async def test_credential_exchanges_are_logged_without_their_secret_and_still_verify(
    dev_keys: Path, tmp_path: Path
) -> None:
    """The portal login keeps its body in the log with the password redacted to a keyed tag, the
    session it opened is redacted in the answer and in the call that used it; ``log verify``
    still checks every signature and passes."""
    from connectors.factory import ConnectorsConfig, build_connectors
    from store.message_log.wire import decode_request

    trust = TrustStore.from_pem_file(dev_keys / "ca" / "cert.pem")
    cipher = BodyCipher(message_log_key(dev_keys))
    with serve_app(create_mock_app(MockSettings(keys_dir=dev_keys, businesses=3))) as base:
        with urllib.request.urlopen(f"{base}/_admin/registry/businesses?limit=1") as answer:  # noqa: S310
            tax_code = json.load(answer)["businesses"][0]["tax_code"]
        async with log_engine(tmp_path / "data") as engine:
            log = SqlMessageLog(engine, cipher, certificates=KeyFolderCertificates(dev_keys))
            connectors = build_connectors(
                ConnectorsConfig.sandbox(base, dev_keys), recorder=log, trust=trust
            )
            try:
                await connectors.portal.list_procedures(CallContext.new("province-app"))
                await connectors.registry.get_business(tax_code, CallContext.new("province-app"))
            finally:
                for connector in connectors:
                    await connector.aclose()

            report = await verify_log(engine, cipher=cipher, trust=trust)
            assert report.intact, report.line()
            assert report.records == 4  # login, catalogue, token, business
            assert report.signatures_checked == 8
            async with engine.connect() as conn:
                stored = [record async for record in iter_records(conn)]
    requests = [decode_request(record.wire("request", cipher) or b"") for record in stored]
    (login,) = [request for request in requests if request.url.endswith("/portal/login")]
    assert b'"username"' in login.body
    assert b'"password":"<redacted:password:' in login.body
    assert all(b"sandbox" not in request.body for request in requests)
    session = connectors.portal.sessions.current
    assert session is not None
    wires = b"".join(
        (record.wire("request", cipher) or b"") + (record.wire("response", cipher) or b"")
        for record in stored
    )
    assert session.value.encode() not in wires
    assert (
        wires.count(b"<redacted:session:" + cipher.redaction.tag("session", session.value).encode())
        == 2
    )
