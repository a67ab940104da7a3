"""Imports point one way only, and no module imports itself through others.

The packages' arrows: ``schemas ← security ← connectors / store ← sync ← adapter_api``,
``watches`` on ``schemas``, ``connectors`` and ``store`` (only ``adapter_api`` and ``lienthong``
import it), ``mock_endpoints`` on ``schemas`` and ``security``; ``lienthong`` (the composition
root) on top. The HTTP face, the outbox delivery and the watched records ask the store through
its functions, never its tables (``store.tables``); the HTTP face and the outbox delivery hold no
session either (the store's faces open their own).
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

#: package -> the internal packages it may import
ALLOWED: dict[str, set[str]] = {
    "schemas": set(),
    "security": {"schemas"},
    "connectors": {"schemas", "security"},
    "store": {"schemas", "security"},
    "watches": {"schemas", "connectors", "store"},
    "sync": {"schemas", "security", "connectors", "store"},
    "push": {"schemas", "security", "connectors", "store"},
    "mock_endpoints": {"schemas", "security"},
    "timeliness": {"schemas", "store"},
    "chains": {"schemas", "security", "connectors", "store", "sync", "timeliness"},
    "adapter_api": {
        "schemas",
        "security",
        "connectors",
        "store",
        "watches",
        "sync",
        "timeliness",
        "chains",
        "push",
    },
    "console": {"schemas", "security", "connectors", "store", "timeliness"},
    "lienthong": {
        "schemas",
        "security",
        "connectors",
        "store",
        "watches",
        "sync",
        "push",
        "mock_endpoints",
        "console",
        "adapter_api",
        "timeliness",
        "chains",
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
    """No module of a package imports a package that sits above it in docs/design.md."""
    assert violations(package) == []


#: packages that ask the store through its functions and never read its tables directly
NO_TABLES = ("adapter_api", "sync", "watches")


def _table_imports(path: Path) -> list[str]:
    """The modules under ``store.tables`` that the file at ``path`` imports (lazily or not)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module] + [
                f"{node.module}.{alias.name}" for alias in node.names if node.module == "store"
            ]
        else:
            continue
        found.extend(n for n in names if n == "store.tables" or n.startswith("store.tables."))
    return sorted(set(found))


@pytest.mark.parametrize("package", NO_TABLES)
def test_package_asks_the_store_not_its_tables(package: str) -> None:
    """``adapter_api``, ``sync`` and ``watches`` import no ``store.tables`` module."""
    assert [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in sorted((ROOT / package).rglob("*.py"))
        for name in _table_imports(path)
    ] == []


def test_table_checker_sees_every_form(tmp_path: Path) -> None:
    """Both import forms of a table module are seen (so the test above could fail)."""
    module = tmp_path / "m.py"
    module.write_text(
        "from store.tables.dossiers import dossiers\nfrom store import tables\nimport store.db\n"
    )
    assert _table_imports(module) == ["store.tables", "store.tables.dossiers"]


def test_checker_catches_a_backward_import(tmp_path: Path) -> None:
    """The checker itself sees an upward import (so the test above could fail)."""
    module = tmp_path / "m.py"
    module.write_text("from lienthong.cli import main\nimport sync.worker\nimport os\n")
    assert _internal_imports(module) == {"lienthong", "sync"}


#: the store's machinery: outside the store only the composition root may import it; the others
#: ask the store's faces (``store.logs``, ``store.message_log`` and its ``__all__``, the writers)
STORE_INTERNALS = ("store.batching", "store.message_log.")


def _imported_modules(path: Path) -> set[str]:
    """The absolute module names ``path`` imports (``from m import x`` gives ``m``)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
    return found


def store_internals_imported(package: str, root: Path = ROOT) -> list[str]:
    """Every ``file imports module`` of ``package`` that reaches into the store's machinery."""
    bad = []
    for path in sorted((root / package).rglob("*.py")):
        name = path.relative_to(root).as_posix()
        for module in sorted(_imported_modules(path)):
            if module.startswith(STORE_INTERNALS):
                bad.append(f"{name} imports {module}")
    return bad


