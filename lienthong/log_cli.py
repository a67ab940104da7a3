"""``lienthong log``: verify the message log, export evidence bundles, purge old bodies, rotate
the access log's key.

``verify`` walks the whole chain offline and prints one line: ``OK: …`` (exit 0) or
``BROKEN at record N (message ID): what is wrong [code]`` (exit 1). With the key folder it also
decrypts every body (``adapter/messagelog.key``) and checks every signature against the CA
(``ca/cert.pem``) at the time of its exchange. ``export`` writes one exchange as a zip that can be
checked without lienthong (docs/evidence-bundle.md); ``purge`` drops the bodies older than the
retention period and keeps the chain; ``head`` prints the last record's number and digest, to be
written down somewhere else (a later ``verify --expect-head`` proves nothing was rewritten since).
``rotate-access-key`` retires the access log's HMAC key and makes a new one
(``store.access_log_keys``); the adapter writes with it once restarted, and its searches still
find the rows made under the retired keys.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import click
from click.decorators import FC
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from lienthong.db_cli import data_dir_option, database_url_option, resolve_url
from security.errors import SecurityError
from security.trust import TrustStore
from store.access_log_keys import ACCESS_LOG_RETIRED, rotate_access_log_key
from store.db import SQLITE_FILE, create_engine
from store.log_keys import MESSAGE_LOG_KEY, LogKeyError, load_key
from store.message_log import (
    BodyCipher,
    MessageLogError,
    export_bundle,
    purge_bodies,
    verify_log,
)
from store.tables.message_log import message_log, message_log_head

#: the same default as the adapter's settings (``LIENTHONG_KEYS_DIR``), so that
#: ``lienthong log …`` finds what ``lienthong serve`` wrote
DEFAULT_KEYS_DIR = ".lienthong/keys"

T = TypeVar("T")

data_option = data_dir_option("Data folder holding the SQLite database.")


def keys_dir_option(help: str) -> Callable[[FC], FC]:
    """``--keys`` (``LIENTHONG_KEYS_DIR``): the key folder, passed on as ``keys_dir``."""
    return click.option(
        "--keys",
        "keys_dir",
        type=click.Path(file_okay=False),
        envvar="LIENTHONG_KEYS_DIR",
        default=DEFAULT_KEYS_DIR,
        show_default=True,
        help=help,
    )


keys_option = keys_dir_option(
    "Key folder: adapter/messagelog.key decrypts bodies, ca/cert.pem checks signatures."
)


def _url(data_dir: str, database_url: str | None) -> str:
    """The database to read; a data folder without a database is an error, not created."""
    if not database_url and not (Path(data_dir) / SQLITE_FILE).is_file():
        raise click.ClickException(
            f"no database in {data_dir} (give --data or --database-url, or set LIENTHONG_DATA_DIR)"
        )
    return resolve_url(data_dir, database_url)


def _run(url: str, work: Callable[[AsyncEngine], Awaitable[T]]) -> T:
    async def main() -> T:
        engine = create_engine(url, pool_size=2)
        try:
            return await work(engine)
        finally:
            await engine.dispose()

    try:
        return asyncio.run(main())
    except SQLAlchemyError as exc:
        raise click.ClickException(
            f"the message log cannot be read ({type(exc).__name__}); "
            "is the database migrated ('lienthong db upgrade')?"
        ) from exc


def _cipher(keys_dir: str, *, required: bool) -> BodyCipher | None:
    path = Path(keys_dir) / MESSAGE_LOG_KEY
    if not path.exists() and not required:
        return None
    try:
        return BodyCipher(load_key(path))
    except LogKeyError as exc:
        raise click.ClickException(str(exc)) from exc


def _ca(keys_dir: str) -> tuple[TrustStore | None, bytes | None]:
    path = Path(keys_dir) / "ca" / "cert.pem"
    if not path.exists():
        return None, None
    try:
        return TrustStore.from_pem_file(path), path.read_bytes()
    except (SecurityError, OSError) as exc:
        raise click.ClickException(f"cannot load the CA certificate {path}: {exc}") from exc


@click.group()
def log() -> None:
    """Verify and export the message log; rotate the access log's key."""


