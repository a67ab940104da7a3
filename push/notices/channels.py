"""The two ways a notice reaches a phone: Zalo ZNS first, SMS brandname as the fallback.

:class:`NoticeChannel` is the one-method interface (``send`` → :class:`SendResult`);
:class:`ZnsChannel` and :class:`SmsChannel` speak the providers' JSON over one kept-alive
``aiohttp`` session each, and translate every answer into one of four verdicts:

``sent``      the provider accepted the message (``provider_id`` is its message id);
``fallback``  ZNS cannot deliver this one — no Zalo account (-118), the template refused or not
              usable (-109, -111, -112, -117), the account out of quota (-115): send it by SMS;
``retry``     no answer, HTTP 5xx, an unknown or transient error: try again later;
``dead``      it can never work as it is — the phone number is refused (-108, SMS "108"), the SMS
              account or text is refused ("101", "104", "146").

An SMS refused as a duplicate ``RequestId`` ("124") counts as sent: the request id is the
notice's tracking id, so an earlier attempt already went out. Errors hold codes, never the phone.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

import aiohttp

from push.notices.templates import Rendered


class Verdict(StrEnum):
    """What to do with a notice after one channel's answer."""

    SENT = "sent"
    FALLBACK = "fallback"
    RETRY = "retry"
    DEAD = "dead"


@dataclass(frozen=True, slots=True)
class SendResult:
    """One channel's answer for one notice."""

    verdict: Verdict
    provider_id: str | None = None
    error: str | None = None


class NoticeChannel(Protocol):
    """Sends one rendered notice to one normalised phone under its tracking id."""

    name: str

    async def send(self, phone: str, notice: Rendered, tracking_id: str) -> SendResult: ...

    async def aclose(self) -> None: ...


_ZNS_FALLBACK = frozenset({-109, -111, -112, -115, -117, -118})
_ZNS_DEAD = frozenset({-108})
_SMS_DEAD = frozenset({"101", "104", "108", "146"})


class _JsonPoster:
    """One kept-alive session posting JSON and reading JSON back."""

    def __init__(self, timeout: float) -> None:
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    async def post(
        self, url: str, body: dict[str, Any], headers: dict[str, str]
    ) -> tuple[int, Any]:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        payload = json.dumps(body, ensure_ascii=False).encode()
        async with self._session.post(
            url,
            data=payload,
            headers={"Content-Type": "application/json", **headers},
            allow_redirects=False,
        ) as response:
            raw = await response.read()
        try:
            return response.status, json.loads(raw)
        except ValueError:
            return response.status, None

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


class ZnsChannel:
    """Zalo ZNS: ``POST {url}`` with ``access_token``; ``{"error": 0, "data": {"msg_id"}}``."""

    name = "zns"

    def __init__(self, url: str, access_token: str, *, timeout: float = 10.0) -> None:
        self._url = url
        self._token = access_token
        self._http = _JsonPoster(timeout)

    async def send(self, phone: str, notice: Rendered, tracking_id: str) -> SendResult:
        """Send the ZNS template message."""
        body = {
            "phone": phone,
            "template_id": notice.zns_template_id,
            "template_data": notice.zns_data,
            "tracking_id": tracking_id,
        }
        try:
            status, answer = await self._http.post(self._url, body, {"access_token": self._token})
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            return SendResult(Verdict.RETRY, error=f"zns: no answer ({type(exc).__name__})")
        if status != 200 or not isinstance(answer, dict):
            return SendResult(Verdict.RETRY, error=f"zns: HTTP {status}")
        code = answer.get("error")
        if code == 0:
            data = answer.get("data") or {}
            return SendResult(Verdict.SENT, provider_id=str(data.get("msg_id", ""))[:64])
        error = f"zns: error {code}"
        if code in _ZNS_FALLBACK:
            return SendResult(Verdict.FALLBACK, error=error)
        if code in _ZNS_DEAD:
            return SendResult(Verdict.DEAD, error=error)
        return SendResult(Verdict.RETRY, error=error)

    async def aclose(self) -> None:
        """Close the session."""
        await self._http.aclose()


class SmsChannel:
    """SMS brandname (eSMS-shaped JSON): ``CodeResult`` "100" is accepted."""

    name = "sms"

    def __init__(
        self,
        url: str,
        api_key: str,
        secret_key: str,
        brandname: str,
        *,
        timeout: float = 10.0,
    ) -> None:
        self._url = url
        self._credentials = {"ApiKey": api_key, "SecretKey": secret_key, "Brandname": brandname}
        self._http = _JsonPoster(timeout)

    async def send(self, phone: str, notice: Rendered, tracking_id: str) -> SendResult:
        """Send the SMS; the tracking id is the ``RequestId`` the provider deduplicates on."""
        body = {
            **self._credentials,
            "Phone": phone,
            "Content": notice.sms,
            "SmsType": "2",
            "IsUnicode": "0",
            "RequestId": tracking_id,
        }
        try:
            status, answer = await self._http.post(self._url, body, {})
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            return SendResult(Verdict.RETRY, error=f"sms: no answer ({type(exc).__name__})")
        if status != 200 or not isinstance(answer, dict):
            return SendResult(Verdict.RETRY, error=f"sms: HTTP {status}")
        code = str(answer.get("CodeResult", ""))
        if code == "100":
            return SendResult(Verdict.SENT, provider_id=str(answer.get("SMSID", ""))[:64])
        if code == "124":
            return SendResult(Verdict.SENT, error="sms: duplicate RequestId (sent before)")
        if code in _SMS_DEAD:
            return SendResult(Verdict.DEAD, error=f"sms: error {code}")
        return SendResult(Verdict.RETRY, error=f"sms: error {code}")

    async def aclose(self) -> None:
        """Close the session."""
        await self._http.aclose()


__all__ = ["NoticeChannel", "SendResult", "SmsChannel", "Verdict", "ZnsChannel"]
