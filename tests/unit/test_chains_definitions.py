"""Chain definitions as data: the shipped ones, a province's own, and the mistakes refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from chains.definitions import load_definitions, read_definition, step_inputs
from chains.errors import DefinitionError, InvalidFiling

SHIPPED = load_definitions()


def test_the_two_published_groups_are_shipped() -> None:
    """Birth → residence → card and death → residence removal → allowance, with the published
    limits: 3 working days (5 with verification), residence 2 (5), card 2."""
    birth = SHIPPED["birth-residence-card"]
    assert [(s.name, s.agency) for s in birth.steps] == [
        ("birth", "civil-status"),
        ("residence", "residence"),
        ("card", "social-security"),
    ]
    assert (birth.working_days, birth.working_days_with_verification) == (3, 5)
    assert birth.step("residence").limit(verification=False) == 2
    assert birth.step("residence").limit(verification=True) == 5
    assert birth.step("card").limit(verification=True) == 2
    assert birth.step("birth").limit(verification=False) is None
    assert str(birth.cutoff) == "15:00:00"
    death = SHIPPED["death-residence-allowance"]
    assert [s.agency for s in death.steps] == ["civil-status", "residence", "social-security"]


def test_a_step_takes_what_it_needs_from_the_filing_and_earlier_results() -> None:
    """The card step gets the PIN and certificate from the birth step, the residence number
    from the residence step."""
    card = SHIPPED["birth-residence-card"].step("card")
    results = {
        "birth": {"pin": "001326000001", "certificate_number": "KS-1"},
        "residence": {"residence_number": "TT-1"},
    }
    assert step_inputs(card, {}, results) == {
        "citizen_id": "001326000001",
        "birth_certificate": "KS-1",
        "residence": "TT-1",
    }
    with pytest.raises(InvalidFiling):
        step_inputs(card, {}, {"birth": {"pin": "x"}})


def test_a_province_file_replaces_a_shipped_one(tmp_path: Path) -> None:
    """A file in the province's folder with a shipped id replaces that definition."""
    text = (
        Path(__file__).resolve().parents[2] / "chains/definitions/birth-residence-card.toml"
    ).read_text(encoding="utf-8")
    (tmp_path / "mine.toml").write_text(text.replace("working_days = 3", "working_days = 4"))
    assert load_definitions(tmp_path)["birth-residence-card"].working_days == 4


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (('agency = "residence"', 'agency = "tax"'), "unknown agency"),
        (('"birth.pin"', '"card.card_number"'), "not an earlier step's result"),
        (('"subject.address"', '"subject.nowhere"'), "not a declared subject field"),
        (("working_days = 3", "working_days = 0"), "working_days must be"),
        (('cutoff = "15:00"', 'cutoff = "late"'), "cutoff must be"),
        (('name = "card"', 'name = "birth"'), "used twice"),
    ],
)
def test_mistakes_in_a_definition_are_refused_with_the_file_named(
    tmp_path: Path, change: tuple[str, str], message: str
) -> None:
    """An inconsistent definition is a ``DefinitionError`` naming the file and the problem."""
    text = (
        Path(__file__).resolve().parents[2] / "chains/definitions/birth-residence-card.toml"
    ).read_text(encoding="utf-8")
    assert change[0] in text
    path = tmp_path / "broken.toml"
    path.write_text(text.replace(change[0], change[1], 1))
    with pytest.raises(DefinitionError) as caught:
        read_definition(path)
    assert "broken.toml" in caught.value.message
    assert message in caught.value.message


def test_a_filing_must_carry_the_subject_fields() -> None:
    """A missing or unknown subject field is named."""
    birth = SHIPPED["birth-residence-card"]
    full = {name: "x" for name in birth.subject}
    birth.check_subject(full)
    with pytest.raises(InvalidFiling) as missing:
        birth.check_subject({**full, "mother_id": " "})
    assert missing.value.field == "subject.mother_id"
    with pytest.raises(InvalidFiling) as unknown:
        birth.check_subject({**full, "pet": "cat"})
    assert unknown.value.field == "subject.pet"
