"""The push mocks' answers: ZNS and SMS error codes, the ministry receiver's signature check."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from mock_endpoints.app import create_mock_app
from mock_endpoints.settings import MockSettings
from mock_endpoints.sms import API_KEY, BRANDNAME, SECRET_KEY, SmsState
from mock_endpoints.zns import ZnsState
from security.http_signatures import HttpSigner
from security.keys import load_party


def _zns(**overrides: object) -> dict[str, object]:
    body: dict[str, object] = {
        "phone": "84912345678",
        "template_id": "260101",
        "template_data": {"ma_ho_so": "x"},
        "tracking_id": "t1",
    }
    body.update(overrides)
    return body


def test_zns_answers_zalo_codes() -> None:
    """Invalid phone -108, unknown template -109, refused -117, no Zalo -118, quota -115."""
    state = ZnsState()
    assert state.send(_zns(phone="0912345678"))[0] == -108
    assert state.send(_zns(template_id="999"))[0] == -109
    assert state.send(_zns(template_data={}))[0] == -111
    assert state.send(_zns(template_data={"a": ["x"]}))[0] == -112
    state.configure({"refused_templates": ["260101"]})
    assert state.send(_zns())[0] == -117
    state.configure({"refused_templates": [], "no_zalo": ["84912345678"]})
    assert state.send(_zns())[0] == -118
    state.configure({"no_zalo": [], "daily_quota": 1})
    code, data = state.send(_zns())
    assert code == 0
    assert data is not None
    assert data["quota"] == {"dailyQuota": "1", "remainingQuota": "0"}
    assert state.send(_zns(tracking_id="t2"))[0] == -115
    assert [r["message"]["tracking_id"] for r in state.receipts] == ["t1"]
    with pytest.raises(ValueError, match="unknown"):
        state.configure({"bogus": 1})


def test_sms_answers_provider_codes_and_refuses_a_repeated_request_id() -> None:
    """Wrong key 101, brandname 104, phone 108, accented text 146, repeat 124, balance 103."""
    state = SmsState(balance=1)
    ok = {
        "ApiKey": API_KEY,
        "SecretKey": SECRET_KEY,
        "Brandname": BRANDNAME,
        "Phone": "84912345678",
        "Content": "Ho so x",
        "IsUnicode": "0",
        "RequestId": "r1",
    }
    assert state.send({**ok, "SecretKey": "no"})["CodeResult"] == "101"
    assert state.send({**ok, "Brandname": "X"})["CodeResult"] == "104"
    assert state.send({**ok, "Phone": "12345"})["CodeResult"] == "108"
    assert state.send({**ok, "Content": "Hồ sơ"})["CodeResult"] == "146"
    assert state.send(ok)["CodeResult"] == "100"
    assert state.send(ok)["CodeResult"] == "124"
    assert state.send({**ok, "RequestId": "r2"})["CodeResult"] == "103"
    assert len(state.messages) == 1


def test_the_ministry_receiver_refuses_a_bad_signature(dev_keys: Path) -> None:
    """Signed by the adapter: recorded once (a repeat counted); unsigned, tampered or signed by
    another party: 401, counted as rejected, not recorded."""
    app = create_mock_app(MockSettings(keys_dir=dev_keys, only=frozenset({"ministry"})))
    url = "http://mock/ministry/webhooks"
    body = b'{"delivery_id":"7","type":"dossier.event","data":{"dossier_code":"c","event":{}}}'

    def signed(party: str, content: bytes = body) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        headers.update(
            HttpSigner(load_party(dev_keys, party)).sign_request("POST", url, headers, content)
        )
        return headers

    transport = httpx.ASGITransport(app=app)

    async def run() -> None:
        async with httpx.AsyncClient(transport=transport, base_url="http://mock") as client:
            assert (
                await client.post(url, content=body, headers=signed("adapter"))
            ).status_code == 200
            assert (
                await client.post(url, content=body, headers=signed("adapter"))
            ).status_code == 200
            tampered = signed("adapter")
            assert (
                await client.post(url, content=body + b" ", headers=tampered)
            ).status_code == 401
            assert (
                await client.post(url, content=body, headers=signed("ministry"))
            ).status_code == 401
            assert (await client.post(url, content=body)).status_code == 401
            got = (await client.get("/_admin/ministry/deliveries")).json()
            assert (got["received"], got["duplicates"], got["rejected"]) == (1, 1, 3)

    asyncio.run(run())
