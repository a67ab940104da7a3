"""The region codes in digits 1–3 of a citizen ID (CCCD).

Provinces: the 63 province-level units as coded on CCCD cards (Circular 07/2016/TT-BCA, kept by
Circular 59/2021/TT-BCA), which are the General Statistics Office's province codes
(Decision 124/2004/QĐ-TTg) written with three digits. The 2025 merger into 34 provinces did not
renumber cards already issued, so this table stays the key to every ID in circulation; a new
table gets a new ``REGION_TABLE_VERSION``.

Countries (citizens born abroad): the circular's own annex of country codes is not reproduced
here. We use ISO 3166-1 numeric codes of the countries where most Vietnamese born abroad were
born, restricted to codes of 100 and above so that none collides with a province code (001–096).
Extend ``COUNTRY_CODES`` (and bump the version) when a real annex is adopted.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

REGION_TABLE_VERSION = "cccd-63-2016.1"

PROVINCE_CODES: Mapping[str, str] = MappingProxyType(
    {
        "001": "Hà Nội",
        "002": "Hà Giang",
        "004": "Cao Bằng",
        "006": "Bắc Kạn",
        "008": "Tuyên Quang",
        "010": "Lào Cai",
        "011": "Điện Biên",
        "012": "Lai Châu",
        "014": "Sơn La",
        "015": "Yên Bái",
        "017": "Hòa Bình",
        "019": "Thái Nguyên",
        "020": "Lạng Sơn",
        "022": "Quảng Ninh",
        "024": "Bắc Giang",
        "025": "Phú Thọ",
        "026": "Vĩnh Phúc",
        "027": "Bắc Ninh",
        "030": "Hải Dương",
        "031": "Hải Phòng",
        "033": "Hưng Yên",
        "034": "Thái Bình",
        "035": "Hà Nam",
        "036": "Nam Định",
        "037": "Ninh Bình",
        "038": "Thanh Hóa",
        "040": "Nghệ An",
        "042": "Hà Tĩnh",
        "044": "Quảng Bình",
        "045": "Quảng Trị",
        "046": "Thừa Thiên Huế",
        "048": "Đà Nẵng",
        "049": "Quảng Nam",
        "051": "Quảng Ngãi",
        "052": "Bình Định",
        "054": "Phú Yên",
        "056": "Khánh Hòa",
        "058": "Ninh Thuận",
        "060": "Bình Thuận",
        "062": "Kon Tum",
        "064": "Gia Lai",
        "066": "Đắk Lắk",
        "067": "Đắk Nông",
        "068": "Lâm Đồng",
        "070": "Bình Phước",
        "072": "Tây Ninh",
        "074": "Bình Dương",
        "075": "Đồng Nai",
        "077": "Bà Rịa - Vũng Tàu",
        "079": "Hồ Chí Minh",
        "080": "Long An",
        "082": "Tiền Giang",
        "083": "Bến Tre",
        "084": "Trà Vinh",
        "086": "Vĩnh Long",
        "087": "Đồng Tháp",
        "089": "An Giang",
        "091": "Kiên Giang",
        "092": "Cần Thơ",
        "093": "Hậu Giang",
        "094": "Sóc Trăng",
        "095": "Bạc Liêu",
        "096": "Cà Mau",
    }
)

#: ISO 3166-1 numeric code -> country (see the module docstring)
COUNTRY_CODES: Mapping[str, str] = MappingProxyType(
    {
        "116": "Cambodia",
        "124": "Canada",
        "156": "China",
        "158": "Taiwan",
        "203": "Czechia",
        "250": "France",
        "276": "Germany",
        "392": "Japan",
        "410": "Korea, Republic of",
        "418": "Lao People's Democratic Republic",
        "616": "Poland",
        "643": "Russian Federation",
        "702": "Singapore",
        "764": "Thailand",
        "826": "United Kingdom",
        "840": "United States",
    }
)


def region_name(code: str) -> str | None:
    """The province or country that ``code`` names, or None."""
    return PROVINCE_CODES.get(code) or COUNTRY_CODES.get(code)


def is_region_code(code: str) -> bool:
    """True when ``code`` is a known province or country code."""
    return code in PROVINCE_CODES or code in COUNTRY_CODES
