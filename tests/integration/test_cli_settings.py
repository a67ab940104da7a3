"""Every operator command, run from a folder that is not the repo root, with its settings given only
by a config file: it names the store it uses on its first line and uses that store; read-only
commands never create one; ``config show`` / ``config check`` say what the settings are."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from lienthong.cli import main


@pytest.fixture
def site(tmp_path: Path, dev_keys: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A config file naming a data folder and a key folder beside it; the commands run elsewhere
    (the current folder is another one) with no ``LIENTHONG_*`` variable set."""
    for name in list(os.environ):
        if name.upper().startswith("LIENTHONG_"):
            monkeypatch.delenv(name)
    folder = tmp_path / "site"
    shutil.copytree(dev_keys, folder / "keys")
    (folder / "lienthong.toml").write_text(
        'data_dir = "data"\nkeys_dir = "keys"\nportal_password = "not-the-sandbox-one"\n'
        "mock_port = 1\n",
        encoding="utf-8",
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield folder
    root.handlers[:] = handlers  # a command may set up logging: leave the process as found
    root.setLevel(level)


def _run(site: Path, *args: str) -> Result:
    return CliRunner().invoke(main, ["--config", str(site / "lienthong.toml"), *args])


def _store_line(site: Path) -> str:
    return f"store: sqlite {site / 'data' / 'lienthong.db'}"


#: the commands that only read the store (or change rows in it) and must never make one
READ_ONLY: list[tuple[str, ...]] = [
    ("db", "current"),
    ("sync", "status"),
    ("sync", "dead-letters"),
    ("sync", "retry", "--all"),
    ("sync", "reconcile", "--dry-run"),
    ("sync", "run", "--once"),
    ("log", "verify"),
    ("log", "head"),
    ("log", "list"),
    ("log", "purge", "--older-than", "30"),
    ("records", "refresh"),
]


@pytest.mark.parametrize("command", READ_ONLY, ids=" ".join)
def test_read_only_commands_on_a_missing_store_say_so_in_one_line(
    site: Path, command: tuple[str, ...]
) -> None:
    """No database: the store line, one error line, exit 2, and nothing created anywhere."""
    result = _run(site, *command)
    assert result.exit_code == 2, result.output
    lines = result.output.splitlines()
    assert lines[0] == _store_line(site)
    assert len(lines) == 2, result.output
    assert lines[1].startswith("Error: no database at ")
    assert not (site / "data").exists()
    assert list(Path.cwd().iterdir()) == []


def test_an_unmigrated_store_is_refused_without_a_traceback(site: Path) -> None:
    """A database file that was never migrated: one line naming the fix, exit 2."""
    (site / "data").mkdir()
    (site / "data" / "lienthong.db").write_bytes(b"")
    result = _run(site, "sync", "status")
    assert result.exit_code == 2
    database = site / "data" / "lienthong.db"
    assert result.output.splitlines()[1:] == [
        f"Error: sqlite {database} is not migrated: run 'lienthong db upgrade'"
    ]


OPERATOR_COMMANDS: list[tuple[str, ...]] = [
    *READ_ONLY,
    ("sync", "dead-letters", "--json"),
    ("log", "list", "--operation", "TraCuuHoSo"),
    ("config", "check"),
]


def test_every_operator_command_uses_the_store_of_the_config_file(site: Path) -> None:
    """``db upgrade`` makes the store where the file says; every other command names and uses it."""
    made = _run(site, "db", "upgrade")
    assert made.exit_code == 0, made.output
    assert made.output.splitlines()[0] == _store_line(site)
    assert (site / "data" / "lienthong.db").is_file()
    for command in OPERATOR_COMMANDS:
        result = _run(site, *command)
        first = result.output.splitlines()[0] if result.output else ""
        assert first == _store_line(site), (command, result.output)
        if command != ("config", "check"):  # the mocks are not running: check says so
            assert result.exit_code == 0, (command, result.output)
    assert "no exchanges match" in _run(site, "log", "list").output
    assert _run(site, "log", "verify").output.splitlines()[1].startswith("OK: 0 records")
    rotated = _run(site, "log", "rotate-access-key")  # rotates, or finds no key: in the site's
    assert str(site / "keys" / "adapter" / "accesslog.") in rotated.output
    assert list(Path.cwd().iterdir()) == []  # nothing made in the current folder


def test_config_show_names_each_source_and_masks_secrets(
    site: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """File < environment < flag, each value with its source; passwords never printed."""
    monkeypatch.setenv("LIENTHONG_PORT", "8123")
    monkeypatch.setenv(
        "LIENTHONG_REPLAY_CACHE_URL", "redis://cache:hunter2-secret@127.0.0.1:6379/0"
    )
    result = _run(site, "config", "show", "--mock-port", "8011")
    assert result.exit_code == 0, result.output
    lines = {line.split()[0]: line for line in result.output.splitlines() if line[:1] != "#"}
    config_file = site / "lienthong.toml"
    assert lines["data_dir"].endswith(f"{site / 'data'}  (file {config_file})")
    assert lines["port"].endswith("8123  (env LIENTHONG_PORT)")
    assert lines["mock_port"].endswith("8011  (flag --mock-port)")
    assert lines["host"].endswith("(default)")
    assert lines["portal_password"].split()[1] == "***"
    assert "not-the-sandbox-one" not in result.output
    assert "hunter2-secret" not in result.output
    assert "redis://cache:***@127.0.0.1:6379/0" in lines["replay_cache_url"]
    assert "# portal: http://127.0.0.1:8011/portal" in result.output


def test_config_check_prints_one_line_per_problem(site: Path) -> None:
    """No store, a broken key, an unreachable upstream: one line each, exit 1."""
    (site / "keys" / "adapter" / "key.pem").write_text("not a key", encoding="utf-8")
    result = CliRunner().invoke(main, ["config", "check", "--config", str(site / "lienthong.toml")])
    assert result.exit_code == 1
    problems = result.output.splitlines()[1:]
    assert [line.split(":")[0] for line in problems] == [
        "keys",
        "store",
        "population",
        "registry",
        "portal",
    ]
    assert "http://127.0.0.1:1/portal cannot be reached" in problems[-1]


def test_a_bad_config_file_is_one_line_and_exit_2(site: Path) -> None:
    """An unknown setting or a value of the wrong type names the setting and the file."""
    config = site / "lienthong.toml"
    config.write_text('nosuch = "x"\n', encoding="utf-8")
    result = _run(site, "sync", "status")
    assert (result.exit_code, result.output) == (
        2,
        f"Error: config file {config}: unknown setting 'nosuch'\n",
    )
    config.write_text('port = "eighty"\n', encoding="utf-8")
    result = _run(site, "log", "head")
    assert result.exit_code == 2
    assert result.output.startswith(f"Error: setting 'port' from config file {config}: ")
    assert len(result.output.splitlines()) == 1


def test_the_installed_command_reads_the_config_variable(site: Path) -> None:
    """The ``lienthong`` script itself, with only LIENTHONG_CONFIG set, from another folder."""
    script = Path(sys.executable).with_name("lienthong")
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("LIENTHONG_")}
    env["LIENTHONG_CONFIG"] = str(site / "lienthong.toml")
    made = subprocess.run(
        [str(script), "db", "upgrade"], env=env, capture_output=True, text=True, timeout=120
    )
    assert made.returncode == 0, made.stderr
    status = subprocess.run(
        [str(script), "sync", "status", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert status.returncode == 0, status.stderr
    assert status.stderr.splitlines()[0] == _store_line(site)
    assert '"pending": 0' in status.stdout


def test_mock_serve_listens_where_the_settings_say(site: Path) -> None:
    """``mock serve`` takes its port (and key folder) from the same config file."""
    result = _run(site, "mock", "serve", "--help")
    assert result.exit_code == 0, result.output
    assert "[default: 1]" in result.output  # mock_port = 1 in the site's file


def test_reconcile_calls_the_port_of_the_settings_and_says_why_lookups_failed(site: Path) -> None:
    """The mocks' port of the config file (1: nothing listens) is the portal reconcile calls; a
    failed lookup is counted with its reason and the command exits 3, not 0."""
    import asyncio

    from store.db import create_engine, create_sessionmaker
    from store.dossiers import record_dossier
    from store.outbox import Outcome, SqlOutbox
    from tests.support.stores import make_dossier

    assert _run(site, "db", "upgrade").exit_code == 0

    async def one_dossier() -> None:
        engine = create_engine(site / "data")
        try:
            async with create_sessionmaker(engine)() as session, session.begin():
                await record_dossier(session, make_dossier(1))
            outbox = SqlOutbox(engine)  # delivered once: reconcile then asks the portal
            [claim] = await outbox.claim("test")
            await outbox.settle([Outcome(claim, tuple(i.id for i in claim.items), on_portal=True)])
        finally:
            await engine.dispose()

    asyncio.run(one_dossier())
    result = _run(site, "sync", "reconcile", "--dry-run", "--no-message-log")
    assert result.exit_code == 3, result.output
    lines = result.output.splitlines()
    assert lines[:2] == [_store_line(site), "portal: http://127.0.0.1:1/portal"]
    assert "1 lookups failed" in result.output
    assert lines[-1].startswith("lookups failed: 1 ")
