"""Vietnamese personal names, written family name first, with realistic frequencies.

Faker's ``vi_VN`` locale prints names given-name first and mixes in honorifics; this module draws
a family name (weighted by its share of the population), a middle name and a given name by sex,
and joins them in the Vietnamese order: ``Nguyễn Thị Thu Hà``, ``Trần Văn Minh``.

Frequencies of family names are rounded from published surveys (Nguyễn ≈ 38 %, Trần ≈ 11 %,
Lê ≈ 9.5 % …); the weights only need to make the synthetic population look plausible.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from schemas.citizen_id import Sex

#: (family name, weight in per mille)
FAMILY_NAMES: tuple[tuple[str, int], ...] = (
    ("Nguyễn", 380),
    ("Trần", 110),
    ("Lê", 95),
    ("Phạm", 70),
    ("Hoàng", 30),
    ("Huỳnh", 21),
    ("Phan", 45),
    ("Vũ", 22),
    ("Võ", 17),
    ("Đặng", 21),
    ("Bùi", 20),
    ("Đỗ", 14),
    ("Hồ", 13),
    ("Ngô", 13),
    ("Dương", 10),
    ("Lý", 5),
    ("Đinh", 6),
    ("Trương", 6),
    ("Lâm", 4),
    ("Mai", 4),
    ("Trịnh", 4),
    ("Đoàn", 4),
    ("Cao", 3),
    ("Lương", 3),
    ("Tạ", 2),
    ("Hà", 3),
    ("Tô", 2),
    ("Chu", 2),
    ("Kiều", 1),
    ("Quách", 1),
)

MIDDLE_NAMES: dict[Sex, tuple[tuple[str, int], ...]] = {
    Sex.MALE: (
        ("Văn", 40),
        ("Hữu", 8),
        ("Đức", 10),
        ("Minh", 10),
        ("Quang", 7),
        ("Thành", 5),
        ("Công", 5),
        ("Xuân", 4),
        ("Ngọc", 3),
        ("Anh", 3),
        ("Tuấn", 2),
        ("Gia", 3),
    ),
    Sex.FEMALE: (
        ("Thị", 40),
        ("Ngọc", 10),
        ("Thu", 6),
        ("Thanh", 7),
        ("Minh", 5),
        ("Phương", 4),
        ("Hồng", 4),
        ("Kim", 5),
        ("Bảo", 3),
        ("Mỹ", 3),
        ("Diệu", 2),
        ("Khánh", 2),
    ),
}

GIVEN_NAMES: dict[Sex, tuple[str, ...]] = {
    Sex.MALE: (
        "An", "Bình", "Cường", "Dũng", "Đạt", "Duy", "Hải", "Hiếu", "Hoàng", "Hùng", "Huy",
        "Khang", "Khánh", "Khoa", "Kiên", "Long", "Lâm", "Lộc", "Minh", "Nam", "Nghĩa", "Phong",
        "Phúc", "Quân", "Quang", "Sơn", "Tài", "Thắng", "Thành", "Thịnh", "Toàn", "Trí", "Trung",
        "Tuấn", "Tùng", "Việt", "Vinh", "Vũ",
    ),
    Sex.FEMALE: (
        "Anh", "Châu", "Chi", "Dung", "Duyên", "Giang", "Hà", "Hạnh", "Hằng", "Hiền", "Hoa",
        "Hồng", "Hương", "Lan", "Liên", "Linh", "Loan", "Mai", "My", "Nga", "Ngân", "Ngọc",
        "Nhung", "Oanh", "Phương", "Quỳnh", "Tâm", "Thảo", "Thủy", "Trang", "Trâm", "Tuyết",
        "Uyên", "Vân", "Vy", "Yến",
    ),
}  # fmt: skip


def _weighted(rng: random.Random, table: Sequence[tuple[str, int]]) -> str:
    names = [name for name, _ in table]
    weights = [weight for _, weight in table]
    return rng.choices(names, weights=weights, k=1)[0]


def family_name(rng: random.Random) -> str:
    """A family name drawn by its frequency."""
    return _weighted(rng, FAMILY_NAMES)


def full_name(rng: random.Random, sex: Sex, *, family: str | None = None) -> str:
    """A full name in Vietnamese order: family name, middle name, given name."""
    family = family or family_name(rng)
    middle = _weighted(rng, MIDDLE_NAMES[sex])
    given = rng.choice(GIVEN_NAMES[sex])
    while given == middle:
        given = rng.choice(GIVEN_NAMES[sex])
    return f"{family} {middle} {given}"


__all__ = ["FAMILY_NAMES", "GIVEN_NAMES", "MIDDLE_NAMES", "family_name", "full_name"]
