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

``anchor`` has a time-stamping authority (RFC 3161) stamp the records since the last anchor;
``verify`` checks every anchor's token and that the records it names are still there, so a cut
tail or a rewritten chain is found without a head written down by hand.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import click
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from lienthong.options import (
    OneLineError,
    command_settings,
    config_option,
    existing_store,
    keys_option,
    store_options,
)
from security.errors import SecurityError
from security.trust import TrustStore
from security.tsa_client import TsaClient
from store.access_log_keys import ACCESS_LOG_RETIRED, rotate_access_log_key
from store.db import create_engine
from store.errors import DatabaseFailure
from store.log_keys import MESSAGE_LOG_KEY, LogKeyError, load_key
from store.message_log import (
    BodyCipher,
    MessageLogError,
    export_bundle,
    purge_bodies,
    verify_log,
)
from store.message_log.anchors import anchor_log
from store.tables.message_log import message_log, message_log_head

T = TypeVar("T")

#: the shortest retention period of the message bodies, in days (``--retention-days``)
DEFAULT_RETENTION_DAYS = 30

retention_option = click.option(
    "--retention-days",
    type=click.IntRange(min=0),
    envvar="LIENTHONG_LOG_RETENTION_DAYS",
    default=DEFAULT_RETENTION_DAYS,
    show_default=True,
    help="The shortest retention period of message bodies: a purge under a shorter one is a "
    "break for verify, and purge refuses it.",
)

tsa_ca_option = click.option(
    "--tsa-ca",
    type=click.Path(dir_okay=False, exists=True),
    envvar="LIENTHONG_LOG_ANCHOR_TSA_CA",
    default=None,
    help="CA certificate(s) the TSA's certificate chains to [default: the key folder's "
    "ca/cert.pem, the sandbox TSA's CA].",
)


def _url() -> tuple[str, Path]:
    """The store (named, found migrated: never created) and the key folder of this command."""
    settings = command_settings().settings
    return existing_store(settings), Path(settings.keys_dir)


def _run(url: str, work: Callable[[AsyncEngine], Awaitable[T]]) -> T:
    async def main() -> T:
        engine = create_engine(url, pool_size=2)
        try:
            return await work(engine)
        finally:
            await engine.dispose()

    try:
        return asyncio.run(main())
    except DatabaseFailure as exc:
        raise OneLineError(
            f"the message log cannot be read ({exc.kind}); "
            "is the database migrated ('lienthong db upgrade')?"
        ) from exc


def _cipher(keys_dir: Path, *, required: bool) -> BodyCipher | None:
    path = Path(keys_dir) / MESSAGE_LOG_KEY
    if not path.exists() and not required:
        return None
    try:
        return BodyCipher(load_key(path))
    except LogKeyError as exc:
        raise OneLineError(str(exc)) from exc


def _ca(keys_dir: Path) -> tuple[TrustStore | None, bytes | None]:
    path = Path(keys_dir) / "ca" / "cert.pem"
    if not path.exists():
        return None, None
    try:
        return TrustStore.from_pem_file(path), path.read_bytes()
    except (SecurityError, OSError) as exc:
        raise OneLineError(f"cannot load the CA certificate {path}: {exc}") from exc


def _tsa_trust(keys_dir: Path, tsa_ca: str | None) -> tuple[TrustStore | None, bytes | None]:
    if tsa_ca is None:
        return _ca(keys_dir)
    try:
        return TrustStore.from_pem_file(tsa_ca), Path(tsa_ca).read_bytes()
    except (SecurityError, OSError) as exc:
        raise OneLineError(f"cannot load the TSA's CA {tsa_ca}: {exc}") from exc


@click.group()
def log() -> None:
    """Verify and export the message log; rotate the access log's key."""


