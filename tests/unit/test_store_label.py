"""The store a command names: dialect and file or host, never a user or password."""

from __future__ import annotations

from pathlib import Path

from lienthong.config import mask, mask_url
from lienthong.stores import sqlite_file, store_label


def test_postgresql_is_named_by_host_port_and_database_only() -> None:
    """User and password are left out of the label."""
    url = "postgresql+asyncpg://lienthong:s3cret@db.example:5433/lienthong"
    assert store_label(url) == "postgresql db.example:5433/lienthong"
    assert "s3cret" not in store_label(url)


def test_sqlite_is_named_by_its_file() -> None:
    """An absolute SQLite URL names the file; an in-memory one names no file."""
    assert store_label("sqlite+aiosqlite:////srv/data/lienthong.db") == (
        "sqlite /srv/data/lienthong.db"
    )
    assert sqlite_file("sqlite+aiosqlite:////srv/data/lienthong.db") == Path(
        "/srv/data/lienthong.db"
    )
    assert sqlite_file("sqlite+aiosqlite:///:memory:") is None
    assert sqlite_file("postgresql://db/x") is None


def test_secrets_are_masked_by_name_and_in_urls() -> None:
    """Passwords and secrets print as ***; a URL keeps everything but its password."""
    assert mask("portal_password", "hunter2") == "***"
    assert mask("registry_client_secret", "x") == "***"
    assert mask("database_url", "postgresql://u:pw@h:5432/d") == "postgresql://u:***@h:5432/d"
    assert mask_url("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"
    assert mask("port", 8000) == "8000"
