"""``bench/security_compiled.py`` times what it says: the plain package as bytecode, the copy
compiled by mypyc as extension modules, each against the floor; and a copy that mypyc cannot
compile ends in one readable line, not a traceback."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))

import security_compiled  # noqa: E402


def test_the_compiled_copy_runs_without_bytecode_and_the_plain_one_with(
    capsys: pytest.CaptureFixture[str],
) -> None:
    best = security_compiled.compare(runs=1)
    assert best["plain"]["compiled"] is False
    assert best["compiled"]["compiled"] is True
    for found in best.values():
        assert found["ours_us"] > 0
        assert found["floor_us"] > 0
        assert found["ratio"] == pytest.approx(found["ours_us"] / found["floor_us"], abs=0.002)
    security_compiled.report(best)
    printed = capsys.readouterr().out
    assert "plain    : ours sign + verify" in printed
    assert "compiling the Python to C takes" in printed


def test_a_copy_mypyc_cannot_compile_ends_in_one_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(security_compiled, "COMPILED", ("security/no_such_module.py",))
    with pytest.raises(SystemExit) as ended:
        security_compiled.main(["--runs", "1"])
    message = str(ended.value)
    assert message.startswith("mypyc failed: ")
    assert "\n" not in message


def test_runs_below_one_are_refused() -> None:
    with pytest.raises(SystemExit, match="--runs must be at least 1"):
        security_compiled.main(["--runs", "0"])