@pytest.mark.parametrize("package", sorted(set(ALLOWED) - {"store", "lienthong"}))
def test_only_the_store_reaches_into_its_batching_and_message_log(package: str) -> None:
    """Outside the store (the composition root aside), nothing imports ``store.batching`` or a
    module inside ``store.message_log``: the API asks ``store.logs`` for the lookup logs."""
    assert store_internals_imported(package) == []


def test_store_internals_checker_sees_a_reach_in(tmp_path: Path) -> None:
    """The checker above flags the batching and message-log modules, not the public faces."""
    package = tmp_path / "api"
    package.mkdir()
    (package / "m.py").write_text(
        "from store.batching import GroupCommit\n"
        "import store.message_log.driver_sql\n"
        "from store.message_log import SqlMessageLog\n"
        "from store.logs import LookupLogs\n"
    )
    assert store_internals_imported("api", tmp_path) == [
        "api/m.py imports store.batching",
        "api/m.py imports store.message_log.driver_sql",
    ]


def imports_of(package: str, module_name: str, root: Path = ROOT) -> list[str]:
    """Every ``file imports m`` of ``package`` where ``m`` is ``module_name`` or inside it
    (under ``if TYPE_CHECKING:`` too)."""
    return [
        f"{path.relative_to(root).as_posix()} imports {module}"
        for path in sorted((root / package).rglob("*.py"))
        for module in sorted(_imported_modules(path))
        if module == module_name or module.startswith(f"{module_name}.")
    ]


def database_errors_imported(package: str, root: Path = ROOT) -> list[str]:
    """Every ``file imports sqlalchemy.exc…`` of ``package``: the database's errors are the
    store's to translate (``store.db_errors``), everyone else handles ``store.errors``."""
    return imports_of(package, "sqlalchemy.exc", root)


@pytest.mark.parametrize("package", sorted(set(ALLOWED) - {"store"}))
def test_only_the_store_handles_the_database_errors(package: str) -> None:
    """No package but the store imports SQLAlchemy's errors: they leave the store translated
    into ``store.errors.DatabaseFailure`` and its subclasses."""
    assert database_errors_imported(package) == []


def test_database_errors_checker_sees_an_import(tmp_path: Path) -> None:
    """The checker above flags ``sqlalchemy.exc`` imported either way, not the rest of
    SQLAlchemy."""
    package = tmp_path / "worker"
    package.mkdir()
    (package / "a.py").write_text("from sqlalchemy.exc import SQLAlchemyError\n")
    (package / "b.py").write_text("import sqlalchemy.exc\n")
    (package / "c.py").write_text("from sqlalchemy.ext.asyncio import AsyncEngine\n")
    assert database_errors_imported("worker", tmp_path) == [
        "worker/a.py imports sqlalchemy.exc",
        "worker/b.py imports sqlalchemy.exc",
    ]


#: packages that ask the store's faces (``store.dossier_reads``, ``store.reconciliation`` …),
#: which open their own sessions: they import nothing of the database library, not even types
NO_DATABASE_LIBRARY = ("adapter_api", "sync")


@pytest.mark.parametrize("package", NO_DATABASE_LIBRARY)
def test_the_api_and_sync_import_no_sqlalchemy(package: str) -> None:
    """No module of ``adapter_api`` or ``sync`` imports SQLAlchemy: no engine, session or
    query of their own."""
    assert imports_of(package, "sqlalchemy") == []


#: the store's engines, session makers and session runner: what opens a session
SESSION_MAKERS = ("store.db", "store.sessions")


def session_makers_imported(package: str, root: Path = ROOT) -> list[str]:
    """Every ``file imports m`` of ``package`` where ``m`` makes engines or opens sessions."""
    return [found for module in SESSION_MAKERS for found in imports_of(package, module, root)]


def test_the_api_opens_no_session() -> None:
    """No module of ``adapter_api`` (the container included) imports what makes an engine or
    opens a session: the routes ask the store's faces and the domains' desks, which open their
    own (``store.sessions.SessionRunner``), and the composition root builds them."""
    assert session_makers_imported("adapter_api") == []


