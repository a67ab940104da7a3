"""The TSA mock over HTTP: ``POST /tsa`` answers RFC 3161 requests that ``TsaClient`` checks."""

from __future__ import annotations

import hashlib
from pathlib import Path

import httpx
import pytest

from mock_endpoints.app import create_mock_app
from mock_endpoints.settings import MockSettings
from security.errors import TimestampError
from security.trust import TrustStore
from security.tsa_client import TsaClient
from tests.support.servers import serve_app


async def test_the_mock_tsa_stamps_and_the_client_checks(dev_keys: Path) -> None:
    """A stamp over loopback carries the imprint asked for, signed by the sandbox ``tsa``; the
    wrong content type is refused with 415 and the client says so."""
    trust = TrustStore.from_pem_file(dev_keys / "ca" / "cert.pem")
    imprint = hashlib.sha256(b"head").digest()
    with serve_app(create_mock_app(MockSettings(keys_dir=dev_keys, citizens=1))) as base:
        stamp = await TsaClient(f"{base}/tsa", trust).stamp(imprint)
        assert stamp.imprint == imprint
        assert "CN=tsa" in stamp.signer.subject.rfc4514_string()
        async with httpx.AsyncClient() as client:
            refused = await client.post(
                f"{base}/tsa", content=b"x", headers={"content-type": "text/plain"}
            )
        assert refused.status_code == 415
        with pytest.raises(TimestampError) as info:
            await TsaClient(f"{base}/portal/login", trust).stamp(imprint)
        assert info.value.reason == "tsa_reply"
