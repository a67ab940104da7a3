"""Evidence bundles: exported from the message log, checked with sha256sum, xmlsec1 and openssl.

The checks an auditor runs are the ones the bundle's manifest lists (the same as its README), run
here exactly as written, in the unpacked folder, with no lienthong code involved.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine

from store.log_keys import message_log_key
from store.message_log import (
    BodyCipher,
    ExportError,
    KeyFolderCertificates,
    RecordNotFound,
    SqlMessageLog,
    export_bundle,
    purge_bodies,
)
from store.message_log.chain import sha256_hex
from store.tables.message_log import message_log
from tests.support.message_log import log_engine, make_rest_exchange, make_soap_exchange


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    async with log_engine(tmp_path / "data") as made:
        yield made


@pytest.fixture
def cipher(dev_keys: Path) -> BodyCipher:
    return BodyCipher(message_log_key(dev_keys))


def _unpack(bundle: Path, into: Path) -> dict[str, object]:
    with zipfile.ZipFile(bundle) as archive:
        archive.extractall(into)
    manifest: dict[str, object] = json.loads((into / "manifest.json").read_text())
    return manifest


def _run_checks(folder: Path, manifest: dict[str, object]) -> list[tuple[list[str], int, str]]:
    results = []
    for check in manifest["checks"]:  # type: ignore[attr-defined]
        argv = check["argv"]
        done = subprocess.run(argv, cwd=folder, capture_output=True, text=True, timeout=60)
        results.append((argv, done.returncode, done.stdout + done.stderr))
    return results


@pytest.mark.xmlsec1
async def test_an_exported_soap_bundle_verifies_with_standard_tools(
    engine: AsyncEngine, cipher: BodyCipher, dev_keys: Path, tmp_path: Path, xmlsec1: str
) -> None:
    """sha256sum, xmlsec1 (both signatures) and openssl (both signers at the time) all pass."""
    if shutil.which("openssl") is None or shutil.which("sha256sum") is None:
        pytest.skip("openssl and sha256sum are needed")
    log = SqlMessageLog(engine, cipher)
    exchanges = [make_soap_exchange(dev_keys) for _ in range(3)]
    for exchange in exchanges:
        await log.record(exchange)
    ca = (dev_keys / "ca" / "cert.pem").read_bytes()
    bundle = await export_bundle(
        engine, exchanges[1].message_id, tmp_path / "b.zip", cipher=cipher, ca_pem=ca
    )
    folder = tmp_path / "unpacked"
    manifest = _unpack(bundle.path, folder)

    results = _run_checks(folder, manifest)
    tools = [argv[0] for argv, _, _ in results]
    assert tools.count("xmlsec1") == 2
    assert tools.count("openssl") == 2
    assert [(argv[0], code) for argv, code, _ in results] == [(tool, 0) for tool in tools], results
    assert (folder / "request.xml").read_bytes() == exchanges[1].request
    assert (folder / "response.xml").read_bytes() == exchanges[1].response
    record = (folder / "record.json").read_bytes()
    assert sha256_hex(record) == manifest["record"]["digest"]  # type: ignore[index]
    chain = manifest["chain"]
    assert chain["previous"]["digest"] == json.loads(record)["prev_digest"]  # type: ignore[index]
    assert chain["next"]["prev_digest"] == manifest["record"]["digest"]  # type: ignore[index]
    assert chain["head"]["seq"] == 3  # type: ignore[index]
    assert "xmlsec1 --verify" in (folder / "README.txt").read_text()


@pytest.mark.xmlsec1
async def test_a_changed_envelope_in_a_bundle_fails_the_checks(
    engine: AsyncEngine, cipher: BodyCipher, dev_keys: Path, tmp_path: Path, xmlsec1: str
) -> None:
    """Editing the citizen's name in response.xml: xmlsec1 refuses it and the digests differ."""
    exchange = make_soap_exchange(dev_keys)
    await SqlMessageLog(engine, cipher).record(exchange)
    bundle = await export_bundle(engine, exchange.message_id, tmp_path / "b.zip", cipher=cipher)
    folder = tmp_path / "unpacked"
    manifest = _unpack(bundle.path, folder)
    response = folder / "response.xml"
    response.write_bytes(
        response.read_bytes().replace("Nguyễn Thị An".encode(), "Trần Văn Bình".encode())
    )
    failed = {tuple(argv[:3]) for argv, code, _ in _run_checks(folder, manifest) if code != 0}
    assert ("xmlsec1", "--verify", "--pubkey-cert-pem") in failed
    assert ("sha256sum", "-c", "SEALED.sha256") in failed


async def test_exporting_an_unknown_message_says_so(
    engine: AsyncEngine, cipher: BodyCipher, tmp_path: Path
) -> None:
    """No record carries the id: RecordNotFound, and no file is written."""
    with pytest.raises(RecordNotFound):
        await export_bundle(engine, "no-such-id", tmp_path / "b.zip", cipher=cipher)
    assert not (tmp_path / "b.zip").exists()


