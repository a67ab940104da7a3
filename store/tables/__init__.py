"""Every table of the store, one module per area, all on ``store.metadata.metadata``.

Importing this package registers them all (Alembic's env and ``create_all`` rely on it). Each area
adds its module to the import list below.
"""

from __future__ import annotations

import importlib

_AREAS = (
    "dossiers",
    "outbox",
    "message_log",
    "access_log",
    "watches",
    "chains",
    "push",
    "operators",
)

for _area in _AREAS:
    try:
        importlib.import_module(f"{__name__}.{_area}")
    except ModuleNotFoundError as exc:  # an area not written yet
        if exc.name != f"{__name__}.{_area}":
            raise
