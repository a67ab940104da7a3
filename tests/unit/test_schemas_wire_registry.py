"""Business registry JSON ⇄ Business, against the wire sample and generated businesses."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given

from schemas.errors import InvalidWireRecord
from schemas.models import Business, BusinessStatus
from schemas.wire import registry
from tests.support.schemas_strategies import businesses

SAMPLE = Path(__file__).resolve().parents[1] / "fixtures" / "wire" / "registry_business.json"


def _sample() -> dict[str, Any]:
    return json.loads(SAMPLE.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def test_sample_both_ways() -> None:
    """The sample reads to a Business that writes back to the same JSON."""
    payload = _sample()
    business = registry.business_from_registry(payload)
    assert business.tax_code == "0101234565"
    assert business.status is BusinessStatus.ACTIVE
    assert [p.position for p in business.representatives] == [
        "Chủ tịch Hội đồng thành viên",
        "Giám đốc",
    ]
    assert registry.business_to_registry(business) == payload


@given(businesses)
def test_any_business_round_trips_through_json(business: Business) -> None:
    """model → wire → JSON text → wire → model gives an equal Business."""
    text = json.dumps(registry.business_to_registry(business), ensure_ascii=False)
    assert registry.business_from_registry(json.loads(text)) == business


def test_every_status_has_one_vietnamese_text() -> None:
    """The status mapping is one-to-one and covers every BusinessStatus."""
    assert set(registry.STATUS_TEXT) == set(BusinessStatus)
    assert len(set(registry.STATUS_TEXT.values())) == len(BusinessStatus)
    assert registry.STATUS_TEXT[BusinessStatus.DISSOLVED] == "Đã giải thể"


def _broken(path: tuple[str | int, ...], value: object) -> dict[str, Any]:
    payload = copy.deepcopy(_sample())
    target: Any = payload["Data"]
    for key in path[:-1]:
        target = target[key]
    if value is KeyError:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return payload


@pytest.mark.parametrize(
    ("path", "value", "reason"),
    [
        (("MainInformation", "TinhTrangPhapLy"), "Hoạt động tốt", "TinhTrangPhapLy"),
        (("MainInformation", "NgayThanhLap"), "27/05/2012", "NgayThanhLap must be a date"),
        (("MainInformation", "NgayThanhLap"), "2012-02-30", "NgayThanhLap is not a real date"),
        (("MainInformation", "MaSoDoanhNghiep"), "0101234566", "MainInformation.MaSoDoanhNghiep"),
        (("MainInformation", "TenDoanhNghiep"), KeyError, "MainInformation.TenDoanhNghiep"),
        (("Representatives", 1, "SoGiayTo"), "003190123456", "Representatives[1].SoGiayTo"),
        (("Representatives", 0, "LoaiGiayTo"), "HoChieu", "LoaiGiayTo must be CCCD"),
        (("Representatives",), {"HoTen": "x"}, "must be a list"),
        (("MainInformation",), [], "must be a JSON object"),
    ],
)
def test_bad_payloads_are_refused_naming_the_key(
    path: tuple[str | int, ...], value: object, reason: str
) -> None:
    """Unknown status, bad dates, bad identifiers and missing keys name the wire key, not values."""
    with pytest.raises(InvalidWireRecord) as caught:
        registry.business_from_registry(_broken(path, value))
    assert reason in str(caught.value)
    assert "0101234566" not in str(caught.value)
    assert "003190123456" not in str(caught.value)


def test_missing_representatives_mean_none() -> None:
    """No Representatives key (or null) reads as no representatives."""
    assert (
        registry.business_from_registry(_broken(("Representatives",), KeyError)).representatives
        == ()
    )
    assert (
        registry.business_from_registry(_broken(("Representatives",), None)).representatives == ()
    )


def test_answer_without_data_is_refused() -> None:
    """An answer without Data is not a business."""
    with pytest.raises(InvalidWireRecord, match="Data must be a JSON object"):
        registry.business_from_registry({"ErrorCode": "404"})