async def test_an_altered_record_is_not_exported(
    engine: AsyncEngine, cipher: BodyCipher, dev_keys: Path, tmp_path: Path
) -> None:
    """A record that does not match its seal is refused rather than exported as evidence."""
    exchange = make_soap_exchange(dev_keys)
    await SqlMessageLog(engine, cipher).record(exchange)
    async with engine.begin() as conn:
        await conn.execute(update(message_log).values(issue="000.00.04.H04-261126-9999"))
    with pytest.raises(ExportError, match="does not match its digest"):
        await export_bundle(engine, exchange.message_id, tmp_path / "b.zip", cipher=cipher)


async def test_a_purged_record_exports_its_chain_position_only(
    engine: AsyncEngine, cipher: BodyCipher, dev_keys: Path, tmp_path: Path
) -> None:
    """After retention the bundle proves the exchange's metadata and digests, not its content."""
    old = make_soap_exchange(dev_keys, at=dt.datetime.now(dt.UTC) - dt.timedelta(days=40))
    await SqlMessageLog(engine, cipher).record(old)
    await purge_bodies(engine, older_than=dt.timedelta(days=30), cipher=cipher)
    bundle = await export_bundle(engine, old.message_id, tmp_path / "b.zip", cipher=None)
    assert bundle.purged
    folder = tmp_path / "unpacked"
    manifest = _unpack(bundle.path, folder)
    assert manifest["bodies"] == "purged"
    assert not (folder / "request.xml").exists()
    assert "purged" in (folder / "README.txt").read_text()
    sealed = subprocess.run(
        ["sha256sum", "-c", "SEALED.sha256"], cwd=folder, capture_output=True, check=False
    )
    assert sealed.returncode == 0


async def test_each_attempt_of_a_message_can_be_exported(
    engine: AsyncEngine, cipher: BodyCipher, dev_keys: Path, tmp_path: Path
) -> None:
    """Two attempts under one message id: the last by default, the other by its seq."""
    first = make_soap_exchange(dev_keys, message_id="m-retried", with_response=False)
    second = make_soap_exchange(dev_keys, message_id="m-retried")
    log = SqlMessageLog(engine, cipher)
    await log.record(first)
    await log.record(second)
    latest = await export_bundle(engine, "m-retried", tmp_path / "a.zip", cipher=cipher)
    earlier = await export_bundle(engine, "m-retried", tmp_path / "b.zip", cipher=cipher, seq=1)
    assert (latest.seq, earlier.seq) == (2, 1)
    assert "response.http" in latest.files
    assert "response.http" not in earlier.files
    manifest = _unpack(earlier.path, tmp_path / "unpacked")
    assert manifest["attempts"] == [1, 2]
    with pytest.raises(ExportError, match="does not belong"):
        await export_bundle(engine, "m-retried", tmp_path / "c.zip", cipher=cipher, seq=9)


async def test_an_exported_rest_bundle_verifies_with_openssl(
    engine: AsyncEngine, cipher: BodyCipher, dev_keys: Path, tmp_path: Path
) -> None:
    """A REST exchange: openssl checks both RFC 9421 signatures over the signature bases, and
    the bodies hash to the content-digest the bases cover; an edited body fails."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed")
    exchange = make_rest_exchange(dev_keys)
    log = SqlMessageLog(engine, cipher, certificates=KeyFolderCertificates(dev_keys))
    await log.record(exchange)
    ca = (dev_keys / "ca" / "cert.pem").read_bytes()
    bundle = await export_bundle(
        engine, exchange.message_id, tmp_path / "b.zip", cipher=cipher, ca_pem=ca
    )
    folder = tmp_path / "unpacked"
    manifest = _unpack(bundle.path, folder)
    results = _run_checks(folder, manifest)
    dgst = [code for argv, code, _ in results if argv[:2] == ["openssl", "dgst"]]
    assert dgst == [0, 0], results
    assert all(code == 0 for _, code, _ in results), results
    base = (folder / "response.sigbase").read_text()
    assert base.startswith('"@status": 200')
    assert '"signature";req;key="sig1": :' in base
    assert (folder / "request.body").read_bytes() == exchange.request

    (folder / "response.body").write_bytes(b'{"error_code":"0","data":{"trang_thai":9}}')
    failed = [argv[0] for argv, code, _ in _run_checks(folder, manifest) if code != 0]
    assert "sh" in failed


async def test_an_rsa_pss_rest_bundle_verifies_with_openssl(
    engine: AsyncEngine, dev_keys_rsa: Path, tmp_path: Path
) -> None:
    """RSA keys sign with rsa-pss-sha512; the bundle's openssl command uses PSS and checks."""
    cipher = BodyCipher(message_log_key(dev_keys_rsa))
    exchange = make_rest_exchange(dev_keys_rsa)
    log = SqlMessageLog(engine, cipher, certificates=KeyFolderCertificates(dev_keys_rsa))
    await log.record(exchange)
    bundle = await export_bundle(engine, exchange.message_id, tmp_path / "b.zip", cipher=cipher)
    folder = tmp_path / "unpacked"
    manifest = _unpack(bundle.path, folder)
    results = _run_checks(folder, manifest)
    dgst = [(argv, code) for argv, code, _ in results if argv[:2] == ["openssl", "dgst"]]
    assert [code for _, code in dgst] == [0, 0], results
    assert all("rsa_padding_mode:pss" in argv for argv, _ in dgst)
