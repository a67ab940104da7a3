"""Every table of the store, one module per area, all on ``store.metadata.metadata``.

Importing this package registers them all (Alembic's env and ``create_all`` rely on it). Each area
adds its module to the imports and to :data:`AREAS` below; the imports are plain, so an area whose
module is missing or broken fails loudly here instead of leaving its tables silently unregistered.
"""

from __future__ import annotations

from types import ModuleType

from store.tables import (
    access_log,
    chains,
    dossiers,
    message_log,
    operators,
    outbox,
    push,
    watches,
)

#: every area's table module (the migrations are checked against each one's tables)
AREAS: tuple[ModuleType, ...] = (
    access_log,
    chains,
    dossiers,
    message_log,
    operators,
    outbox,
    push,
    watches,
)

__all__ = ["AREAS"]