@log.command("verify")
@store_options
@keys_option
@click.option("--chain-only", is_flag=True, help="Check the chain only, not bodies or signatures.")
@click.option(
    "--expect-head",
    metavar="SEQ:DIGEST",
    default=None,
    help="A head written down earlier (by 'log head'): the chain must still pass through it.",
)
@retention_option
@tsa_ca_option
@click.option(
    "--max-anchor-age",
    type=click.FloatRange(min=1),
    envvar="LIENTHONG_LOG_ANCHOR_MAX_AGE",
    default=None,
    metavar="SECONDS",
    help="The newest anchor must be younger than this (anchoring runs periodically): an older "
    "one means anchoring stopped or the newest anchors were removed.",
)
def verify_command(
    chain_only: bool,
    expect_head: str | None,
    retention_days: int,
    tsa_ca: str | None,
    max_anchor_age: float | None,
) -> None:
    """Check the chain, every body and every signature offline; exit 0 only when intact."""
    url, keys_dir = _url()
    cipher = None if chain_only else _cipher(keys_dir, required=False)
    trust = None if chain_only else _ca(keys_dir)[0]
    tsa_trust = _tsa_trust(keys_dir, tsa_ca)[0]
    anchor = _parse_anchor(expect_head) if expect_head else None

    async def work(engine: AsyncEngine) -> tuple[str, bool]:
        report = await verify_log(
            engine,
            cipher=cipher,
            trust=trust,
            min_retention=dt.timedelta(days=retention_days),
            tsa_trust=tsa_trust,
            max_anchor_age=(
                dt.timedelta(seconds=max_anchor_age) if max_anchor_age is not None else None
            ),
        )
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
@store_options
def head_command() -> None:
    """Print the last record as SEQ:DIGEST, to keep outside the database."""
    url, _ = _url()

    async def work(engine: AsyncEngine) -> str:
        async with engine.connect() as conn:
            head = (await conn.execute(select(message_log_head))).first()
        return "0:" + "0" * 64 if head is None else f"{head.seq}:{head.digest}"

    click.echo(_run(url, work))


@log.command("anchor")
@click.option(
    "--tsa-url",
    envvar="LIENTHONG_LOG_ANCHOR_TSA_URL",
    default=None,
    help="The time-stamping authority's URL (RFC 3161 over HTTP; the sandbox's mock serves /tsa).",
)
@tsa_ca_option
@store_options
@keys_option
def anchor_command(tsa_url: str | None, tsa_ca: str | None) -> None:
    """Have the TSA time-stamp the records since the last anchor (the head if none were added)."""
    if not tsa_url:
        raise OneLineError(
            "no time-stamping authority: give --tsa-url or set LIENTHONG_LOG_ANCHOR_TSA_URL"
        )
    url, keys_dir = _url()
    trust = _tsa_trust(keys_dir, tsa_ca)[0]
    if trust is None:
        raise OneLineError(
            f"no CA to check the TSA with: give --tsa-ca (no {Path(keys_dir) / 'ca' / 'cert.pem'})"
        )
    stamper = TsaClient(tsa_url, trust)

    async def work(engine: AsyncEngine) -> str:
        made = await anchor_log(engine, stamper)
        if not made:
            return "another process anchored the head at the same time; nothing to do"
        last = made[-1]
        covered = sum(len(anchor.covers) for anchor in made)
        return (
            f"anchored {covered} records up to record {last.last_seq} in {len(made)} "
            f"anchor(s), time-stamped {last.gen_time:%Y-%m-%dT%H:%M:%SZ} by {tsa_url}"
        )

    try:
        click.echo(_run(url, work))
    except SecurityError as exc:
        raise OneLineError(f"anchoring failed: {exc} [{exc.reason}]") from exc


@log.command("export")
@click.argument("message_id")
@click.option("--out", type=click.Path(dir_okay=False), default=None, help="The zip to write.")
@click.option("--seq", type=int, default=None, help="Which attempt (record number); the last one.")
@store_options
@keys_option
@tsa_ca_option
def export_command(message_id: str, out: str | None, seq: int | None, tsa_ca: str | None) -> None:
    """Write the evidence bundle of MESSAGE_ID (a zip checkable with xmlsec1 and openssl).

    ``lienthong log list`` finds message ids (by dossier, time, operation).
    """
    url, keys_dir = _url()
    cipher = _cipher(keys_dir, required=False)
    _, ca_pem = _ca(keys_dir)
    tsa_pem = _tsa_trust(keys_dir, tsa_ca)[1]
    target = Path(out or f"evidence-{message_id}.zip")

    async def work(engine: AsyncEngine) -> str:
        bundle = await export_bundle(
            engine, message_id, target, cipher=cipher, ca_pem=ca_pem, seq=seq, tsa_ca_pem=tsa_pem
        )
        bodies = "bodies purged" if bundle.purged else f"{len(bundle.checks)} checks"
        return f"wrote {bundle.path} (record {bundle.seq}, {bodies}; see README.txt inside)"

    try:
        click.echo(_run(url, work))
    except MessageLogError as exc:
        raise OneLineError(str(exc)) from exc


