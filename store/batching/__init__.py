"""Batching: how the store commits what many concurrent callers write, in shared transactions.

Three layers, each usable alone:

* :mod:`~store.batching.commit_queue` — :class:`CommitQueue`: items queued by callers, one writer
  task committing them in batches (a failed batch is retried item by item); the dossier writes
  are one;
* :mod:`~store.batching.driver` — :func:`driver_transaction`: statements run straight on the
  database driver (aiosqlite / asyncpg) inside one transaction, for the logs' hot path;
* :mod:`~store.batching.group_commit` — :class:`GroupCommit`: one commit queue on the driver
  shared by several :class:`Journal` s (the message log, the access log), so that one lookup's
  records and another's share a transaction.

Everything here is the store's own machinery: outside the store, ask ``store.logs`` (the lookup
logs) or the store's writers, never these classes.
"""

from __future__ import annotations

from store.batching.commit_queue import CommitQueue, QueueFigures, Written
from store.batching.driver import (
    DriverStatement,
    DriverTransaction,
    GuardFailed,
    StatementBuilder,
    driver_transaction,
)
from store.batching.group_commit import MAX_BATCH, GroupCommit, Journal

__all__ = [
    "MAX_BATCH",
    "CommitQueue",
    "DriverStatement",
    "DriverTransaction",
    "GroupCommit",
    "GuardFailed",
    "Journal",
    "QueueFigures",
    "StatementBuilder",
    "Written",
    "driver_transaction",
]
