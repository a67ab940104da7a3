"""``adapter_api.access.logged_fields``: the remembered form of a field set is the plain one."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import pytest

from adapter_api.access import logged_fields
from adapter_api.clients import CITIZEN_FIELDS, DEFAULT_CITIZEN_FIELDS


def _plain(fields: Iterable[str]) -> tuple[str, ...]:
    """The logged names as they were computed on every lookup: known ones, in order."""
    wanted = set(fields)
    return tuple(name for name in CITIZEN_FIELDS if name in wanted)


def _outcome(function: Callable[[], Any]) -> Any:
    try:
        return function()
    except Exception as exc:
        return ("raised", type(exc))


FIELD_SETS: list[Callable[[], Any]] = [
    lambda: (),
    lambda: frozenset(),
    lambda: frozenset(CITIZEN_FIELDS),
    lambda: tuple(reversed(CITIZEN_FIELDS)),
    lambda: ("full_name", "citizen_id", "full_name"),
    lambda: frozenset({"citizen_id", "not a field", ""}),
    lambda: ("NOT_A_FIELD", "Full_Name"),
    lambda: ["full_name", "citizen_id"],
    lambda: {"full_name", "citizen_id"},
    lambda: (name for name in ("citizen_id", "sex")),
    lambda: "citizen_id",
    lambda: (["unhashable"],),
    lambda: [["unhashable"]],
    *(lambda fields=fields: fields for fields in DEFAULT_CITIZEN_FIELDS.values()),
]


@pytest.mark.parametrize("make", FIELD_SETS)
def test_logged_fields_are_the_plain_ones(make: Callable[[], Any]) -> None:
    """Sets, tuples, lists, generators, unknown names, duplicates, a string, unhashable
    members: the same names in the same order (twice: remembered the second time), or the
    same refusal."""
    for _ in range(2):
        assert _outcome(lambda: logged_fields(make())) == _outcome(lambda: _plain(make()))
