"""``lienthong serve``: run the adapter API (and, in sandbox mode, the mock national endpoints).

Sandbox (the default) creates development keys on first run, keeps SQLite under ``--data``,
starts the mock endpoints on their own port in the same process and registers the sandbox
clients. ``--no-sandbox`` wires production: upstream URLs, credentials, the clients file and
the database come from ``LIENTHONG_*`` settings and nothing is created. ``--workers N`` (N > 1)
binds the port here and hands it to :class:`lienthong.workers.Supervisor`, which runs N
adapter processes on it.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from lienthong.http_protocol import ConnectionLimits
from lienthong.logs import configure_logging
from lienthong.options import OneLineError, command_settings, config_option
from lienthong.preflight import StartupError, preflight
from lienthong.server import TlsFiles, bind, run_server
from lienthong.settings import DEFAULT_DATA_DIR, DEFAULT_KEYS_DIR, Settings
from lienthong.stores import store_label


def _banner(settings: Settings, actual_mock_port: int | None) -> str:
    scheme = "https" if settings.serves_tls else "http"
    lines = [
        f"lienthong adapter  {scheme}://{settings.host}:{settings.port}",
        f"  OpenAPI          {scheme}://{settings.host}:{settings.port}/openapi.json",
        f"  health           {scheme}://{settings.host}:{settings.port}/readyz",
        f"  keys             {settings.keys_dir.resolve()}",
        f"  store            {store_label(settings.resolved_database_url)}",
    ]
    if settings.sandbox:
        mock = f"http://{settings.mock_host}:{actual_mock_port or settings.mock_port}"
        lines += [
            f"mock endpoints     {mock}",
            f"  population SOAP  {mock}/population/soap  (WSDL: ?wsdl)",
            f"  registry         {mock}/registry/token",
            f"  portal           {mock}/portal/login",
            f"  test data        {mock}/_admin/population/citizens?limit=10",
            "sandbox clients    province-app, ministry, integrator "
            f"(keys in {settings.keys_dir.resolve()}/<party>/)",
        ]
    return "\n".join(lines)


@click.command(name="serve")
@config_option
@click.option("--host", default=None, help="interface to listen on [127.0.0.1]")
@click.option("--port", type=int, default=None, help="adapter port [8000]")
@click.option(
    "--keys",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help=f"key folder (made on first run in sandbox) [{DEFAULT_KEYS_DIR}]",
)
@click.option(
    "--data",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help=f"data folder for the SQLite store [{DEFAULT_DATA_DIR}]",
)
@click.option(
    "--sandbox/--no-sandbox",
    default=None,
    help="start the mock endpoints and use development keys [sandbox]",
)
@click.option("--mock-port", type=int, default=None, help="sandbox mock endpoints' port [8001]")
@click.option(
    "--clients",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    default=None,
    help="clients file (JSON or TOML); sandbox clients when absent",
)
@click.option("--database-url", default=None, help="SQLAlchemy URL (PostgreSQL for production)")
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=None,
    help="adapter processes sharing the port (one per core the adapter may use) [1]",
)
@click.option(
    "--tls/--no-tls",
    default=None,
    help="serve HTTPS (sandbox: the development PKI's adapter TLS certificate) [no]",
)
@click.option(
    "--tls-cert",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    default=None,
    help="TLS server certificate chain (PEM); serves HTTPS",
)
@click.option(
    "--tls-key",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    default=None,
    help="TLS server private key (PEM)",
)
@click.option(
    "--tls-client-ca",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    default=None,
    help="require client certificates chaining to these CA certificates (PEM)",
)
@click.option("--log-level", default=None, help="lowest level logged [info]")
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default=None,
    help="log lines as text or as JSON objects [text]",
)
def serve(
    host: str | None,
    port: int | None,
    keys: Path | None,
    data: Path | None,
    sandbox: bool | None,
    mock_port: int | None,
    clients: Path | None,
    database_url: str | None,
    workers: int | None,
    tls: bool | None,
    tls_cert: Path | None,
    tls_key: Path | None,
    tls_client_ca: Path | None,
    log_level: str | None,
    log_format: str | None,
) -> None:
    """Run the adapter API (sandbox by default: mocks, development keys, SQLite).

    What cannot work (a port in use, keys that cannot be read, a bad clients file or config)
    stops it in one line, with exit status 1 (2 for bad settings), before the database is
    touched.
    """
    from lienthong.workers import STARTUP_FAILURE, Supervisor, prepare_elsewhere

    settings = command_settings(
        host=host,
        port=port,
        keys_dir=keys,
        data_dir=data,
        sandbox=sandbox,
        mock_port=mock_port,
        clients_file=clients,
        database_url=database_url,
        workers=workers,
        tls=tls,
        tls_cert_file=tls_cert,
        tls_key_file=tls_key,
        tls_client_ca_file=tls_client_ca,
        log_level=log_level,
        log_format=log_format,
    ).settings
    configure_logging(settings.log_level, settings.log_format)
    try:
        preflight(settings)
        tls_files = TlsFiles.from_settings(settings)
    except (StartupError, ValueError) as exc:
        raise OneLineError(f"cannot start: {exc}") from None
    if settings.workers > 1:  # the supervisor: it stays small, the workers build the adapter
        try:
            listener = bind(settings.host, settings.port)
            prepare_elsewhere(settings)
        except Exception as exc:
            raise OneLineError(f"cannot start: {_reason(exc)}") from None
        click.echo(_banner(settings, None))
        sys.exit(Supervisor(settings, listener, settings.log_level).run())

    from adapter_api.app import create_app
    from lienthong.bootstrap import build_container, prepare

    try:
        prepare(settings)
        container = build_container(settings)
    except Exception as exc:
        raise OneLineError(f"cannot start: {_reason(exc)}") from None
    click.echo(_banner(settings, None))
    if not run_server(
        create_app(container),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        limits=ConnectionLimits.from_settings(settings),
        tls=tls_files,
    ):
        sys.exit(STARTUP_FAILURE)


def _reason(exc: Exception) -> str:
    """One line: the error's first line, or its type when it says nothing."""
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


__all__ = ["TlsFiles", "bind", "configure_logging", "run_server", "serve"]
