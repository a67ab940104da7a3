"""``lienthong mock``: the mock national endpoints, on the port and keys the settings name.

The command itself is ``mock_endpoints.cli``'s; this group gives its options their defaults from
the one settings object (``mock_host``, ``mock_port``, ``keys_dir``, ``mock_seed`` from the config
file or ``LIENTHONG_*``), so ``lienthong mock serve`` listens where ``lienthong serve --no-sandbox``
and ``lienthong sync …`` look for it. Flags given to ``mock serve`` still win.
"""

from __future__ import annotations

import click

from lienthong.options import command_settings, config_option
from mock_endpoints.cli import serve


@click.group(name="mock")
@config_option
@click.pass_context
def mock(ctx: click.Context) -> None:
    """Run the mock national endpoints (population SOAP, business registry, portal)."""
    settings = command_settings().settings
    ctx.default_map = {
        "serve": {
            "host": settings.mock_host,
            "port": settings.mock_port,
            "keys_dir": str(settings.keys_dir),
            "seed": settings.mock_seed,
        }
    }


mock.add_command(serve)

__all__ = ["mock"]
