"""``lienthong config``: the effective settings and where each came from; what is wrong with them.

``show`` prints one line per setting: its name, its value (secrets as ``***``, URLs without their
password) and its source (``default``, ``file PATH``, ``env LIENTHONG_…``, ``flag --…``), then
the store, the upstream URLs and the config file the settings resolve to. ``check`` looks at
what the settings name without changing anything: the keys, the store, the upstream URLs and
the clients file; it prints one line per problem and exits 1 when there is one (``OK`` and 0
when there is none).
"""

from __future__ import annotations

import asyncio
import json
import socket
from urllib.parse import urlsplit

import click

from lienthong.config import LoadedSettings, mask, mask_url
from lienthong.options import (
    clients_option,
    command_settings,
    keys_option,
    mock_port_option,
    portal_url_option,
    store_options,
)
from lienthong.preflight import StartupError, check_keys, load_client_registry
from lienthong.settings import Settings
from lienthong.stores import StoreUnavailable, check_existing_store, store_label

#: seconds ``check`` waits for an upstream to accept a connection
CONNECT_TIMEOUT = 2.0


def _all_options(func: click.decorators.FC) -> click.decorators.FC:
    for option in (portal_url_option, mock_port_option, clients_option, keys_option):
        func = option(func)
    return store_options(func)


@click.group()
def config() -> None:
    """Show the effective settings and check what they name."""


def effective(loaded: LoadedSettings) -> list[tuple[str, str, str]]:
    """``(name, shown value, source)`` for every setting, secrets masked."""
    settings = loaded.settings
    return [
        (name, mask(name, getattr(settings, name)), loaded.source_of(name))
        for name in type(settings).model_fields
    ]


def resolved(settings: Settings) -> list[tuple[str, str]]:
    """What the settings resolve to: the store and the three upstreams' URLs."""
    return [
        ("store", store_label(settings.resolved_database_url)),
        ("population", mask_url(settings.resolved_population_url)),
        ("registry", mask_url(settings.resolved_registry_url)),
        ("portal", mask_url(settings.resolved_portal_url)),
    ]


@config.command("show")
@_all_options
@click.option("--json", "as_json", is_flag=True, help="One JSON document.")
def show_command(as_json: bool) -> None:
    """Print every setting, its value (secrets masked) and where it came from."""
    loaded = command_settings()
    rows = effective(loaded)
    if as_json:
        document = {
            "config_file": str(loaded.config_file) if loaded.config_file else None,
            "settings": {name: {"value": value, "source": src} for name, value, src in rows},
            "resolved": dict(resolved(loaded.settings)),
        }
        click.echo(json.dumps(document, indent=2, ensure_ascii=False))
        return
    click.echo(f"# config file: {loaded.config_file or '(none)'}")
    width = max(len(name) for name, _, _ in rows)
    for name, value, source in rows:
        click.echo(f"{name:<{width}}  {value}  ({source})")
    for name, value in resolved(loaded.settings):
        click.echo(f"# {name}: {value}")


def problems(settings: Settings) -> list[str]:
    """One line per thing the settings name that cannot be used (empty: all is well)."""
    found: list[str] = []
    try:
        check_keys(settings)
    except StartupError as exc:
        found.append(f"keys: {exc}")
    try:
        asyncio.run(check_existing_store(settings.resolved_database_url))
    except StoreUnavailable as exc:
        found.append(f"store: {exc}")
    for name, url in (
        ("population", settings.resolved_population_url),
        ("registry", settings.resolved_registry_url),
        ("portal", settings.resolved_portal_url),
    ):
        problem = _url_problem(url)
        if problem:
            found.append(f"{name}: {mask_url(url)} {problem}")
    if settings.clients_file is not None or not settings.sandbox:
        try:
            load_client_registry(settings)
        except Exception as exc:
            found.append(f"clients: {exc}")
    return found


def _url_problem(url: str) -> str | None:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "is not a valid URL"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "is not an http(s) URL"
    port = port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((parts.hostname, port), timeout=CONNECT_TIMEOUT):
            return None
    except OSError as exc:
        return f"cannot be reached ({exc.strerror or type(exc).__name__})"


@config.command("check")
@_all_options
def check_command() -> None:
    """Check the keys, the store, the upstream URLs and the clients file; one line per problem."""
    settings = command_settings().settings
    click.echo(f"store: {store_label(settings.resolved_database_url)}", err=True)
    found = problems(settings)
    for line in found:
        click.echo(line)
    if found:
        raise SystemExit(1)
    click.echo("OK: keys, store, upstreams and clients are usable")


__all__ = ["config", "effective", "problems", "resolved"]
