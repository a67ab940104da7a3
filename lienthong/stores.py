"""The store a command uses: named in one line, and never made by a command that only reads it.

:func:`store_label` names a database without its password (``sqlite /abs/path/lienthong.db``,
``postgresql db.example:5432/lienthong``); every operator command prints it first (on stderr,
so that ``--json`` output stays parseable). :func:`check_existing_store` is what every command
but ``serve`` and ``db upgrade`` asks before it opens the store: a SQLite file that is not
there, a server that cannot be reached, or a database that is not migrated to this version is a
:class:`StoreUnavailable` (one line; the command exits 2), and nothing is created.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlsplit

#: exit status of a command whose store is missing, unreachable or not migrated
EXIT_NO_STORE = 2


class StoreUnavailable(Exception):
    """The store is missing, unreachable or not migrated; the message says which, in one line."""


def _dialect(url: str) -> str:
    return url.partition("://")[0].partition("+")[0].lower()


def store_label(url: str) -> str:
    """``dialect`` and the file or ``host:port/database`` of ``url``; never a user or password.

    Parsed without SQLAlchemy, so that naming the store costs nothing to import.
    """
    dialect = _dialect(url)
    if dialect == "sqlite":
        path = sqlite_file(url)
        return f"sqlite {path if path is not None else ':memory:'}"
    try:
        parts = urlsplit(url)
        host, port = parts.hostname or "localhost", parts.port
    except ValueError:
        return "an unparseable database URL"
    where = f"{host}:{port}" if port else host
    return f"{dialect or 'unknown'} {where}{parts.path or '/'}"


def sqlite_file(url: str) -> Path | None:
    """The SQLite file ``url`` names, or None for another database (or an in-memory one)."""
    if _dialect(url) != "sqlite":
        return None
    rest = url.partition("://")[2]
    if not rest.startswith("/"):
        return None
    path = unquote(rest[1:].partition("?")[0])
    return Path(path) if path and path != ":memory:" else None


async def check_existing_store(url: str) -> str:
    """Raise :class:`StoreUnavailable` unless ``url`` is a reachable, migrated store; its URL.

    Nothing is created: a SQLite file is looked for before any engine opens it (opening one
    would make an empty file).
    """
    from store.db import current_async, head_revision, normalize_url
    from store.errors import DatabaseFailure, StoreError

    label = store_label(url)
    path = sqlite_file(url)
    if path is not None and not path.is_file():
        raise StoreUnavailable(
            f"no database at {path} (give --config, --data or --database-url, "
            "or make it with 'lienthong db upgrade')"
        )
    try:
        normalized = normalize_url(url)
        revision = await current_async(normalized)
    except DatabaseFailure as exc:
        raise StoreUnavailable(f"{label} cannot be reached ({exc.kind})") from None
    except StoreError as exc:
        raise StoreUnavailable(f"{label}: {exc}") from None
    except OSError as exc:
        raise StoreUnavailable(f"{label} cannot be reached ({type(exc).__name__})") from None
    head = head_revision()
    if revision is None:
        raise StoreUnavailable(f"{label} is not migrated: run 'lienthong db upgrade'")
    if revision != head:
        raise StoreUnavailable(
            f"{label} is at revision {revision}, this version needs {head}: "
            "run 'lienthong db upgrade'"
        )
    return normalized


__all__ = [
    "EXIT_NO_STORE",
    "StoreUnavailable",
    "check_existing_store",
    "sqlite_file",
    "store_label",
]
