"""Synthetic citizens and businesses, the same for the same seed.

:class:`SyntheticData` draws, from one ``random.Random(seed)``:

- citizens with Vietnamese names in Vietnamese order, a sex and birth date, a CCCD whose region,
  century/sex digit and birth year agree with them (about 1 % born abroad, with a country code),
  a place of origin in the ID's province, permanent and current addresses with real province
  names, nationality ``VN`` and an ethnicity (mostly Kinh);
- businesses with valid tax codes (first digits matching the province of the head office), about
  one in ten a branch (``NNNNNNNNNN-NNN``) of an earlier one, Vietnamese company names with an
  English and short name, a legal form, a legal status, and one or two legal representatives who
  are themselves adult citizens of the population mock.

Ages are taken against the fixed :data:`REFERENCE_DATE`, never today, so a seed gives the same
data on every day. Nothing here calls Faker: its ``vi_VN`` locale writes names backwards and knows
no CCCD, and its output changes between versions.
"""

from __future__ import annotations

import random
import unicodedata
from datetime import date, timedelta
from typing import TypeVar

from mock_endpoints import names, places
from mock_endpoints.procedures import PROCEDURES, Procedure
from schemas.citizen_id import Sex, make_citizen_id
from schemas.models import Business, BusinessStatus, Citizen, Representative
from schemas.regions import COUNTRY_CODES
from schemas.tax_code import make_tax_code
from schemas.tax_code import tax_check_digit as _check_digit

REFERENCE_DATE = date(2025, 1, 1)
MIN_AGE, MAX_AGE = 16, 88
ADULT_AGE = 18

#: (ethnicity, weight in per mille) — Kinh about 85 %
ETHNICITIES: tuple[tuple[str, int], ...] = (
    ("Kinh", 853), ("Tày", 19), ("Thái", 19), ("Mường", 15), ("Khmer", 13), ("Mông", 13),
    ("Nùng", 11), ("Dao", 9), ("Hoa", 8), ("Gia Rai", 5), ("Ê Đê", 4), ("Ba Na", 3),
    ("Sán Chay", 2), ("Chăm", 2), ("Cơ Ho", 2), ("Xơ Đăng", 2), ("Sán Dìu", 2),
)  # fmt: skip

#: first two digits of an enterprise tax code -> province code of the head office
TAX_PREFIXES: dict[str, str] = {"01": "001", "02": "031", "03": "079", "04": "048", "18": "092"}
TAX_PREFIX_WEIGHTS: dict[str, int] = {"01": 35, "02": 8, "03": 40, "04": 9, "18": 8}

#: (legal form, name prefix, English suffix, short suffix, weight)
LEGAL_FORMS: tuple[tuple[str, str, str, str, int], ...] = (
    ("Công ty trách nhiệm hữu hạn một thành viên", "Công ty TNHH MTV",
     "ONE MEMBER COMPANY LIMITED", "CO., LTD", 35),
    ("Công ty trách nhiệm hữu hạn hai thành viên trở lên", "Công ty TNHH",
     "COMPANY LIMITED", "CO., LTD", 30),
    ("Công ty cổ phần", "Công ty Cổ phần", "JOINT STOCK COMPANY", "JSC", 25),
    ("Doanh nghiệp tư nhân", "Doanh nghiệp tư nhân", "PRIVATE ENTERPRISE", "PE", 8),
    ("Công ty hợp danh", "Công ty Hợp danh", "PARTNERSHIP", "PARTNERSHIP", 2),
)  # fmt: skip

#: (Vietnamese line of business, English)
TRADES: tuple[tuple[str, str], ...] = (
    ("Thương mại và Dịch vụ", "TRADING AND SERVICES"), ("Xây dựng", "CONSTRUCTION"),
    ("Đầu tư và Phát triển", "INVESTMENT AND DEVELOPMENT"), ("Công nghệ", "TECHNOLOGY"),
    ("Sản xuất và Thương mại", "MANUFACTURING AND TRADING"), ("Vận tải", "TRANSPORT"),
    ("Du lịch", "TOURISM"), ("Thực phẩm", "FOOD"), ("Nông sản", "AGRICULTURAL PRODUCTS"),
    ("Tư vấn", "CONSULTING"), ("Bất động sản", "REAL ESTATE"), ("Điện tử", "ELECTRONICS"),
    ("Dược phẩm", "PHARMACEUTICAL"), ("May mặc", "GARMENT"), ("Giáo dục", "EDUCATION"),
    ("Cơ khí", "MECHANICAL ENGINEERING"), ("Thủy sản", "SEAFOOD"), ("Logistics", "LOGISTICS"),
)  # fmt: skip

