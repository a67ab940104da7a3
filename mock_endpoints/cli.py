"""``lienthong mock …``: run the mock national endpoints."""

from __future__ import annotations

from pathlib import Path

import click

from mock_endpoints.errors import FaultSpecError
from mock_endpoints.faults import UPSTREAMS, plan_from_options
from mock_endpoints.settings import MockSettings
from security.pki import dev_pki_exists, init_dev_pki


@click.group(name="mock")
def mock() -> None:
    """Run the mock national endpoints (population SOAP, business registry, portal)."""


@mock.command(name="serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8001, show_default=True, type=int, help="Port to listen on.")
@click.option(
    "--keys",
    "keys_dir",
    default=".lienthong/keys",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Development PKI folder (created when it holds none).",
)
@click.option("--seed", default=42, show_default=True, type=int, help="Seed of the test data.")
@click.option("--citizens", default=200, show_default=True, type=click.IntRange(min=0))
@click.option("--businesses", default=50, show_default=True, type=click.IntRange(min=0))
@click.option(
    "--only",
    multiple=True,
    type=click.Choice(UPSTREAMS),
    help="Serve only this system (repeatable); all of them by default.",
)
@click.option(
    "--allow-unsigned",
    is_flag=True,
    help="Accept unsigned requests (benchmarks only); responses are still signed.",
)
@click.option(
    "--fault",
    "fault_options",
    multiple=True,
    metavar="UPSTREAM:FIELD=VALUE",
    help="Inject a fault, e.g. portal:drop_after_commit=1 or registry:latency_ms=200.",
)
@click.option("--token-ttl", default=300.0, show_default=True, help="Registry token lifetime (s).")
@click.option(
    "--session-ttl", default=1800.0, show_default=True, help="Portal session lifetime (s)."
)
@click.option(
    "--portal-dedup",
    is_flag=True,
    help="The portal skips a progress record identical to one it holds (the real one does not;"
    " for comparison only).",
)
@click.option("--log-level", default="info", show_default=True)
@click.option(
    "--access-log/--no-access-log",
    default=False,
    show_default=True,
    help="Log each request line (paths may hold citizen IDs of the test data).",
)
def serve(
    host: str,
    port: int,
    keys_dir: Path,
    seed: int,
    citizens: int,
    businesses: int,
    only: tuple[str, ...],
    allow_unsigned: bool,
    fault_options: tuple[str, ...],
    token_ttl: float,
    session_ttl: float,
    portal_dedup: bool,
    log_level: str,
    access_log: bool,
) -> None:
    """Serve the mocks: /population/soap, /registry/…, /portal/…, /ministry/webhooks, /zns/…,
    /sms/… and /_admin/… ."""
    import uvicorn

    from mock_endpoints.app import create_mock_app

    try:
        faults = plan_from_options(fault_options)
    except FaultSpecError as exc:
        raise click.BadParameter(str(exc), param_hint="--fault") from exc
    if businesses and not citizens:
        raise click.BadParameter("businesses need citizens", param_hint="--citizens")
    if not dev_pki_exists(keys_dir):
        init_dev_pki(keys_dir)
        click.echo(f"created a development PKI in {keys_dir} (sandbox only)", err=True)
    settings = MockSettings(
        keys_dir=keys_dir,
        seed=seed,
        citizens=citizens,
        businesses=businesses,
        allow_unsigned=allow_unsigned,
        faults=faults,
        token_ttl=token_ttl,
        session_ttl=session_ttl,
        only=frozenset(only),
        portal_dedup=portal_dedup,
    )
    app = create_mock_app(settings)
    served = ", ".join(name for name in UPSTREAMS if settings.serves(name))
    click.echo(f"mock national endpoints ({served}) on http://{host}:{port}", err=True)
    if allow_unsigned:
        click.echo("warning: unsigned requests are accepted (--allow-unsigned)", err=True)
    if host not in ("127.0.0.1", "localhost", "::1"):
        click.echo("warning: /_admin is unauthenticated and reachable off this host", err=True)
    uvicorn.run(app, host=host, port=port, log_level=log_level, access_log=access_log)


__all__ = ["mock", "serve"]
