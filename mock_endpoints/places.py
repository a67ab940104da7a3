"""Vietnamese addresses for the synthetic data: real province names, plausible streets and wards.

Province names come from ``schemas.regions.PROVINCE_CODES`` (the CCCD region table), so the
province of a citizen's place of origin matches the region code in their ID. Street and ward names
are common Vietnamese ones (streets named after national figures, wards named by auspicious
words); they exist in many provinces but the combination is not meant to be a real address.
"""

from __future__ import annotations

import random

from schemas.regions import PROVINCE_CODES

#: province-level cities (the others are provinces, *tỉnh*)
CITIES: frozenset[str] = frozenset({"Hà Nội", "Hải Phòng", "Đà Nẵng", "Hồ Chí Minh", "Cần Thơ"})

#: relative weight of a province when drawing where someone lives (the rest weigh 1)
PROVINCE_WEIGHTS: dict[str, int] = {
    "001": 10, "079": 12, "031": 3, "048": 2, "092": 2, "038": 4, "040": 4, "074": 3,
    "075": 4, "027": 2, "036": 2, "034": 2, "030": 2, "089": 2, "066": 2, "052": 2,
}  # fmt: skip

STREETS: tuple[str, ...] = (
    "Lê Lợi", "Trần Hưng Đạo", "Nguyễn Trãi", "Hai Bà Trưng", "Quang Trung", "Lý Thường Kiệt",
    "Hùng Vương", "Nguyễn Huệ", "Lê Duẩn", "Phan Chu Trinh", "Phan Bội Châu", "Nguyễn Du",
    "Điện Biên Phủ", "Võ Thị Sáu", "Nguyễn Văn Cừ", "Trần Phú", "Lê Hồng Phong", "Ngô Quyền",
    "Bà Triệu", "Lý Thái Tổ", "Nguyễn Thị Minh Khai", "Cách Mạng Tháng Tám", "Hoàng Diệu",
    "Nguyễn Chí Thanh", "Tôn Đức Thắng", "Võ Nguyên Giáp", "Lạc Long Quân", "Âu Cơ",
)  # fmt: skip

WARD_NAMES: tuple[str, ...] = (
    "An Phú", "Tân Định", "Hòa Bình", "Quang Trung", "Bình An", "Phú Mỹ", "Tân Thành",
    "Thắng Lợi", "Hòa Khánh", "Thanh Xuân", "Minh Khai", "Phúc Lợi", "Đông Hòa", "Tây Sơn",
    "Hưng Phú", "An Lạc", "Long Bình", "Tân Phong", "Vĩnh Phúc", "Hiệp Thành", "Bình Minh",
    "Phước Long", "Thái Hòa", "Nghĩa Đô", "Cát Linh", "Thịnh Quang", "Xuân Phương", "Mỹ Đình",
)  # fmt: skip


def province_label(code: str) -> str:
    """``Thành phố Hà Nội`` / ``Tỉnh Nam Định``: the province with its administrative title."""
    name = PROVINCE_CODES[code]
    return f"Thành phố {name}" if name in CITIES else f"Tỉnh {name}"


def draw_province(rng: random.Random) -> str:
    """A province code, weighted towards the populous provinces."""
    codes = list(PROVINCE_CODES)
    weights = [PROVINCE_WEIGHTS.get(code, 1) for code in codes]
    return rng.choices(codes, weights=weights, k=1)[0]


def ward(rng: random.Random, province_code: str) -> str:
    """``Phường Tân Định`` in a city, ``Xã An Phú`` (or a ward) elsewhere."""
    kind = "Phường" if PROVINCE_CODES[province_code] in CITIES or rng.random() < 0.4 else "Xã"
    return f"{kind} {rng.choice(WARD_NAMES)}"


def street_address(rng: random.Random, province_code: str) -> str:
    """A full address: house number and street (or hamlet), ward or commune, province."""
    where = ward(rng, province_code)
    if where.startswith("Xã"):
        line = f"Thôn {rng.randint(1, 12)}"
    else:
        line = f"Số {rng.randint(1, 350)} đường {rng.choice(STREETS)}"
    return f"{line}, {where}, {province_label(province_code)}"


def place_of_origin(rng: random.Random, province_code: str) -> str:
    """A place of origin (*quê quán*): commune or ward, and province."""
    return f"{ward(rng, province_code)}, {province_label(province_code)}"


__all__ = [
    "CITIES",
    "STREETS",
    "WARD_NAMES",
    "draw_province",
    "place_of_origin",
    "province_label",
    "street_address",
    "ward",
]
