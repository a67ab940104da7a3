"""``lienthong operators``: accounts made, listed and unlocked from the command line."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from lienthong.cli import main
from store.db import normalize_url, upgrade


def _data(tmp_path: Path) -> str:
    folder = tmp_path / "data"
    upgrade(normalize_url(folder))
    return str(folder)


def test_add_list_and_unlock_with_the_password_on_stdin(tmp_path: Path) -> None:
    """An account made with --password-stdin is listed with its role; unlock answers."""
    data = _data(tmp_path)
    runner = CliRunner()
    added = runner.invoke(
        main,
        ["operators", "add", "an.nguyen", "--role", "auditor", "--password-stdin", "--data", data],
        input="a long enough password\n",
    )
    assert added.exit_code == 0, added.output
    listed = runner.invoke(main, ["operators", "list", "--data", data])
    assert listed.stdout.split() == ["an.nguyen", "auditor"]
    unlocked = runner.invoke(main, ["operators", "unlock", "an.nguyen", "--data", data])
    assert unlocked.exit_code == 0


def test_mistakes_are_one_line_and_a_non_zero_exit(tmp_path: Path) -> None:
    """A short password, a taken name and an unknown operator each give one readable line."""
    data = _data(tmp_path)
    runner = CliRunner()
    base = ["operators", "add", "binh", "--role", "viewer", "--password-stdin", "--data", data]
    short = runner.invoke(main, base, input="short\n")
    assert short.exit_code == 1
    assert short.output.strip().splitlines()[-1] == "Error: a password has at least 12 characters"
    assert runner.invoke(main, base, input="a long enough password\n").exit_code == 0
    taken = runner.invoke(main, base, input="a long enough password\n")
    assert taken.output.strip().splitlines()[-1] == "Error: an operator called binh exists already"
    unknown = runner.invoke(main, ["operators", "unlock", "nobody", "--data", data])
    assert (unknown.exit_code, unknown.output.strip().splitlines()[-1]) == (
        1,
        "Error: no operator called nobody",
    )
    bad_role = runner.invoke(main, ["operators", "add", "c1", "--role", "root", "--data", data])
    assert bad_role.exit_code == 2
