"""Turning pydantic validation failures of wire data into ``InvalidWireRecord``; models built
from values a reader has already checked."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from schemas.errors import InvalidWireRecord

M = TypeVar("M", bound=BaseModel)

_set = object.__setattr__
#: the models :func:`checked_model` has found to hold nothing but their fields (a class's
#: configuration and validators are set when it is made: checked once per model)
_FIELDS_ONLY: set[type[BaseModel]] = set()


def problems_of(exc: ValidationError, *, names: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """One ``"field: message"`` line per error (pydantic messages carry no input values).

    ``names`` renames model fields to their wire names so the lines point at the payload.
    """
    lines = []
    for error in exc.errors(include_input=False, include_url=False):
        loc = [str(part) for part in error["loc"]]
        if loc and names is not None:
            loc[0] = names.get(loc[0], loc[0])
        where = ".".join(loc) or "record"
        message = error["msg"].removeprefix("Value error, ")
        lines.append(f"{where}: {message}")
    return tuple(lines)


def build_model(
    model: type[M], data: dict[str, Any], *, what: str, names: Mapping[str, str] | None = None
) -> M:
    """``model(**data)``, or ``InvalidWireRecord`` naming ``what`` and each bad field."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise InvalidWireRecord(
            f"{what} does not map to {model.__name__}",
            problems=problems_of(exc, names=names),
            field=what,
        ) from exc


def checked_model(model: type[M], fields: dict[str, Any], fields_set: set[str]) -> M:
    """``model`` holding ``fields``, values a reader has shown to be what validating them gives.

    ``fields`` holds every field of ``model`` in its declared order (defaults included),
    ``fields_set`` the names the wire carried: the instance is the one ``model_validate`` would
    return (the same ``__dict__``, fields set, no extra and no private values), set as
    ``model_construct`` sets it, without its per-field pass over aliases and defaults (about as
    costly as the checks themselves). Only for models whose instances hold nothing else (no
    private attributes, no ``model_post_init``, extra values refused).
    """
    if model not in _FIELDS_ONLY:
        if (
            model.__pydantic_post_init__
            or model.__private_attributes__
            or model.model_config.get("extra") == "allow"
        ):
            raise TypeError(f"{model.__name__} holds more than its fields")
        _FIELDS_ONLY.add(model)
    instance = model.__new__(model)
    _set(instance, "__dict__", fields)
    _set(instance, "__pydantic_fields_set__", fields_set)
    _set(instance, "__pydantic_extra__", None)
    _set(instance, "__pydantic_private__", None)
    return instance
