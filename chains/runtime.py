"""Everything chains need at run time, built in one place from plain options.

``build_agencies`` makes one signed connector per agency system; ``ChainRuntime`` holds the
definitions, the working-day calendar, the step queue and the agencies, and makes workers. The
adapter's bootstrap, the command line, the bench and the tests all build chains through here.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from chains.definitions import AGENCIES, ChainDefinition, load_definitions
from chains.queue import SqlChainQueue
from chains.worker import AgencyClient, ChainWorker, ChainWorkerSettings
from connectors.agencies import AgencyConnector
from connectors.exchange import ExchangeRecorder
from connectors.factory import ConnectorsConfig, build_agency
from schemas.times import utc_now
from timeliness.calendar import WorkingCalendar


def sandbox_agency_urls(mock_base_url: str) -> dict[str, str]:
    """Each agency system's base URL on one mock server (``…/civil-status`` and so on)."""
    root = mock_base_url.rstrip("/")
    return {name: f"{root}/{name}" for name in AGENCIES}


def build_agencies(
    config: ConnectorsConfig,
    urls: Mapping[str, str],
    *,
    recorder: ExchangeRecorder | None = None,
) -> dict[str, AgencyConnector]:
    """One connector per agency system named in ``urls``."""
    return {name: build_agency(config, name, url, recorder=recorder) for name, url in urls.items()}


@dataclass(frozen=True, slots=True)
class ChainOptions:
    """Where the definitions and calendar overrides are, how often to poll, leases, lanes."""

    definitions_dir: Path | None = None
    calendar_dir: Path | None = None
    poll_interval: dt.timedelta = dt.timedelta(seconds=60)
    worker: ChainWorkerSettings = field(default_factory=ChainWorkerSettings)


@dataclass
class ChainRuntime:
    """The definitions, the calendar, the step queue and the agencies of one process."""

    definitions: Mapping[str, ChainDefinition]
    calendar: WorkingCalendar
    queue: SqlChainQueue
    agencies: Mapping[str, AgencyClient]
    options: ChainOptions

    @classmethod
    def build(
        cls,
        sessions: async_sessionmaker[AsyncSession],
        agencies: Mapping[str, AgencyClient],
        options: ChainOptions | None = None,
        *,
        clock: Callable[[], dt.datetime] = utc_now,
    ) -> ChainRuntime:
        """Load the definitions and the calendar; make the queue on ``sessions``."""
        options = options or ChainOptions()
        definitions = load_definitions(options.definitions_dir)
        calendar = WorkingCalendar.load(options.calendar_dir)
        queue = SqlChainQueue(
            sessions, definitions, calendar, poll_interval=options.poll_interval, clock=clock
        )
        return cls(definitions, calendar, queue, agencies, options)

    def worker(
        self, *, worker_id: str | None = None, clock: Callable[[], dt.datetime] = utc_now
    ) -> ChainWorker:
        """A worker taking this runtime's steps to its agencies."""
        return ChainWorker(
            self.queue,
            self.agencies,
            self.definitions,
            settings=self.options.worker,
            worker_id=worker_id,
            clock=clock,
        )


__all__ = ["ChainOptions", "ChainRuntime", "build_agencies", "sandbox_agency_urls"]