BRANDS: tuple[str, ...] = (
    "Minh Phát", "Hoàng Long", "Thành Công", "An Khang", "Phú Thịnh", "Đại Việt", "Tân Phát",
    "Hưng Thịnh", "Sao Mai", "Bình Minh", "Việt Tiến", "Nam Á", "Trường Sơn", "Kim Ngân",
    "Phúc Lộc", "Hải Âu", "Thăng Long", "Cửu Long", "Sông Hồng", "Hồng Hà", "Ánh Dương",
    "Toàn Cầu", "Thiên Phúc", "Quang Minh", "Đông Á", "Tân Tiến", "Vạn Xuân", "Lạc Hồng",
)  # fmt: skip

#: (status, weight in per mille)
STATUSES: tuple[tuple[BusinessStatus, int], ...] = (
    (BusinessStatus.ACTIVE, 850), (BusinessStatus.SUSPENDED, 60),
    (BusinessStatus.DISSOLVING, 20), (BusinessStatus.DISSOLVED, 40),
    (BusinessStatus.NOT_AT_REGISTERED_ADDRESS, 20), (BusinessStatus.LICENCE_REVOKED, 5),
    (BusinessStatus.BANKRUPT, 5),
)  # fmt: skip

_FIRST_BUSINESS_DATE = date(1995, 1, 1)
T = TypeVar("T")


def ascii_upper(text: str) -> str:
    """``Minh Phát`` -> ``MINH PHAT``: diacritics removed, upper case (English company names)."""
    text = text.replace("Đ", "D").replace("đ", "d")
    stripped = "".join(
        char for char in unicodedata.normalize("NFD", text) if not unicodedata.combining(char)
    )
    return stripped.upper()


def _weighted(rng: random.Random, table: tuple[tuple[T, int], ...]) -> T:
    return rng.choices([item for item, _ in table], weights=[w for _, w in table], k=1)[0]


def _random_date(rng: random.Random, start: date, end: date) -> date:
    return start + timedelta(days=rng.randint(0, (end - start).days))


class SyntheticData:
    """Citizens, businesses and procedures drawn deterministically from ``seed``.

    ``citizens`` and ``businesses`` are the counts to draw; the records are in the attributes of
    the same names (tuples, in drawing order). Businesses need at least one citizen.
    """

    def __init__(self, seed: int = 42, citizens: int = 200, businesses: int = 50) -> None:
        if citizens < 0 or businesses < 0:
            raise ValueError("counts must not be negative")
        if businesses and not citizens:
            raise ValueError("businesses need citizens to be their representatives")
        self.seed = seed
        rng = random.Random(f"lienthong-mock:{seed}")
        self.citizens: tuple[Citizen, ...] = _draw_citizens(rng, citizens)
        self.businesses: tuple[Business, ...] = _draw_businesses(rng, businesses, self.citizens)
        self.procedures: tuple[Procedure, ...] = PROCEDURES


# --- citizens -------------------------------------------------------------------------------


def _draw_citizens(rng: random.Random, count: int) -> tuple[Citizen, ...]:
    taken: set[str] = set()
    people = []
    for _ in range(count):
        people.append(_draw_citizen(rng, taken))
    return tuple(people)


def _draw_citizen(rng: random.Random, taken: set[str]) -> Citizen:
    sex = Sex.FEMALE if rng.random() < 0.5 else Sex.MALE
    age = int(rng.triangular(MIN_AGE, MAX_AGE + 1, 32))
    born = REFERENCE_DATE - timedelta(days=365 * age + rng.randint(0, 364))
    origin = places.draw_province(rng)
    born_abroad = rng.random() < 0.01
    region = rng.choice(sorted(COUNTRY_CODES)) if born_abroad else origin
    while True:
        citizen_id = make_citizen_id(region, born.year, sex, rng.randrange(1_000_000))
        if citizen_id not in taken:
            taken.add(citizen_id)
            break
    home = origin if rng.random() < 0.7 else places.draw_province(rng)
    permanent = places.street_address(rng, home)
    roll = rng.random()
    if roll < 0.75:
        current: str | None = permanent
    elif roll < 0.95:
        current = places.street_address(rng, places.draw_province(rng))
    else:
        current = None
    return Citizen(
        citizen_id=citizen_id,
        full_name=names.full_name(rng, sex),
        date_of_birth=born,
        sex=sex,
        place_of_origin=places.place_of_origin(rng, origin),
        permanent_address=permanent,
        current_address=current,
        nationality="VN",
        ethnicity=_weighted(rng, ETHNICITIES),
    )


def is_adult(citizen: Citizen, on: date = REFERENCE_DATE) -> bool:
    """True when ``citizen`` is at least 18 on ``on``."""
    born = citizen.date_of_birth
    age = on.year - born.year - ((on.month, on.day) < (born.month, born.day))
    return age >= ADULT_AGE