def test_session_makers_checker_sees_an_import(tmp_path: Path) -> None:
    """The checker above flags the engine and session modules, not a store face."""
    package = tmp_path / "api"
    package.mkdir()
    (package / "a.py").write_text("from store.db import create_sessionmaker, reader\n")
    (package / "b.py").write_text("import store.sessions\n")
    (package / "c.py").write_text("from store.dossier_reads import DossierReads\n")
    (package / "d.py").write_text("from store.dossiers import get_dossier\n")
    assert session_makers_imported("api", tmp_path) == [
        "api/a.py imports store.db",
        "api/b.py imports store.sessions",
    ]


def test_database_library_checker_sees_every_form(tmp_path: Path) -> None:
    """The checker above flags SQLAlchemy imported either way, for annotations only too, and
    not a store face or a package whose name merely starts the same."""
    package = tmp_path / "api"
    package.mkdir()
    (package / "a.py").write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from sqlalchemy.ext.asyncio import AsyncSession\n"
    )
    (package / "b.py").write_text("import sqlalchemy\nimport sqlalchemy_utils\n")
    (package / "c.py").write_text("from store.dossier_reads import DossierReads\n")
    assert imports_of("api", "sqlalchemy", tmp_path) == [
        "api/a.py imports sqlalchemy.ext.asyncio",
        "api/b.py imports sqlalchemy",
    ]


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _runtime_imports(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    """Every import statement, those under ``if TYPE_CHECKING:`` aside (annotations only)."""
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.dump(node.test):
            skipped.update(id(child) for stmt in node.body for child in ast.walk(stmt))
    return [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom) and id(node) not in skipped
    ]


def module_graph(root: Path = ROOT, packages: Iterable[str] = ALLOWED) -> dict[str, set[str]]:
    """Module -> the internal modules it imports (function-level imports included)."""
    files = {
        _module_name(path, root): path
        for package in packages
        for path in sorted((root / package).rglob("*.py"))
        if "migrations" not in path.parts
    }

    def known(name: str) -> str | None:
        while name and name not in files:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        found: set[str] = set()
        for node in _runtime_imports(tree):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif node.level == 0 and node.module:
                targets = [f"{node.module}.{alias.name}" for alias in node.names]
            else:
                continue
            found.update(t for t in map(known, targets) if t is not None)
        graph[name] = found - {name}
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (each an import circle)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_module_imports_itself_through_others() -> None:
    """No import circle between modules, in a package or across them, lazy imports included."""
    assert circles(module_graph()) == []


def test_checker_finds_a_circle(tmp_path: Path) -> None:
    """Two modules importing each other (one inside a function) are found."""
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from pkg.b import thing\n")
    (package / "b.py").write_text("def thing():\n    from pkg import a\n")
    (package / "c.py").write_text("import pkg.a\n")
    assert circles(module_graph(tmp_path, ["pkg"])) == [["pkg.a", "pkg.b"]]


def test_the_http_face_imports_no_part_of_the_root() -> None:
    """``adapter_api`` is the HTTP face: the composition root builds it, never the reverse."""
    graph = module_graph()
    assert not [
        (module, target)
        for module, targets in graph.items()
        if not module.startswith("lienthong")
        for target in targets
        if target.startswith("lienthong")
    ]


def test_sync_takes_the_roles_never_the_concrete_portal_or_outbox() -> None:
    """``sync`` works through its roles (``sync.portal.PortalClient``, ``sync.outbox.Outbox``):
    no sync module imports the portal connector, and only the role module imports the store's
    outbox, for the types the role speaks in (``SqlOutbox`` is wired in by the root)."""
    graph = module_graph()
    assert (
        sorted(
            (module, target)
            for module, targets in graph.items()
            if module.startswith("sync.")
            for target in targets
            if target == "connectors.portal"
            or (target == "store.outbox" and module != "sync.outbox")
        )
        == []
    )


def test_the_dossier_rules_touch_no_database_and_no_network() -> None:
    """``schemas.dossier_rules`` is pure: it imports only ``schemas`` and the standard library."""
    tree = ast.parse((ROOT / "schemas" / "dossier_rules.py").read_text(encoding="utf-8"))
    imported = {
        (node.module or "").split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
    } | {
        alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    }
    assert imported <= {"__future__", "schemas", "datetime", "enum", "collections", "typing"}
