"""Imports point one way only (ARCHITECTURE §2): this test fails on an arrow drawn backwards."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

#: package -> the internal packages it may import
ALLOWED: dict[str, set[str]] = {
    "schemas": set(),
    "security": {"schemas"},
    "connectors": {"schemas", "security"},
    "store": {"schemas", "security"},
    "sync": {"schemas", "security", "connectors", "store"},
    "mock_endpoints": {"schemas", "security"},
    "console": {"schemas", "security", "connectors", "store"},
    "adapter_api": {"schemas", "security", "connectors", "store", "sync"},
    "lienthong": {
        "schemas",
        "security",
        "connectors",
        "store",
        "sync",
        "mock_endpoints",
        "console",
        "adapter_api",
    },
}


def _internal_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        found.update(name.split(".")[0] for name in names if name.split(".")[0] in ALLOWED)
    return found


def violations(package: str) -> list[str]:
    """Every ``file: imports X`` in ``package`` that goes against the arrows."""
    bad = []
    for path in sorted((ROOT / package).rglob("*.py")):
        for imported in sorted(_internal_imports(path) - ALLOWED[package] - {package}):
            bad.append(f"{path.relative_to(ROOT)} imports {imported}")
    return bad


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_package_imports_only_along_the_arrows(package: str) -> None:
    """No module of a package imports a package that sits above it in ARCHITECTURE §2."""
    assert violations(package) == []


def test_checker_catches_a_backward_import(tmp_path: Path) -> None:
    """The checker itself sees an upward import (so the test above could fail)."""
    module = tmp_path / "m.py"
    module.write_text("from lienthong.cli import main\nimport sync.worker\nimport os\n")
    assert _internal_imports(module) == {"lienthong", "sync"}
