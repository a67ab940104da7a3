"""A sandbox run into the message log: outcomes tell the application's answer, no secret leaves.

The three connectors talk to the mock national endpoints over HTTP on loopback with the message
log as their recorder: population lookups, a registry token and lookups, a portal login, dossier
syncs and progress steps, with every refusal the connectors can draw from the mocks. Then every
record is exported as an evidence bundle, every check its manifest lists is run with the real
tools, and every file of every bundle is scanned for the credentials in use.
"""

from __future__ import annotations

import base64
import json
import subprocess
import zipfile
from pathlib import Path
from urllib.parse import quote

import pytest

from connectors.base import CallContext
from connectors.errors import ConnectorError, NotFound, UpstreamRejected, UpstreamUnavailable
from connectors.factory import ConnectorsConfig, build_connectors
from schemas.status import DossierStatus
from schemas.wire.portal import ProgressStep
from security.trust import TrustStore
from store.log_keys import message_log_key
from store.message_log import BodyCipher, KeyFolderCertificates, SqlMessageLog, verify_log
from store.message_log.bundle import export_bundle
from store.message_log.records import iter_records
from tests.integration.connectors_support import running_mock
from tests.integration.test_connectors_portal import dossier, event
from tests.support.message_log import DOSSIER, OFFICIAL, log_engine

PASSWORD = "p0rtal-Passw0rd!"
CLIENT_SECRET = "registry-S3cret/+="


def _scan(folder: Path, secrets: dict[str, bytes]) -> list[str]:
    found = []
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            data = path.read_bytes()
            found += [f"{path.name}: {name}" for name, value in secrets.items() if value in data]
    return found


