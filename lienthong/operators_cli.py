"""``lienthong operators``: the console's accounts (add, list, unlock, set a password).

The password is asked for twice on a terminal, or read as one line from standard input with
``--password-stdin`` (for scripts); it never appears on the command line.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import TypeVar

import click
from sqlalchemy.ext.asyncio import AsyncEngine

from console.accounts import Accounts
from console.errors import ConsoleError
from console.roles import ConsoleRole
from lienthong.options import OneLineError, command_settings, existing_store, store_options
from store.db import create_engine, create_sessionmaker
from store.errors import DatabaseFailure

T = TypeVar("T")


def _run(work: Callable[[Accounts], Awaitable[T]]) -> T:
    url = existing_store(command_settings().settings)

    async def main() -> T:
        engine: AsyncEngine = create_engine(url, pool_size=1)
        try:
            return await work(Accounts(create_sessionmaker(engine)))
        finally:
            await engine.dispose()

    try:
        return asyncio.run(main())
    except ConsoleError as exc:
        raise OneLineError(str(exc)) from exc
    except DatabaseFailure as exc:
        raise OneLineError(
            f"the operator accounts cannot be read ({exc.kind}); "
            "is the database migrated ('lienthong db upgrade')?"
        ) from exc


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    value: str = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    return value


@click.group()
def operators() -> None:
    """The operator console's accounts."""


@operators.command("add")
@click.argument("name")
@click.option(
    "--role",
    type=click.Choice([role.value for role in ConsoleRole]),
    required=True,
    help="viewer sees; operator also retries and reconciles; auditor also reads the access log.",
)
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@store_options
def add_command(name: str, role: str, password_stdin: bool) -> None:
    """Create an operator account."""
    password = _password(password_stdin)
    _run(lambda accounts: accounts.add(name, role, password))
    click.echo(f"operator {name} added ({role})")


@operators.command("passwd")
@click.argument("name")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@store_options
def passwd_command(name: str, password_stdin: bool) -> None:
    """Give an operator a new password (and lift a lockout)."""
    password = _password(password_stdin)
    _run(lambda accounts: accounts.set_password(name, password))
    click.echo(f"password of {name} changed")


@operators.command("unlock")
@click.argument("name")
@store_options
def unlock_command(name: str) -> None:
    """Lift the lockout of an operator after failed logins."""
    _run(lambda accounts: accounts.unlock(name))
    click.echo(f"{name} unlocked")


@operators.command("list")
@store_options
def list_command() -> None:
    """The operators, their roles and lockouts."""
    for row in _run(lambda accounts: accounts.list()):
        locked = f" locked until {row.locked_until:%Y-%m-%d %H:%M} UTC" if row.locked_until else ""
        click.echo(f"{row.name}\t{row.role}{locked}")


__all__ = ["operators"]
