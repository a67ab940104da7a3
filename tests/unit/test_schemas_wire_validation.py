"""``checked_model`` sets only models that hold nothing but their fields, every time.

Whether a model does is found once per model (its configuration is set when the class is made):
a model that holds more is refused on the first call and on every later one, and a model found
fit is set as ``model_validate`` sets it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict, PrivateAttr

from schemas.times import utc_now
from schemas.wire.validation import checked_model


class _Fit(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    size: int = 1


class _Private(BaseModel):
    name: str
    _note: str = PrivateAttr("x")


class _PostInit(BaseModel):
    name: str

    def model_post_init(self, context: Any, /) -> None:
        """Holds more than its fields after validation."""


class _Extra(BaseModel):
    model_config = ConfigDict(extra="allow")

    name: str


@pytest.mark.parametrize("model", [_Private, _PostInit, _Extra])
def test_a_model_holding_more_is_refused_every_time(model: type[BaseModel]) -> None:
    """Refused on the first call, and again on the next (the finding is not remembered as
    fit)."""
    for _ in range(2):
        with pytest.raises(TypeError, match="holds more than its fields"):
            checked_model(model, {"name": "a"}, {"name"})


def test_a_fit_model_is_set_as_validation_sets_it() -> None:
    """The same values, fields set, extra and private values, first call and later ones."""
    validated = _Fit.model_validate({"name": "a"})
    for _ in range(2):
        checked = checked_model(_Fit, {"name": "a", "size": 1}, {"name"})
        assert checked == validated
        assert checked.__dict__ == validated.__dict__
        assert checked.model_fields_set == validated.model_fields_set == {"name"}
        assert checked.__pydantic_extra__ is validated.__pydantic_extra__ is None
        assert checked.__pydantic_private__ is validated.__pydantic_private__ is None


def test_utc_now_is_the_current_instant_in_utc() -> None:
    """``utc_now()`` (a ``partial`` of ``datetime.now``) is ``datetime.now(UTC)``: aware, UTC,
    between two readings of the clock, a new value each call."""
    before = datetime.now(UTC)
    now = utc_now()
    after = datetime.now(UTC)
    assert type(now) is datetime
    assert now.tzinfo is UTC
    assert now.utcoffset() == timedelta(0)
    assert before <= now <= after
