"""Alembic environment: every area's tables (``store.tables``) on ``store.metadata.metadata``.

``store.db.upgrade`` hands a live connection over in ``config.attributes["connection"]``; run
without one (the ``alembic`` command with ``-x url=…``), an engine is made for the URL.
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import Connection

import store.tables  # noqa: F401  (registers every table)
from store.metadata import metadata

config = context.config


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_with_url(url: str) -> None:
    from store.db import create_engine

    engine = create_engine(url, pool_size=1)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(_run)
    finally:
        await engine.dispose()


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    url = context.get_x_argument(as_dictionary=True).get("url") or "data"
    asyncio.run(_run_with_url(url))
