"""The options every command shares, and the one way a command gets its settings.

Each option maps to a field of :class:`~lienthong.settings.Settings` and has no default of its
own: a flag not given leaves the field to the environment, the config file or the default
(:func:`lienthong.config.load_settings`). ``--config`` is taken on the command or on
``lienthong`` itself. A command calls :func:`command_settings` for its settings and
:func:`existing_store` for a store it must not create; both fail in one line.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from lienthong.config import ConfigError, LoadedSettings, load_settings
from lienthong.settings import Settings
from lienthong.stores import EXIT_NO_STORE, StoreUnavailable, check_existing_store, store_label

F = TypeVar("F", bound=Callable[..., Any])

_FLAGS = "lienthong.flags"
_CONFIG = "lienthong.config"
_NAMES = "lienthong.flag_names"
#: exit status of a command whose settings cannot be read
EXIT_BAD_CONFIG = 2


class OneLineError(click.ClickException):
    """A failure told in one line on stderr (``Error: …``); exit status 1."""


class BadConfig(OneLineError):
    """The settings cannot be read; exit status 2."""

    exit_code = EXIT_BAD_CONFIG


class UnusableStore(OneLineError):
    """The store is missing, unreachable or not migrated; exit status 2."""

    exit_code = EXIT_NO_STORE


def _remember(field: str) -> Callable[[click.Context, click.Parameter, Any], None]:
    def callback(ctx: click.Context, param: click.Parameter, value: Any) -> None:
        if value is not None:
            ctx.meta.setdefault(_FLAGS, {})[field] = value
            ctx.meta.setdefault(_NAMES, {})[field] = param.opts[0] if param.opts else field

    return callback


def _remember_config(ctx: click.Context, _param: click.Parameter, value: Any) -> None:
    if value is not None:
        ctx.meta[_CONFIG] = value


def config_option(func: F) -> F:
    """``--config FILE``: the TOML config file (``LIENTHONG_CONFIG``)."""
    return click.option(
        "--config",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        expose_value=False,
        is_eager=True,
        callback=_remember_config,
        help="TOML config file [LIENTHONG_CONFIG]; environment and flags win over it.",
    )(func)


def setting_option(*names: str, field: str, help: str, **kwargs: Any) -> Callable[[F], F]:
    """A flag for the settings field ``field`` (not passed to the command: see
    :func:`command_settings`)."""
    return click.option(
        *names,
        field,
        default=None,
        expose_value=False,
        callback=_remember(field),
        help=f"{help} [LIENTHONG_{field.upper()}]",
        **kwargs,
    )


_DIR = click.Path(file_okay=False, path_type=Path)

data_option = setting_option(
    "--data", field="data_dir", type=_DIR, help="Data folder of the SQLite store."
)
database_url_option = setting_option(
    "--database-url",
    field="database_url",
    help="PostgreSQL DSN or SQLAlchemy URL; wins over --data.",
)
keys_option = setting_option(
    "--keys", field="keys_dir", type=_DIR, help="Key folder (lienthong keys init)."
)
clients_option = setting_option(
    "--clients",
    field="clients_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Clients file (JSON or TOML); sandbox clients when absent.",
)
mock_port_option = setting_option(
    "--mock-port", field="mock_port", type=int, help="Port of the sandbox mock endpoints."
)
portal_url_option = setting_option(
    "--portal-url", field="portal_url", help="Base URL of the national portal (the mock's)."
)


def store_options(func: F) -> F:
    """``--config``, ``--data``, ``--database-url``: the store a command uses."""
    for option in (database_url_option, data_option, config_option):
        func = option(func)
    return func


def upstream_options(func: F) -> F:
    """``--keys``, ``--mock-port``, ``--portal-url``: what a command calling upstreams needs."""
    for option in (portal_url_option, mock_port_option, keys_option):
        func = option(func)
    return func


def command_settings(**flags: object) -> LoadedSettings:
    """The settings of the running command: its config file, the environment, its flags.

    ``flags`` are further field values a command takes under its own option names.
    """
    ctx = click.get_current_context()  # click shares ``meta`` across a command's contexts
    given: dict[str, object] = dict(ctx.meta.get(_FLAGS, {}))
    given.update({name: value for name, value in flags.items() if value is not None})
    try:
        return load_settings(ctx.meta.get(_CONFIG), given, flag_names=ctx.meta.get(_NAMES))
    except ConfigError as exc:
        raise BadConfig(str(exc)) from None


def announce_store(settings: Settings) -> str:
    """Print ``store: …`` (the first line of every operator command) on stderr; the URL."""
    url = settings.resolved_database_url
    click.echo(f"store: {store_label(url)}", err=True)
    return url


def existing_store(settings: Settings) -> str:
    """The store's URL once named and found migrated; else one line and exit 2 (nothing made)."""
    url = announce_store(settings)
    try:
        return asyncio.run(check_existing_store(url))
    except StoreUnavailable as exc:
        raise UnusableStore(str(exc)) from None


__all__ = [
    "EXIT_BAD_CONFIG",
    "BadConfig",
    "OneLineError",
    "UnusableStore",
    "announce_store",
    "clients_option",
    "command_settings",
    "config_option",
    "data_option",
    "database_url_option",
    "existing_store",
    "keys_option",
    "mock_port_option",
    "portal_url_option",
    "setting_option",
    "store_options",
    "upstream_options",
]
