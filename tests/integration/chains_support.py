"""The mock agency systems and portal on real HTTP, a store, and chains wired to them (tests)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from chains.intake import ChainFiling, TakenIn, take_in
from chains.runtime import ChainOptions, ChainRuntime, build_agencies, sandbox_agency_urls
from chains.worker import ChainWorkerSettings
from connectors.base import BreakerSettings, RetrySettings, Timeouts
from connectors.factory import ConnectorsConfig
from mock_endpoints.app import create_mock_app
from mock_endpoints.settings import MockSettings
from schemas.times import VN_TZ
from store.db import create_sessionmaker
from sync.backoff import RetryPolicy
from tests.support.servers import serve_app

#: a chain filed on a working Thursday morning (2026-11-26) unless a test says otherwise
FILED = dt.datetime(2026, 11, 26, 9, 0, tzinfo=VN_TZ)


class AgencyMock:
    """A running mock server: its URL and its admin routes."""

    def __init__(self, base_url: str, admin: httpx.Client) -> None:
        self.base_url = base_url
        self.admin = admin

    def reset(self) -> None:
        """No faults, no requests, default behaviours, the clock at real time."""
        self.admin.delete("/_admin/faults").raise_for_status()
        self.admin.delete("/_admin/agencies").raise_for_status()
        self.admin.delete("/_admin/portal/dossiers").raise_for_status()
        self.admin.put("/_admin/agencies/clock", json={"offset_days": 0}).raise_for_status()

    def behave(self, agency: str, **behaviour: Any) -> None:
        """Set an agency's behaviour (``mode``, ``days``, ``reason``, ``count``)."""
        self.admin.put(f"/_admin/agencies/{agency}/behaviour", json=behaviour).raise_for_status()

    def faults(self, upstream: str, **faults: Any) -> None:
        """Replace an upstream's faults."""
        self.admin.put(f"/_admin/faults/{upstream}", json=faults).raise_for_status()

    def advance(self, days: float) -> None:
        """Let days pass at the agencies."""
        self.admin.post("/_admin/agencies/clock/advance", json={"days": days}).raise_for_status()

    def requests(self, agency: str, reference: str | None = None) -> list[dict[str, Any]]:
        """The requests an agency received (under ``reference``)."""
        params = {"reference": reference} if reference else {}
        response = self.admin.get(f"/_admin/agencies/{agency}/requests", params=params)
        response.raise_for_status()
        found: list[dict[str, Any]] = response.json()["requests"]
        return found

    def citizens(self, limit: int = 20) -> list[dict[str, Any]]:
        """Citizens of the population mock."""
        response = self.admin.get("/_admin/population/citizens", params={"limit": limit})
        response.raise_for_status()
        data = response.json()
        found: list[dict[str, Any]] = data["citizens"] if isinstance(data, dict) else data
        return found

    def citizen(self, citizen_id: str) -> dict[str, Any] | None:
        """One citizen of the population mock, or None."""
        response = self.admin.get(f"/_admin/population/citizens/{citizen_id}")
        if response.status_code == 404:
            return None
        response.raise_for_status()
        found: dict[str, Any] = response.json()
        return found

    def held(self, code: str) -> dict[str, Any] | None:
        """What the portal holds for ``code``."""
        response = self.admin.get(f"/_admin/portal/dossiers/{code}")
        if response.status_code == 404:
            return None
        response.raise_for_status()
        found: dict[str, Any] = response.json()
        return found


@contextmanager
def running_agency_mock(keys: Path) -> Iterator[AgencyMock]:
    """The mock endpoints (agencies, population, portal) on 127.0.0.1 for the duration."""
    app = create_mock_app(MockSettings(keys_dir=keys, citizens=20, businesses=2))
    with serve_app(app) as url, httpx.Client(base_url=url, timeout=30) as admin:
        yield AgencyMock(url, admin)


def connectors_config(mock: AgencyMock, keys: Path, *, attempt: float = 2.0) -> ConnectorsConfig:
    """Short timeouts and a breaker that recovers fast (tests)."""
    return ConnectorsConfig.sandbox(
        mock.base_url,
        keys,
        timeouts=Timeouts(connect=1.0, attempt=attempt),
        retry=RetrySettings(attempts=2, initial_backoff=0.01, max_backoff=0.05, deadline=6.0),
        breaker=BreakerSettings(failure_threshold=50, reset_timeout=0.2),
    )


def chain_runtime(
    engine: AsyncEngine,
    mock: AgencyMock,
    keys: Path,
    *,
    poll: float = 600.0,
    attempt: float = 2.0,
    clock: Any = None,
) -> ChainRuntime:
    """Chains on ``engine`` talking to the mock's agencies (close ``runtime.agencies`` after)."""
    agencies = build_agencies(
        connectors_config(mock, keys, attempt=attempt), sandbox_agency_urls(mock.base_url)
    )
    options = ChainOptions(
        poll_interval=dt.timedelta(seconds=poll),
        worker=ChainWorkerSettings(
            lease=dt.timedelta(seconds=30),
            retry=RetryPolicy(base=0.01, cap=0.05, max_attempts=1000),
        ),
    )
    kwargs = {"clock": clock} if clock is not None else {}
    return ChainRuntime.build(create_sessionmaker(engine), agencies, options, **kwargs)


async def close(runtime: ChainRuntime) -> None:
    """Close the runtime's agency connectors."""
    for agency in runtime.agencies.values():
        await agency.aclose()  # type: ignore[attr-defined]


def birth_filing(serial: int, mother_id: str, *, received_at: dt.datetime = FILED) -> ChainFiling:
    """A birth-registration chain filing (synthetic child, a mother of the population mock)."""
    day = received_at.astimezone(VN_TZ).strftime("%y%m%d")
    return ChainFiling(
        chain_id="birth-residence-card",
        dossier_code=f"000.00.04.H04-{day}-{serial:04d}",
        agency_code="000.00.04.H04",
        applicant_name="Người Nộp Thử",
        applicant_id=mother_id,
        received_at=received_at,
        subject={
            "child_full_name": "Nguyễn Thị Bé",
            "child_date_of_birth": "2026-11-20",
            "child_sex": "female",
            "mother_id": mother_id,
            "address": "Số 1 Đường Thử, Phường Thử, Hà Nội",
        },
    )


def death_filing(
    serial: int, deceased_id: str, claimant_id: str, *, received_at: dt.datetime = FILED
) -> ChainFiling:
    """A death-registration chain filing (people of the population mock)."""
    day = received_at.astimezone(VN_TZ).strftime("%y%m%d")
    return ChainFiling(
        chain_id="death-residence-allowance",
        dossier_code=f"000.00.04.H04-{day}-{serial:04d}",
        agency_code="000.00.04.H04",
        applicant_name="Người Nộp Thử",
        applicant_id=claimant_id,
        received_at=received_at,
        subject={
            "deceased_id": deceased_id,
            "date_of_death": "2026-11-24",
            "place_of_death": "Bệnh viện Thử",
            "claimant_id": claimant_id,
        },
    )


async def file(
    runtime: ChainRuntime, engine: AsyncEngine, filing: ChainFiling, *, now: Any = None
) -> TakenIn:
    """Take ``filing`` in, in its own transaction (at store time ``now`` when given)."""
    async with create_sessionmaker(engine)() as session, session.begin():
        return await take_in(
            session, runtime.definitions[filing.chain_id], filing, runtime.calendar, now=now
        )
