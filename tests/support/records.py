"""Fakes and helpers for the watched-records tests: a SQLite store, fake national connectors."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import store.tables  # noqa: F401 - registers every table on the metadata
from connectors.base import CallContext
from connectors.errors import NotFound, TransientError, UpstreamUnavailable
from store.db import create_engine, create_sessionmaker
from store.metadata import metadata


@asynccontextmanager
async def sqlite_sessions(folder: Path) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """Sessions on a fresh SQLite store in ``folder`` with every table created."""
    engine = create_engine(folder)
    async with engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
    try:
        yield create_sessionmaker(engine)
    finally:
        await engine.dispose()


class FakeRecord(BaseModel):
    """A stand-in for a national record: any fields, frozen."""

    model_config = ConfigDict(extra="allow", frozen=True)


class FakeUpstream:
    """A national system holding records by id, that can go down after a number of reads.

    ``fail_after`` reads succeed, then every read raises ``UpstreamUnavailable`` until
    ``fail_after`` is set back to ``None``. ``calls`` lists the ids read, and ``contexts`` the
    call contexts they came with.
    """

    def __init__(self, name: str, records: dict[str, dict[str, Any]] | None = None) -> None:
        self.name = name
        self.records: dict[str, dict[str, Any]] = dict(records or {})
        self.fail_after: int | None = None
        self.calls: list[str] = []
        self.contexts: list[CallContext] = []
        self.failing: Callable[[str], bool] | None = None

    async def _read(self, record_id: str, ctx: CallContext) -> FakeRecord:
        if self.fail_after is not None and len(self.calls) >= self.fail_after:
            raise UpstreamUnavailable("upstream down", upstream=self.name)
        if self.failing is not None and self.failing(record_id):
            raise TransientError("flaky", upstream=self.name)
        self.calls.append(record_id)
        self.contexts.append(ctx)
        record = self.records.get(record_id)
        if record is None:
            raise NotFound("not found", upstream=self.name, fault_code="NOT_FOUND")
        return FakeRecord(**record)


class FakePopulation(FakeUpstream):
    """The population connector's ``get_citizen`` and ``verify_citizen`` over a dict."""

    def __init__(self, records: dict[str, dict[str, Any]] | None = None) -> None:
        super().__init__("population", records)

    async def get_citizen(self, citizen_id: str, ctx: CallContext) -> FakeRecord:
        return await self._read(citizen_id, ctx)

    async def verify_citizen(
        self, citizen_id: str, full_name: str, date_of_birth: Any, ctx: CallContext
    ) -> bool:
        try:
            record = await self._read(citizen_id, ctx)
        except NotFound:
            return False
        data = record.model_dump()
        return bool(
            data.get("full_name") == full_name
            and str(data.get("date_of_birth")) == str(date_of_birth)
        )


class FakeRegistry(FakeUpstream):
    """The registry connector's ``get_business`` over a dict."""

    def __init__(self, records: dict[str, dict[str, Any]] | None = None) -> None:
        super().__init__("registry", records)

    async def get_business(self, tax_code: str, ctx: CallContext) -> FakeRecord:
        return await self._read(tax_code, ctx)
