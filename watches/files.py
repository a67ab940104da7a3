"""Reading the rows of a source file (a watch list or a bulk-verify list: CSV or JSON).

CSV files are UTF-8 (a byte-order mark is allowed, as spreadsheet programs write one); column names
are matched without regard to case or surrounding spaces, and known aliases are accepted. JSON files
hold a list of objects, or an object with that list under ``rows``, ``watches`` or ``citizens``.
Each row keeps its number in the file (the CSV line, or the JSON item counted from 1), so that a
report can point at it.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from watches.errors import SourceFileError

_JSON_LIST_KEYS = ("rows", "watches", "citizens")


@dataclass(frozen=True, slots=True)
class SourceRow:
    """One row of a source file: its number in the file and its values by column name."""

    line: int
    values: Mapping[str, str]

    def get(self, column: str) -> str:
        """The value of ``column`` with surrounding spaces removed ("" when absent)."""
        return self.values.get(column, "").strip()


def read_rows(
    path: Path,
    *,
    required: Sequence[str],
    aliases: Mapping[str, str] | None = None,
) -> list[SourceRow]:
    """The rows of the CSV or JSON file at ``path``; ``SourceFileError`` if it is unreadable."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SourceFileError(f"cannot read {path.name}: {exc.strerror}") from exc
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SourceFileError(f"{path.name} is not UTF-8 text") from exc
    return parse_rows(text, required=required, aliases=aliases, json_format=_is_json(path, text))


def parse_rows(
    text: str,
    *,
    required: Sequence[str],
    aliases: Mapping[str, str] | None = None,
    json_format: bool = False,
) -> list[SourceRow]:
    """The rows of ``text`` (CSV, or JSON when ``json_format``), columns named canonically."""
    aliases = aliases or {}
    rows = _json_rows(text, aliases) if json_format else _csv_rows(text, aliases)
    if rows:
        present = set().union(*(row.values.keys() for row in rows))
        missing = [column for column in required if column not in present]
        if missing:
            raise SourceFileError(f"the file has no column {', '.join(missing)}")
    return rows


def _is_json(path: Path, text: str) -> bool:
    suffix = path.suffix.lower()
    if suffix == ".json":
        return True
    if suffix == ".csv":
        return False
    return text.lstrip()[:1] in ("[", "{")


def _column(name: str, aliases: Mapping[str, str]) -> str:
    key = name.strip().lower().replace(" ", "_")
    return aliases.get(key, key)


def _csv_rows(text: str, aliases: Mapping[str, str]) -> list[SourceRow]:
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, None)
        if header is None:
            return []
        columns = [_column(name, aliases) for name in header]
        rows = []
        for cells in reader:
            if not any(cell.strip() for cell in cells):
                continue
            values = {column: cell for column, cell in zip(columns, cells, strict=False)}
            if len(cells) > len(columns):
                values["__extra__"] = ",".join(cells[len(columns) :])
            rows.append(SourceRow(reader.line_num, values))
    except csv.Error as exc:
        raise SourceFileError(f"line {reader.line_num}: not valid CSV") from exc
    return rows


def _json_rows(text: str, aliases: Mapping[str, str]) -> list[SourceRow]:
    try:
        data: Any = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SourceFileError(f"line {exc.lineno}: not valid JSON") from exc
    if isinstance(data, dict):
        for key in _JSON_LIST_KEYS:
            if isinstance(data.get(key), list):
                data = data[key]
                break
    if not isinstance(data, list):
        raise SourceFileError("a JSON source file holds a list of objects")
    rows = []
    for number, item in enumerate(data, start=1):
        if not isinstance(item, dict):
            rows.append(SourceRow(number, {"__invalid__": "not an object"}))
            continue
        rows.append(
            SourceRow(
                number,
                {
                    _column(str(key), aliases): "" if value is None else str(value)
                    for key, value in item.items()
                },
            )
        )
    return rows


__all__ = ["SourceRow", "parse_rows", "read_rows"]