@pytest.mark.xmlsec1
async def test_sandbox_run_records_answers_and_exports_bundles_without_secrets(
    dev_keys: Path, tmp_path: Path, xmlsec1: str
) -> None:
    """Every refusal is recorded as the upstream's code (never ``ok``), ``log verify`` counts
    them, each bundle's README names the answer, every bundle passes all of its own checks, and
    no bundle holds the portal password or session, the registry client secret or token."""
    trust = TrustStore.from_pem_file(dev_keys / "ca" / "cert.pem")
    cipher = BodyCipher(message_log_key(dev_keys))
    ca_pem = (dev_keys / "ca" / "cert.pem").read_bytes()
    with running_mock(
        dev_keys,
        portal_users={"lienthong": PASSWORD},
        registry_clients={"lienthong-sandbox": CLIENT_SECRET},
    ) as mock:
        citizen_id = mock.get("/_admin/population/citizens?limit=1")["citizens"][0]["citizen_id"]
        tax_code = mock.get("/_admin/registry/businesses?limit=1")["businesses"][0]["tax_code"]
        async with log_engine(tmp_path / "data") as engine:
            log = SqlMessageLog(engine, cipher, certificates=KeyFolderCertificates(dev_keys))
            config = ConnectorsConfig.sandbox(
                mock.url,
                dev_keys,
                portal_password=PASSWORD,
                registry_client_secret=CLIENT_SECRET,
            )
            connectors = build_connectors(config, recorder=log, trust=trust)
            wrong = build_connectors(
                ConnectorsConfig.sandbox(mock.url, dev_keys, portal_password="wrong"),
                recorder=log,
                trust=trust,
            )

            def ctx() -> CallContext:
                return CallContext.new("province-app", user_id=OFFICIAL, issue=DOSSIER)

            expected: dict[str, str] = {}  # message id -> outcome
            try:
                call = ctx()
                await connectors.population.get_citizen(citizen_id, call)
                expected[call.message_id] = "ok"
                call = ctx()
                with pytest.raises(NotFound):
                    await connectors.population.get_citizen("001099999999", call)
                expected[call.message_id] = "CITIZEN_NOT_FOUND"
                call = ctx()
                await connectors.registry.get_business(tax_code, call)
                expected[call.message_id] = "ok"
                call = ctx()
                with pytest.raises(NotFound):
                    await connectors.registry.get_business("0100109106", call)
                expected[call.message_id] = "NOT_FOUND"

                record = dossier()
                call = ctx()
                assert (
                    await connectors.portal.sync_dossiers([record], is_updating=False, ctx=call)
                ).ok
                expected[call.message_id] = "ok"
                call = ctx()
                again = await connectors.portal.sync_dossiers([record], is_updating=False, ctx=call)
                assert not again.ok
                expected[call.message_id] = "ALREADY_EXISTS"
                call = ctx()
                await connectors.portal.sync_dossiers([dossier()], is_updating=True, ctx=call)
                expected[call.message_id] = "NOT_FOUND"
                jump = record.model_copy(update={"status": DossierStatus.PROCESSED})
                call = ctx()
                await connectors.portal.sync_dossiers([jump], is_updating=True, ctx=call)
                expected[call.message_id] = "ILLEGAL_MOVE"
                call = ctx()
                steps = [
                    ProgressStep(event(record.code, 1, DossierStatus.ACCEPTED)),
                    ProgressStep(event(record.code, 2, DossierStatus.PROCESSING)),
                ]
                assert (await connectors.portal.push_progress(steps, call)).ok
                expected[call.message_id] = "ok"
                call = ctx()
                with pytest.raises(NotFound):
                    await connectors.portal.get_procedure("9.999999", call)
                expected[call.message_id] = "NOT_FOUND"
                call = ctx()
                with pytest.raises(ConnectorError):
                    await connectors.portal.call_service(
                        "TraCuuHoSo", {"madonvi": "000.00.09.H99"}, call
                    )
                expected[call.message_id] = "UNIT_MISMATCH"
                with pytest.raises(UpstreamRejected):
                    await wrong.portal.list_procedures(ctx())
                mock.faults("portal", outage=True)
                with pytest.raises(UpstreamUnavailable):
                    await connectors.portal.list_procedures(ctx())
                mock.clear_faults()
                session = connectors.portal.sessions.current
                token = connectors.registry.tokens.current
                assert session is not None
                assert token is not None
            finally:
                mock.clear_faults()
                for connector in (*connectors, *wrong):
                    await connector.aclose()

            report = await verify_log(engine, cipher=cipher, trust=trust)
            assert report.intact, report.line()
            async with engine.connect() as conn:
                records = [r async for r in iter_records(conn)]
            outcomes = {r.message_id: r.sealed.outcome for r in records}
            for message_id, outcome in expected.items():
                assert outcomes[message_id] == outcome, (outcome, outcomes[message_id])
            bad_login = [
                r for r in records if r.sealed.operation == "Login" and r.sealed.outcome != "ok"
            ]
            assert [r.sealed.outcome for r in bad_login] == ["BAD_CREDENTIALS"]
            assert "http_503" in outcomes.values()
            # the verdict line counts the refusals by the upstream's code
            assert "NOT_FOUND" in report.line()
            assert "ALREADY_EXISTS" in report.line()

            bundles = []
            for number, stored in enumerate(records):
                bundles.append(
                    await export_bundle(
                        engine,
                        stored.message_id,
                        tmp_path / f"b{number}.zip",
                        cipher=cipher,
                        ca_pem=ca_pem,
                        seq=stored.seq,
                    )
                )

    secrets = {
        "portal password": PASSWORD.encode(),
        "portal password (json)": json.dumps(PASSWORD)[1:-1].encode(),
        "portal session": session.value.encode(),
        "registry client secret": CLIENT_SECRET.encode(),
        "registry basic credential": base64.b64encode(
            f"lienthong-sandbox:{quote(CLIENT_SECRET)}".encode()
        ),
        "registry token": token.value.encode(),
    }
    checks_run = 0
    for bundle in bundles:
        folder = tmp_path / f"unpacked-{bundle.seq}"
        with zipfile.ZipFile(bundle.path) as archive:
            archive.extractall(folder)
        assert _scan(folder, secrets) == [], bundle.seq
        manifest = json.loads((folder / "manifest.json").read_text())
        for check in manifest["checks"]:
            run = subprocess.run(check["argv"], cwd=folder, capture_output=True, check=False)
            assert run.returncode == 0, (bundle.seq, check["what"], run.stderr[-300:])
            checks_run += 1
        readme = (folder / "README.txt").read_text()
        outcome = outcomes[bundle.message_id]
        assert f"Outcome: {outcome} " in readme
        if outcome not in ("ok", "http_503"):
            assert "answered" in readme.split("Outcome:")[1].split("\n")[0]
    logins = [
        b
        for b in bundles
        if b.files.get("request.body")
        and b.message_id in {r.message_id for r in records if r.sealed.operation == "Login"}
    ]
    assert logins, "the login bundles carry their (redacted) request body"
    assert checks_run > 5 * len(bundles)