def _when(value: str | None, name: str) -> dt.datetime | None:
    if value is None:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter("expected an ISO date or time", param_hint=name) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


@log.command("list")
@click.option("--dossier", default=None, help="Exchanges made for this dossier code.")
@click.option("--operation", default=None, help="Only this operation (GetCitizen, TraCuuHoSo …).")
@click.option("--upstream", default=None, help="Only this upstream (population, registry, portal).")
@click.option("--since", default=None, help="From this ISO time (UTC unless it has an offset).")
@click.option("--until", default=None, help="Before this ISO time.")
@click.option("--limit", type=click.IntRange(1, 10_000), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@store_options
def list_command(
    dossier: str | None,
    operation: str | None,
    upstream: str | None,
    since: str | None,
    until: str | None,
    limit: int,
    as_json: bool,
) -> None:
    """List exchanges, newest first: message id, time, upstream, operation, outcome, dossier.

    The message id is what 'lienthong log export' takes.
    """
    start, end = _when(since, "--since"), _when(until, "--until")
    url, _ = _url()
    columns = (
        message_log.c.seq,
        message_log.c.message_id,
        message_log.c.started_at,
        message_log.c.upstream,
        message_log.c.operation,
        message_log.c.outcome,
        message_log.c.issue,
    )
    query = select(*columns).order_by(message_log.c.seq.desc()).limit(limit)
    if dossier is not None:
        query = query.where(message_log.c.issue == dossier)
    if operation is not None:
        query = query.where(message_log.c.operation == operation)
    if upstream is not None:
        query = query.where(message_log.c.upstream == upstream)
    if start is not None:
        query = query.where(message_log.c.started_at >= start)
    if end is not None:
        query = query.where(message_log.c.started_at < end)

    async def work(engine: AsyncEngine) -> list[dict[str, object]]:
        async with engine.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [dict(row) for row in rows]

    rows = _run(url, work)
    if not rows:
        click.echo("no exchanges match", err=True)
    for row in rows:
        started = row["started_at"]
        when = started.isoformat(timespec="seconds") if isinstance(started, dt.datetime) else "-"
        if as_json:
            click.echo(json.dumps({**row, "started_at": when}, ensure_ascii=False))
        else:
            click.echo(
                f"{row['message_id']}\t{when}\t{row['upstream']}\t{row['operation']}\t"
                f"{row['outcome']}\t{row['issue'] or '-'}\t#{row['seq']}"
            )


@log.command("purge")
@click.option(
    "--older-than",
    "days",
    type=click.IntRange(min=0),
    required=True,
    help="Retention period in days: bodies of older exchanges are dropped.",
)
@retention_option
@store_options
@keys_option
def purge_command(days: int, retention_days: int) -> None:
    """Drop the bodies of exchanges older than DAYS; the chain stays verifiable."""
    if days < retention_days:
        raise OneLineError(
            f"--older-than {days} is shorter than the retention period ({retention_days} days; "
            "--retention-days or LIENTHONG_LOG_RETENTION_DAYS)"
        )
    url, keys_dir = _url()
    cipher = _cipher(keys_dir, required=True)
    assert cipher is not None

    async def work(engine: AsyncEngine) -> int:
        return await purge_bodies(engine, older_than=dt.timedelta(days=days), cipher=cipher)

    count = _run(url, work)
    click.echo(f"purged the bodies of {count} records older than {days} days")


@log.command("rotate-access-key")
@config_option
@keys_option
def rotate_access_key_command() -> None:
    """Retire the access log's key and make a new one (restart the adapter to use it).

    The retired key is kept in adapter/accesslog.retired/ and must stay there: the rows made
    with it are found through it. Prints key ids, never keys.
    """
    keys_dir = command_settings().settings.keys_dir
    if not keys_dir.is_dir():
        raise OneLineError(f"no key folder at {keys_dir} (give --keys or set LIENTHONG_KEYS_DIR)")
    try:
        rotation = rotate_access_log_key(keys_dir)
    except LogKeyError as exc:
        raise OneLineError(str(exc)) from exc
    click.echo(
        f"rotated the access-log key: new key {rotation.new_id}, retired key "
        f"{rotation.retired_id} (kept in {Path(keys_dir) / ACCESS_LOG_RETIRED}); "
        "restart the adapter to write with the new key"
    )


__all__ = ["log"]
