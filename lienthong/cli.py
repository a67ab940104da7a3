"""The one command-line entry, ``lienthong``.

The integrators' tools (``keys``, ``sign``, ``verify``) come from ``security``; every other
command lives in this package, the composition root, and takes its settings from the one
settings object (``--config FILE`` or ``LIENTHONG_CONFIG``, then ``LIENTHONG_*``, then flags;
``--config``, ``--log-format`` and ``--log-level`` may be given here for every command).
Groups are imported when first used, which keeps ``lienthong --help`` fast.
"""

from __future__ import annotations

import importlib
import sys

import click

from lienthong.options import config_option, setting_option

#: command name -> (module, attribute, one-line help shown by ``lienthong --help``)
_COMMANDS: dict[str, tuple[str, str, str]] = {
    "keys": ("security.cli", "keys", "Create and inspect the development PKI."),
    "sign": ("security.cli", "sign", "Sign a SOAP envelope or an HTTP request."),
    "verify": ("security.cli", "verify", "Verify a signed SOAP envelope or HTTP message."),
    "mock": ("lienthong.mock_cli", "mock", "Run the mock national endpoints."),
    "config": ("lienthong.config_cli", "config", "Show and check the effective settings."),
    "serve": ("lienthong.serve", "serve", "Run the adapter API (sandbox by default)."),
    "sync": ("lienthong.sync_cli", "sync", "Operate the dossier sync queue to the portal."),
    "notify": (
        "lienthong.notify_cli",
        "notify",
        "Webhooks to ministries and notices to citizens: run, status, retry.",
    ),
    "records": ("lienthong.watches_cli", "records", "Watch, refresh and bulk-verify records."),
    "log": (
        "lienthong.log_cli",
        "log",
        "List, verify and export the message log; rotate the access-log key.",
    ),
    "db": ("lienthong.db_cli", "db", "Create and migrate the database."),
    "chains": (
        "lienthong.chains_cli",
        "chains",
        "See, retry and reconcile inter-agency chains; run their worker.",
    ),
    "report": (
        "lienthong.report_cli",
        "report",
        "Reports computed by the database (timeliness).",
    ),
    "calendar": (
        "lienthong.calendar_cli",
        "calendar",
        "Show the working-day calendar; count working days from a date.",
    ),
    "operators": ("lienthong.operators_cli", "operators", "The operator console's accounts."),
}


class _LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(_COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = _COMMANDS.get(cmd_name)
        if entry is None:
            return None
        module_name, attribute, _ = entry
        command = getattr(importlib.import_module(module_name), attribute)
        assert isinstance(command, click.Command)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, _COMMANDS[name][2]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=_LazyGroup)
@click.version_option(package_name="lienthong")
@config_option
@setting_option(
    "--log-format", field="log_format", type=click.Choice(["text", "json"]), help="Log lines as."
)
@setting_option("--log-level", field="log_level", help="Lowest level logged.")
def main() -> None:
    """lienthong — signed data exchange between a province and the national systems."""


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
