"""The field-level diff of national records and its minimisation."""

from __future__ import annotations

from watches.diff import (
    canonical_json,
    changed_fields,
    diff_records,
    minimise_diff,
    record_digest,
)

BUSINESS = {
    "tax_code": "0100109106",
    "name": "Công ty A",
    "status": "active",
    "address": {"street": "1 Tràng Tiền", "ward": "Hoàn Kiếm"},
    "lines": ["6201", "6202"],
    "representatives": [
        {"citizen_id": "001085000001", "full_name": "Nguyễn Văn A", "position": "director"},
        {"citizen_id": "001085000002", "full_name": "Trần Thị B", "position": "chair"},
    ],
}


def _with(**changes: object) -> dict[str, object]:
    return {**BUSINESS, **changes}


def test_equal_records_have_no_diff_and_the_same_digest() -> None:
    """Two equal records (keys in any order) diff to nothing and share a digest."""
    reordered = dict(reversed(list(BUSINESS.items())))
    assert diff_records(BUSINESS, reordered) == []
    assert record_digest(BUSINESS) == record_digest(reordered)
    assert canonical_json(BUSINESS) == canonical_json(reordered)


def test_a_changed_scalar_is_one_entry_with_old_and_new() -> None:
    """A status change is reported at its field with both values."""
    diff = diff_records(BUSINESS, _with(status="dissolved"))
    assert diff == [
        {"field": "status", "path": "status", "op": "changed", "old": "active", "new": "dissolved"}
    ]
    assert record_digest(BUSINESS) != record_digest(_with(status="dissolved"))


def test_nested_objects_are_diffed_leaf_by_leaf() -> None:
    """A change inside the address names the nested path and keeps the top-level field."""
    diff = diff_records(BUSINESS, _with(address={"street": "2 Hàng Bài", "ward": "Hoàn Kiếm"}))
    assert diff == [
        {
            "field": "address",
            "path": "address.street",
            "op": "changed",
            "old": "1 Tràng Tiền",
            "new": "2 Hàng Bài",
        }
    ]


def test_representatives_are_matched_by_identity_not_position() -> None:
    """Removing the first representative reads as one removal, not as every other one changing."""
    reps = BUSINESS["representatives"]
    assert isinstance(reps, list)
    diff = diff_records(BUSINESS, _with(representatives=[reps[1]]))
    assert len(diff) == 1
    assert diff[0]["op"] == "removed"
    assert diff[0]["path"] == "representatives[citizen_id=001085000001]"
    assert diff[0]["old"] == reps[0]


def test_a_representative_change_names_the_representative_and_field() -> None:
    """A changed position of one representative is one entry at that representative's path."""
    reps = [dict(rep) for rep in BUSINESS["representatives"]]  # type: ignore[attr-defined]
    reps[1]["position"] = "director"
    added = {"citizen_id": "001085000003", "full_name": "Lê C", "position": "member"}
    diff = diff_records(BUSINESS, _with(representatives=[*reps, added]))
    assert [(entry["path"], entry["op"]) for entry in diff] == [
        ("representatives[citizen_id=001085000002].position", "changed"),
        ("representatives[citizen_id=001085000003]", "added"),
    ]
    assert changed_fields(diff) == {"representatives"}


def test_lists_without_identity_fall_back_to_positions() -> None:
    """Objects with no identifying key are compared position by position, extra items added."""
    old = {"phones": [{"number": "1"}]}
    new = {"phones": [{"number": "2"}, {"number": "3"}]}
    assert [(e["path"], e["op"]) for e in diff_records(old, new)] == [
        ("phones[0].number", "changed"),
        ("phones[1]", "added"),
    ]


def test_a_list_of_plain_values_changes_as_a_whole() -> None:
    """Business lines (plain strings) are reported as one list change."""
    diff = diff_records(BUSINESS, _with(lines=["6201"]))
    assert diff == [
        {
            "field": "lines",
            "path": "lines",
            "op": "changed",
            "old": ["6201", "6202"],
            "new": ["6201"],
        }
    ]


def test_added_and_removed_fields() -> None:
    """A field that appears or disappears is an addition or a removal."""
    old = {"a": 1, "b": 2}
    new = {"b": 2, "c": None}
    assert diff_records(old, new) == [
        {"field": "a", "path": "a", "op": "removed", "old": 1, "new": None},
        {"field": "c", "path": "c", "op": "added", "old": None, "new": None},
    ]


def test_a_type_change_is_a_change() -> None:
    """``1`` and ``True`` (or ``1`` and ``1.0``) are not the same national value."""
    assert diff_records({"a": 1}, {"a": True})[0]["op"] == "changed"


def test_minimise_keeps_only_allowed_fields() -> None:
    """A caller allowed only some fields sees only the entries about them."""
    old = {"full_name": "A", "permanent_address": "X", "ethnicity": "Kinh"}
    new = {"full_name": "A", "permanent_address": "Y", "ethnicity": "Tày"}
    diff = diff_records(old, new)
    assert [e["field"] for e in minimise_diff(diff, {"permanent_address"})] == ["permanent_address"]
    assert minimise_diff(diff, set()) == []
    assert len(minimise_diff(diff, None)) == 2
