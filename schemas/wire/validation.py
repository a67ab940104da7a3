"""Turning pydantic validation failures of wire data into ``InvalidWireRecord``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from schemas.errors import InvalidWireRecord

M = TypeVar("M", bound=BaseModel)


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