@log.command("verify")
@data_option
@database_url_option
@keys_option
@click.option("--chain-only", is_flag=True, help="Check the chain only, not bodies or signatures.")
@click.option(
    "--expect-head",
    metavar="SEQ:DIGEST",
    default=None,
    help="A head written down earlier (by 'log head'): the chain must still pass through it.",
)
def verify_command(
    data_dir: str,
    database_url: str | None,
    keys_dir: str,
    chain_only: bool,
    expect_head: str | None,
) -> None:
    """Check the chain, every body and every signature offline; exit 0 only when intact."""
    url = _url(data_dir, database_url)
    cipher = None if chain_only else _cipher(keys_dir, required=False)
    trust = None if chain_only else _ca(keys_dir)[0]
    anchor = _parse_anchor(expect_head) if expect_head else None

    async def work(engine: AsyncEngine) -> tuple[str, bool]:
        report = await verify_log(engine, cipher=cipher, trust=trust)
        if report.intact and anchor is not None:
            seq, digest = anchor
            async with engine.connect() as conn:
                found = (
                    await conn.execute(select(message_log.c.digest).where(message_log.c.seq == seq))
                ).scalar()
            if found != digest:
                return (
                    f"BROKEN at record {seq}: its digest is not the one written down earlier "
                    "(the chain was rewritten from there on, or the record is gone) "
                    "[anchor_mismatch]",
                    False,
                )
        return report.line(), report.intact

    line, intact = _run(url, work)
    click.echo(line)
    if not intact:
        raise SystemExit(1)


def _parse_anchor(text: str) -> tuple[int, str]:
    seq, _, digest = text.partition(":")
    if not seq.isdigit() or len(digest) != 64:
        raise click.BadParameter("expected SEQ:DIGEST as printed by 'log head'")
    return int(seq), digest.lower()


@log.command("head")
@data_option
@database_url_option
def head_command(data_dir: str, database_url: str | None) -> None:
    """Print the last record as SEQ:DIGEST, to keep outside the database."""
    url = _url(data_dir, database_url)

    async def work(engine: AsyncEngine) -> str:
        async with engine.connect() as conn:
            head = (await conn.execute(select(message_log_head))).first()
        return "0:" + "0" * 64 if head is None else f"{head.seq}:{head.digest}"

    click.echo(_run(url, work))


@log.command("export")
@click.argument("message_id")
@click.option("--out", type=click.Path(dir_okay=False), default=None, help="The zip to write.")
@click.option("--seq", type=int, default=None, help="Which attempt (record number); the last one.")
@data_option
@database_url_option
@keys_option
def export_command(
    message_id: str,
    out: str | None,
    seq: int | None,
    data_dir: str,
    database_url: str | None,
    keys_dir: str,
) -> None:
    """Write the evidence bundle of MESSAGE_ID (a zip checkable with xmlsec1 and openssl)."""
    url = _url(data_dir, database_url)
    cipher = _cipher(keys_dir, required=False)
    _, ca_pem = _ca(keys_dir)
    target = Path(out or f"evidence-{message_id}.zip")

    async def work(engine: AsyncEngine) -> str:
        bundle = await export_bundle(
            engine, message_id, target, cipher=cipher, ca_pem=ca_pem, seq=seq
        )
        bodies = "bodies purged" if bundle.purged else f"{len(bundle.checks)} checks"
        return f"wrote {bundle.path} (record {bundle.seq}, {bodies}; see README.txt inside)"

    try:
        click.echo(_run(url, work))
    except MessageLogError as exc:
        raise click.ClickException(str(exc)) from exc


@log.command("purge")
@click.option(
    "--older-than",
    "days",
    type=click.IntRange(min=0),
    required=True,
    help="Retention period in days: bodies of older exchanges are dropped.",
)
@data_option
@database_url_option
def purge_command(days: int, data_dir: str, database_url: str | None) -> None:
    """Drop the bodies of exchanges older than DAYS; the chain stays verifiable."""
    url = _url(data_dir, database_url)

    async def work(engine: AsyncEngine) -> int:
        return await purge_bodies(engine, older_than=dt.timedelta(days=days))

    count = _run(url, work)
    click.echo(f"purged the bodies of {count} records older than {days} days")


@log.command("rotate-access-key")
@keys_dir_option("Key folder holding adapter/accesslog.key.")
def rotate_access_key_command(keys_dir: str) -> None:
    """Retire the access log's key and make a new one (restart the adapter to use it).

    The retired key is kept in adapter/accesslog.retired/ and must stay there: the rows made
    with it are found through it. Prints key ids, never keys.
    """
    if not Path(keys_dir).is_dir():
        raise click.ClickException(
            f"no key folder at {keys_dir} (give --keys or set LIENTHONG_KEYS_DIR)"
        )
    try:
        rotation = rotate_access_log_key(keys_dir)
    except LogKeyError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(
        f"rotated the access-log key: new key {rotation.new_id}, retired key "
        f"{rotation.retired_id} (kept in {Path(keys_dir) / ACCESS_LOG_RETIRED}); "
        "restart the adapter to write with the new key"
    )


__all__ = ["log"]
