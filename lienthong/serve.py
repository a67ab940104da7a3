"""``lienthong serve``: run the adapter API (and, in sandbox mode, the mock national endpoints).

Sandbox (the default) creates development keys on first run, keeps SQLite under ``--data``,
starts the mock endpoints on their own port in the same process and registers the sandbox
clients. ``--no-sandbox`` wires production: upstream URLs, credentials, the clients file and
the database come from ``LIENTHONG_*`` settings and nothing is created. ``--workers N`` (N > 1)
binds the port here and hands it to :class:`lienthong.workers.Supervisor`, which runs N
adapter processes on it.
"""

from __future__ import annotations

import contextlib
import gc
import importlib.util
import logging
import socket
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from adapter_api.request_id import RequestIdLogFilter
from lienthong.settings import DEFAULT_DATA_DIR, DEFAULT_KEYS_DIR, Settings


def _settings(
    host: str | None,
    port: int | None,
    keys: Path | None,
    data: Path | None,
    sandbox: bool | None,
    mock_port: int | None,
    clients: Path | None,
    database_url: str | None,
    workers: int | None = None,
) -> Settings:
    overrides: dict[str, object] = {}
    for name, value in (
        ("host", host),
        ("port", port),
        ("keys_dir", keys),
        ("data_dir", data),
        ("sandbox", sandbox),
        ("mock_port", mock_port),
        ("clients_file", clients),
        ("database_url", database_url),
        ("workers", workers),
    ):
        if value is not None:
            overrides[name] = value
    return Settings(**overrides)  # type: ignore[arg-type]


def _banner(settings: Settings, actual_mock_port: int | None) -> str:
    lines = [
        f"lienthong adapter  http://{settings.host}:{settings.port}",
        f"  OpenAPI          http://{settings.host}:{settings.port}/openapi.json",
        f"  health           http://{settings.host}:{settings.port}/readyz",
        f"  keys             {settings.keys_dir.resolve()}",
        f"  database         {settings.resolved_database_url.split('@')[-1]}",
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


def run_server(
    app: Any,
    *,
    host: str,
    port: int,
    log_level: str = "info",
    sockets: list[socket.socket] | None = None,
    on_started: Callable[[], object] | None = None,
) -> bool:
    """Serve ``app`` with uvicorn as ``lienthong serve`` does (the adapter bench uses it too).

    On uvloop with the httptools parser (both come with ``uvicorn[standard]``), no access log
    (the metrics and the structured logs say what is needed, without personal data), no proxy
    headers, no ``server`` header; on ``sockets`` already bound (``--workers``) or on
    ``host:port``; ``on_started`` is called once the server accepts connections. Everything
    built at start-up (the bound WSDL, the models, the routes) is moved out of the garbage
    collector's reach first (``gc.freeze``): measured under load, each full collection otherwise
    walks it for ~60 ms. Returns whether the server started.
    """
    import uvicorn

    class Server(uvicorn.Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets=sockets)
            if self.started and on_started is not None:
                on_started()

    gc.collect()
    gc.freeze()
    server = Server(
        uvicorn.Config(
            app,
            host=host,
            port=port,
            log_level=log_level,
            lifespan="on",
            loop="uvloop" if importlib.util.find_spec("uvloop") is not None else "asyncio",
            http="httptools",
            access_log=False,
            proxy_headers=False,
            server_header=False,
        )
    )
    with contextlib.suppress(KeyboardInterrupt):  # uvicorn re-raises Ctrl-C once it has stopped
        server.run(sockets=sockets)
    return server.started


def bind(host: str, port: int) -> socket.socket:
    """The listening socket the workers of ``serve --workers N`` share."""
    import uvicorn

    return uvicorn.Config(app="adapter_api.app:create_app", host=host, port=port).bind_socket()


def configure_logging(level: str, *, worker: int | None = None) -> None:
    """One line per record on stderr, each with the request id (and worker) it belongs to."""
    handler = logging.StreamHandler()
    handler.addFilter(RequestIdLogFilter())
    where = "" if worker is None else f" worker-{worker}"
    handler.setFormatter(
        logging.Formatter(f"%(asctime)s %(levelname)s %(name)s{where} [%(request_id)s] %(message)s")
    )
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(level.upper())


@click.command(name="serve")
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
@click.option("--log-level", default="info", show_default=True)
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
    log_level: str,
) -> None:
    """Run the adapter API (sandbox by default: mocks, development keys, SQLite)."""
    from lienthong.workers import STARTUP_FAILURE, Supervisor, prepare_elsewhere

    configure_logging(log_level)
    settings = _settings(host, port, keys, data, sandbox, mock_port, clients, database_url, workers)
    if settings.workers > 1:  # the supervisor: it stays small, the workers build the adapter
        try:
            prepare_elsewhere(settings)
            listener = bind(settings.host, settings.port)
        except Exception as exc:
            raise click.ClickException(f"cannot start: {exc}") from exc
        click.echo(_banner(settings, None))
        sys.exit(Supervisor(settings, listener, log_level).run())

    from adapter_api.app import create_app
    from lienthong.bootstrap import build_container, prepare

    try:
        prepare(settings)
        container = build_container(settings)
    except Exception as exc:
        raise click.ClickException(f"cannot start: {exc}") from exc
    click.echo(_banner(settings, None))
    if not run_server(
        create_app(container), host=settings.host, port=settings.port, log_level=log_level
    ):
        sys.exit(STARTUP_FAILURE)


__all__ = ["bind", "configure_logging", "run_server", "serve"]
