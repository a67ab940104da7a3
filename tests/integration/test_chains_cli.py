"""``lienthong chains`` on a real store: status, retry and their errors (one line, non-zero)."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from lienthong.cli import main


def test_status_and_retry_on_an_empty_store(tmp_path: Path, dev_keys: Path) -> None:
    """Status counts nothing; retrying a chain that has no dead step says so in one line."""
    runner = CliRunner()
    store = ["--data", str(tmp_path / "data"), "--keys", str(dev_keys)]
    status = runner.invoke(main, ["chains", "status", *store])
    assert status.exit_code == 0, status.output
    assert "chains: {}" in status.output
    everything = runner.invoke(main, ["chains", "retry", "--all", *store])
    assert everything.exit_code == 0
    assert "0 step(s) queued again" in everything.output
    one = runner.invoke(main, ["chains", "retry", "000.00.04.H04-261126-0001", *store])
    assert one.exit_code == 1
    assert "has no dead step" in one.output
    assert "Traceback" not in one.output
    missing = runner.invoke(main, ["chains", "status", "000.00.04.H04-261126-0001", *store])
    assert missing.exit_code == 1
    assert "no chain dossier" in missing.output
    assert runner.invoke(main, ["chains", "retry", *store]).exit_code == 2
