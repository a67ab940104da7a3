"""Field-level differences between two versions of a national record, and their canonical form.

A record (a citizen, a business) is compared in its canonical JSON form: a mapping of field name to
JSON value. :func:`diff_records` walks both versions and returns one entry per leaf that changed::

    {"field": "status", "path": "status", "op": "changed", "old": "active", "new": "dissolved"}
    {"field": "representatives", "path": "representatives[citizen_id=001085012345].position",
     "op": "changed", "old": "director", "new": "chair"}

``field`` is always the top-level field, so a diff can be minimised to what a caller may see with
:func:`minimise_diff`. Lists of objects (a business's representatives) are matched item by item on
an identifying key when every item has a distinct one, so that removing the first representative
does not read as every other one having changed.

Diffs of citizens are personal data: they are kept in the store and served to entitled callers,
never logged.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from store.watches.types import DiffEntry

#: keys that identify an item of a list of objects, tried in this order
DEFAULT_ITEM_KEYS: tuple[str, ...] = (
    "citizen_id",
    "id_number",
    "id",
    "tax_code",
    "full_name",
    "name",
)


def canonical_json(record: Mapping[str, Any]) -> str:
    """The canonical JSON text of a record: sorted keys, no spaces, UTF-8 characters kept."""
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def record_digest(record: Mapping[str, Any]) -> str:
    """The SHA-256 (hex) of the record's canonical JSON."""
    return hashlib.sha256(canonical_json(record).encode("utf-8")).hexdigest()


def diff_records(
    old: Mapping[str, Any],
    new: Mapping[str, Any],
    *,
    item_keys: Sequence[str] = DEFAULT_ITEM_KEYS,
) -> list[DiffEntry]:
    """Every leaf that differs between ``old`` and ``new``, in a stable order (empty when equal)."""
    entries: list[DiffEntry] = []
    for name in sorted(set(old) | set(new)):
        _diff_value(
            name, name, old.get(name, _MISSING), new.get(name, _MISSING), item_keys, entries
        )
    return entries


def minimise_diff(
    diff: Sequence[DiffEntry], allowed_fields: Collection[str] | None
) -> list[DiffEntry]:
    """The entries of ``diff`` about fields in ``allowed_fields`` (all of them when ``None``)."""
    if allowed_fields is None:
        return [dict(entry) for entry in diff]
    return [dict(entry) for entry in diff if entry["field"] in allowed_fields]


def changed_fields(diff: Sequence[DiffEntry]) -> set[str]:
    """The top-level fields a diff touches."""
    return {entry["field"] for entry in diff}


class _Missing:
    def __repr__(self) -> str:
        return "<missing>"


_MISSING: Any = _Missing()


def _diff_value(
    field: str,
    path: str,
    old: Any,
    new: Any,
    item_keys: Sequence[str],
    out: list[DiffEntry],
) -> None:
    if old is _MISSING and new is _MISSING:
        return
    if old is _MISSING:
        out.append({"field": field, "path": path, "op": "added", "old": None, "new": new})
        return
    if new is _MISSING:
        out.append({"field": field, "path": path, "op": "removed", "old": old, "new": None})
        return
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        for name in sorted(set(old) | set(new), key=str):
            _diff_value(
                field,
                f"{path}.{name}",
                old.get(name, _MISSING),
                new.get(name, _MISSING),
                item_keys,
                out,
            )
        return
    if _is_list(old) and _is_list(new):
        _diff_list(field, path, old, new, item_keys, out)
        return
    if old != new or type(old) is not type(new):
        out.append({"field": field, "path": path, "op": "changed", "old": old, "new": new})


def _is_list(value: Any) -> bool:
    return isinstance(value, list | tuple)


def _diff_list(
    field: str,
    path: str,
    old: Sequence[Any],
    new: Sequence[Any],
    item_keys: Sequence[str],
    out: list[DiffEntry],
) -> None:
    key = _shared_item_key(old, new, item_keys)
    if key is not None:
        old_by = {str(item[key]): item for item in old}
        new_by = {str(item[key]): item for item in new}
        order = [str(item[key]) for item in old] + [
            str(item[key]) for item in new if str(item[key]) not in old_by
        ]
        for ident in order:
            _diff_value(
                field,
                f"{path}[{key}={ident}]",
                old_by.get(ident, _MISSING),
                new_by.get(ident, _MISSING),
                item_keys,
                out,
            )
        return
    if all(not isinstance(item, Mapping | list | tuple) for item in (*old, *new)):
        # A list of plain values (business lines, phone numbers): one entry for the whole list.
        if list(old) != list(new):
            out.append(
                {"field": field, "path": path, "op": "changed", "old": list(old), "new": list(new)}
            )
        return
    for index in range(max(len(old), len(new))):
        _diff_value(
            field,
            f"{path}[{index}]",
            old[index] if index < len(old) else _MISSING,
            new[index] if index < len(new) else _MISSING,
            item_keys,
            out,
        )


def _shared_item_key(
    old: Sequence[Any], new: Sequence[Any], item_keys: Sequence[str]
) -> str | None:
    """The first key every item of both lists has, with distinct values within each list."""
    items = [*old, *new]
    if not items or not all(isinstance(item, Mapping) for item in items):
        return None
    for key in item_keys:
        if not all(item.get(key) not in (None, "") for item in items):
            continue
        if all(len({str(item[key]) for item in seq}) == len(seq) for seq in (old, new)):
            return key
    return None


__all__ = [
    "DEFAULT_ITEM_KEYS",
    "DiffEntry",
    "canonical_json",
    "changed_fields",
    "diff_records",
    "minimise_diff",
    "record_digest",
]
