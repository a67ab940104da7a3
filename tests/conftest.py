"""Shared fixtures: the development PKI, store URLs for SQLite and PostgreSQL."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

#: the store fixtures (``store_url`` over SQLite and PostgreSQL, ``engine``) for every test
pytest_plugins = ("tests.support.stores",)


def _required(name: str) -> bool:
    """In CI every optional dependency of the suite must be present: a skip would hide a gap."""
    return os.environ.get("CI") == "true" or os.environ.get(f"LIENTHONG_REQUIRE_{name}") == "1"


@pytest.fixture(scope="session")
def xmlsec1() -> str:
    """The path of the independent ``xmlsec1`` tool (skipped outside CI when it is absent)."""
    path = shutil.which("xmlsec1")
    if path is None:
        if _required("XMLSEC1"):
            pytest.fail("xmlsec1 is required here but not installed (apt-get install xmlsec1)")
        pytest.skip("xmlsec1 is not installed")
    return path


@pytest.fixture(scope="session")
def postgres_dsn() -> Iterator[str]:
    """A fresh PostgreSQL database for this session (LIENTHONG_TEST_PG_DSN names the server)."""
    base = os.environ.get("LIENTHONG_TEST_PG_DSN")
    if not base:
        if _required("POSTGRES"):
            pytest.fail("LIENTHONG_TEST_PG_DSN must name the test PostgreSQL server")
        pytest.skip("LIENTHONG_TEST_PG_DSN is not set")
    import uuid

    import psycopg2

    name = f"lienthong_test_{uuid.uuid4().hex[:12]}"
    admin = psycopg2.connect(base)
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{name}"')
    try:
        yield base.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The Redis server for shared-state tests (LIENTHONG_TEST_REDIS_URL, else 127.0.0.1:6379)."""
    import redis

    url = os.environ.get("LIENTHONG_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
    client = redis.Redis.from_url(url, socket_connect_timeout=1.0)
    try:
        client.ping()
    except redis.RedisError:
        if _required("REDIS"):
            pytest.fail(f"the Redis server at {url} is required here but does not answer")
        pytest.skip(f"no Redis server answers at {url}")
    finally:
        client.close()
    return url


@pytest.fixture(scope="session")
def chromium() -> tuple[str, str]:
    """Debian's Chromium and its driver (skipped outside CI when they are not installed)."""
    browser = shutil.which("chromium")
    driver = shutil.which("chromedriver")
    if browser is None or driver is None:
        if _required("CHROMIUM"):
            pytest.fail(
                "chromium and chromedriver are required here (apt-get install chromium "
                "chromium-driver)"
            )
        pytest.skip("chromium or chromedriver is not installed")
    return browser, driver


@pytest.fixture(scope="session")
def dev_keys(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A development PKI (ECDSA P-256) made once per session by ``security.pki``."""
    from security.pki import init_dev_pki

    folder = tmp_path_factory.mktemp("keys")
    init_dev_pki(folder)
    return folder


@pytest.fixture(scope="session")
def dev_keys_rsa(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A development PKI with RSA-2048 keys."""
    from security.pki import init_dev_pki

    folder = tmp_path_factory.mktemp("keys_rsa")
    init_dev_pki(folder, rsa=True)
    return folder