# --- businesses -----------------------------------------------------------------------------


def _draw_tax_head(rng: random.Random, taken: set[str]) -> tuple[str, str]:
    """A new 10-digit tax code and the province code its prefix names."""
    prefixes = tuple(TAX_PREFIX_WEIGHTS.items())
    while True:
        prefix = _weighted(rng, prefixes)
        first_nine = prefix + f"{rng.randrange(10_000_000):07d}"
        if _check_digit(first_nine) is None:
            continue
        code = make_tax_code(first_nine)
        if code not in taken:
            taken.add(code)
            return code, TAX_PREFIXES[prefix]


def _positions(legal_form: str, count: int) -> list[str]:
    if legal_form.startswith("Doanh nghiệp tư nhân"):
        return ["Chủ doanh nghiệp"]
    if legal_form.startswith("Công ty hợp danh"):
        return ["Thành viên hợp danh"] * count
    if legal_form == "Công ty cổ phần":
        return ["Tổng giám đốc", "Chủ tịch Hội đồng quản trị"][:count]
    if "hai thành viên" in legal_form:
        return ["Giám đốc", "Chủ tịch Hội đồng thành viên"][:count]
    return ["Giám đốc", "Chủ tịch công ty"][:count]


def _draw_businesses(
    rng: random.Random, count: int, people: tuple[Citizen, ...]
) -> tuple[Business, ...]:
    adults = [person for person in people if is_adult(person)] or list(people)
    taken: set[str] = set()
    branches: dict[str, int] = {}
    result: list[Business] = []
    for _ in range(count):
        if result and rng.random() < 0.1:
            result.append(_draw_branch(rng, rng.choice(result), branches, adults))
        else:
            result.append(_draw_enterprise(rng, taken, adults))
    return tuple(result)


def _draw_enterprise(rng: random.Random, taken: set[str], adults: list[Citizen]) -> Business:
    tax_code, province = _draw_tax_head(rng, taken)
    legal_form, prefix, english_suffix, short_suffix, _ = rng.choices(
        LEGAL_FORMS, weights=[form[4] for form in LEGAL_FORMS], k=1
    )[0]
    trade, trade_en = rng.choice(TRADES)
    brand = rng.choice(BRANDS)
    count = 2 if legal_form != "Doanh nghiệp tư nhân" and rng.random() < 0.15 else 1
    chosen = rng.sample(adults, k=min(count, len(adults)))
    positions = _positions(legal_form, len(chosen))
    if legal_form == "Doanh nghiệp tư nhân":
        name = f"{prefix} {brand}"
        english = f"{ascii_upper(brand)} {english_suffix}"
    else:
        name = f"{prefix} {trade} {brand}"
        english = f"{ascii_upper(brand)} {trade_en} {english_suffix}"
    return Business(
        tax_code=tax_code,
        name=name,
        english_name=english,
        short_name=f"{ascii_upper(brand)} {short_suffix}",
        status=_weighted(rng, STATUSES),
        legal_form=legal_form,
        registered_on=_random_date(rng, _FIRST_BUSINESS_DATE, REFERENCE_DATE),
        head_office_address=places.street_address(rng, province),
        representatives=tuple(
            Representative(citizen_id=person.citizen_id, full_name=person.full_name, position=pos)
            for person, pos in zip(chosen, positions, strict=True)
        ),
    )


def _draw_branch(
    rng: random.Random, parent: Business, branches: dict[str, int], adults: list[Citizen]
) -> Business:
    head = parent.tax_code[:10]
    number = branches.get(head, 0) + 1
    branches[head] = number
    province = places.draw_province(rng)
    province_name = places.province_label(province).split(" ", 1)[1]
    manager = rng.choice(adults)
    registered = _random_date(rng, parent.registered_on, REFERENCE_DATE)
    return Business(
        tax_code=make_tax_code(head[:9], branch=number),
        name=f"Chi nhánh {parent.name} tại {province_name}",
        english_name=None,
        short_name=None,
        status=parent.status
        if parent.status is not BusinessStatus.ACTIVE
        else _weighted(rng, STATUSES),
        legal_form="Chi nhánh",
        registered_on=registered,
        head_office_address=places.street_address(rng, province),
        representatives=(
            Representative(
                citizen_id=manager.citizen_id,
                full_name=manager.full_name,
                position="Giám đốc chi nhánh",
            ),
        ),
    )


__all__ = [
    "ETHNICITIES",
    "REFERENCE_DATE",
    "TAX_PREFIXES",
    "SyntheticData",
    "ascii_upper",
    "is_adult",
]
