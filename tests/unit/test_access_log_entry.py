"""``AccessLogEntry``'s written-out ``__init__`` makes the entry a frozen dataclass's generated
``__init__`` makes: the same fields from the same arguments (positional, keywords, defaults),
the same refusals of wrong arguments, and an entry as frozen, equal, hashable, copyable and
replaceable as before; a subclass gets its fields too."""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import pickle
from collections.abc import Callable
from typing import Any

import pytest

from store.access_log import AccessLogEntry


@dataclasses.dataclass(frozen=True, slots=True)
class _Generated:
    """``AccessLogEntry`` as it was declared, with the ``__init__`` the dataclass generates."""

    citizen_id: str
    client_id: str
    organisation: str
    official: str | None
    dossier_code: str | None
    operation: str
    fields: tuple[str, ...]
    request_id: str | None = None
    message_id: str | None = None
    occurred_at: dt.datetime | None = None
    outcome: str = "answered"


AT = dt.datetime(2026, 11, 26, 8, 0, 0, 123456, tzinfo=dt.UTC)
POSITIONAL = ("001190000007", "province-app", "UBND", "VN001085000123", "D-1", "GetCitizen")

CALLS: list[tuple[tuple[Any, ...], dict[str, Any]]] = [
    ((*POSITIONAL, ("citizen_id",)), {}),
    ((*POSITIONAL, ("citizen_id",), "req-1", "m-1", AT, "refused"), {}),
    (
        (),
        dict(
            citizen_id="x",
            client_id="c",
            organisation="o",
            official=None,
            dossier_code=None,
            operation="op",
            fields=(),
            request_id="r",
            message_id=None,
            occurred_at=AT,
            outcome="answered",
        ),
    ),
    (POSITIONAL, {"fields": ["a", "b"], "outcome": "refused"}),  # a list: kept as given
    ((*POSITIONAL, ()), {"occurred_at": None}),
    ((None, 1, b"o", 2.5, object, "", ()), {}),  # any value: a dataclass does not check types
]

WRONG_CALLS: list[tuple[tuple[Any, ...], dict[str, Any]]] = [
    ((), {}),
    (POSITIONAL, {}),  # no fields
    ((*POSITIONAL, (), None, None, None, "answered", "one too many"), {}),
    ((*POSITIONAL, ()), {"citizen_id": "twice"}),
    ((*POSITIONAL, ()), {"unknown": 1}),
    ((), {"fields": ()}),
]


def _made(kind: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """The fields of ``kind(*args, **kwargs)``, or its refusal (class and message, the class's
    name left out)."""
    try:
        made = kind(*args, **kwargs)
    except TypeError as exc:
        return ("raised", str(exc).replace(kind.__name__, "Entry"))
    return dataclasses.astuple(made)


@pytest.mark.parametrize(("args", "kwargs"), CALLS, ids=repr)
def test_an_entry_is_what_the_generated_init_makes(
    args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    """The same fields, whatever the arguments; the entry is an ``AccessLogEntry``, equal and
    hashed as one made again, frozen, and copies, pickles and replaces as before."""
    assert _made(AccessLogEntry, args, kwargs) == _made(_Generated, args, kwargs)
    entry = AccessLogEntry(*args, **kwargs)
    assert type(entry) is AccessLogEntry
    assert entry == AccessLogEntry(*args, **kwargs)
    assert repr(entry).removeprefix("AccessLogEntry") == repr(
        _Generated(*args, **kwargs)
    ).removeprefix("_Generated")
    with pytest.raises(dataclasses.FrozenInstanceError):
        entry.outcome = "changed"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        del entry.citizen_id  # type: ignore[misc]
    if all(
        isinstance(value, str | tuple | dt.datetime | None) for value in (*args, *kwargs.values())
    ):
        assert hash(entry) == hash(AccessLogEntry(*args, **kwargs))
        assert pickle.loads(pickle.dumps(entry)) == entry  # noqa: S301 - its own bytes
    assert copy.copy(entry) == entry
    changed = dataclasses.replace(entry, outcome="refused")
    assert type(changed) is AccessLogEntry
    assert dataclasses.astuple(changed) == (*dataclasses.astuple(entry)[:-1], "refused")


@pytest.mark.parametrize(("args", "kwargs"), WRONG_CALLS, ids=repr)
def test_wrong_arguments_are_refused_as_the_generated_init_refuses(
    args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    """Missing, extra, doubled or unknown arguments: the same ``TypeError``, word for word."""
    made = _made(AccessLogEntry, args, kwargs)
    assert made[0] == "raised"
    assert made == _made(_Generated, args, kwargs)


def test_the_signature_and_the_fields_are_the_declared_ones() -> None:
    """The ``__init__`` takes the fields in their order with their defaults, as generated."""
    import inspect

    ours = inspect.signature(AccessLogEntry.__init__)
    generated = inspect.signature(_Generated.__init__)
    assert [(p.name, p.default, p.kind) for p in ours.parameters.values()] == [
        (p.name, p.default, p.kind) for p in generated.parameters.values()
    ]
    assert [f.name for f in dataclasses.fields(AccessLogEntry)] == [
        f.name for f in dataclasses.fields(_Generated)
    ]


class _Sub(AccessLogEntry):
    """A plain subclass: it inherits the ``__init__``."""

    __slots__ = ("extra",)


def test_a_subclass_gets_its_fields_and_keeps_its_class() -> None:
    """A subclass (other slots: the class switch cannot apply) is filled in as the generated
    ``__init__`` fills it: field by field, past the frozen ``__setattr__``."""
    sub = _Sub(*POSITIONAL, ("citizen_id",), occurred_at=AT)
    assert type(sub) is _Sub
    assert dataclasses.astuple(sub) == dataclasses.astuple(
        _Generated(*POSITIONAL, ("citizen_id",), occurred_at=AT)
    )
    with pytest.raises(dataclasses.FrozenInstanceError):
        sub.outcome = "changed"  # type: ignore[misc]
