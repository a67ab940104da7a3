"""Hypothesis strategies for the canonical identifiers and records (``schemas``)."""

from __future__ import annotations

import unicodedata
from datetime import UTC, date, datetime, timedelta

from hypothesis import strategies as st

from schemas.citizen_id import Sex, make_citizen_id
from schemas.dossier_code import make_dossier_code
from schemas.models import Business, BusinessStatus, Citizen, Dossier, DossierEvent, Representative
from schemas.regions import COUNTRY_CODES, PROVINCE_CODES
from schemas.status import DossierStatus
from schemas.tax_code import make_tax_code, tax_check_digit
from schemas.times import VN_TZ

#: values a text may hold, hostile or not
TEXT_VALUES = (
    "An",
    "Nguyễn Thị An",
    " Nguyễn ",
    "\tAn\n",
    "\r\nAn\r\n",
    "An\r",
    "A\nn",
    "A\tn",
    "An\x00",
    "A\x07n",
    "An\x1c",
    "\x1fAn",
    "\x85An",
    "A\x7fn",
    "A\x9fn",
    "\xa0An\xa0",
    "\u2003An\u3000",
    "\u2028An",
    "An\u200b",
    "\u200b",
    "\u200b\u200c \u2060",
    "\ufeffAn",
    "A\u202en",
    "A\u2066n",
    "A\u200en",
    "A\u061cn",
    "\ufdd0An",
    "An\ufffe",
    "An\U0001fffe",
    "An\U0010ffff",
    "An\ud800",
    "Nguye\u0302\u0303n",  # decomposed: NFC composes it
    "e\u0301" * 300,
    "\u2126hm",  # NFC changes the ohm sign into omega
    "a" * 501,
    "",
    "   ",
    "\u3000",
    "\u180eAn",
    "😀 An",
    "Lê\u00a0Văn",
)

REGION_CODES = sorted({*PROVINCE_CODES, *COUNTRY_CODES})

region_codes = st.sampled_from(REGION_CODES)
sexes = st.sampled_from(list(Sex))
serials = st.integers(min_value=0, max_value=999_999)
birth_years = st.integers(min_value=1900, max_value=2399)

#: nine digits that have a check digit (those giving 10 are never issued)
issuable_first_nine = st.from_regex(r"\A[0-9]{9}\Z").filter(
    lambda s: tax_check_digit(s) is not None
)
branches = st.none() | st.integers(min_value=1, max_value=999)
tax_codes = st.builds(make_tax_code, issuable_first_nine, branches)
head_tax_codes = st.builds(make_tax_code, issuable_first_nine)

agency_codes = st.from_regex(r"\A[0-9]{3}\.[0-9]{2}\.[0-9]{2}\.[A-Z][0-9]{2}\Z")
receipt_dates = st.dates(min_value=date(2000, 1, 1), max_value=date(2099, 12, 31))
dossier_serials = st.integers(min_value=1, max_value=9999)
dossier_codes = st.builds(make_dossier_code, agency_codes, receipt_dates, dossier_serials)

#: non-blank clean text (NFC) without surrounding whitespace, safe in XML and JSON
text = (
    st.text(
        alphabet=st.characters(categories=("L", "N", "P", "Zs"), exclude_characters="\x85\xa0"),
        min_size=1,
        max_size=40,
    )
    .map(str.strip)
    .filter(bool)
    .filter(lambda s: unicodedata.normalize("NFC", s) == s)
)


@st.composite
def citizens(draw: st.DrawFn) -> Citizen:
    """A consistent citizen: the ID's birth year and sex agree with the record."""
    born = draw(st.dates(min_value=date(1900, 1, 1), max_value=date(2025, 12, 31)))
    sex = draw(sexes)
    citizen_id = make_citizen_id(draw(region_codes), born.year, sex, draw(serials))
    return Citizen(
        citizen_id=citizen_id,
        full_name=draw(text),
        date_of_birth=born,
        sex=sex,
        place_of_origin=draw(text),
        permanent_address=draw(text),
        current_address=draw(st.none() | text),
        nationality=draw(st.sampled_from(["VN", "LA", "KH"])),
        ethnicity=draw(st.none() | text),
    )


citizen_ids = st.builds(make_citizen_id, region_codes, birth_years, sexes, serials)

representatives = st.builds(
    Representative, citizen_id=citizen_ids, full_name=text, position=st.none() | text
)

businesses = st.builds(
    Business,
    tax_code=tax_codes,
    name=text,
    english_name=st.none() | text,
    short_name=st.none() | text,
    status=st.sampled_from(list(BusinessStatus)),
    legal_form=text,
    registered_on=st.dates(min_value=date(1990, 1, 1), max_value=date(2099, 12, 31)),
    head_office_address=text,
    representatives=st.lists(representatives, max_size=3).map(tuple),
)

#: aware instants with whole seconds (the portal's wire precision)
instants = st.datetimes(
    min_value=datetime(2000, 1, 2), max_value=datetime(2099, 9, 30), timezones=st.just(UTC)
).map(lambda dt: dt.replace(microsecond=0))


@st.composite
def dossiers(draw: st.DrawFn) -> Dossier:
    """A dossier whose code date is its receipt date in Vietnam time."""
    received_at = draw(instants)
    code = make_dossier_code(
        draw(agency_codes), received_at.astimezone(VN_TZ).date(), draw(dossier_serials)
    )
    later = st.integers(min_value=0, max_value=90 * 86_400).map(
        lambda s: received_at + timedelta(seconds=s)
    )
    return Dossier(
        code=code,
        procedure_code=draw(st.from_regex(r"\A[12]\.[0-9]{6}\Z")),
        agency_code=draw(agency_codes),
        sector_code=draw(st.from_regex(r"\A[A-Z][0-9]{2}-[A-Z]{2}[0-9]{2}\Z")),
        applicant_name=draw(text),
        applicant_id=draw(citizen_ids | tax_codes),
        status=draw(st.sampled_from(list(DossierStatus))),
        received_at=received_at,
        due_at=draw(st.none() | later),
        updated_at=draw(later),
        title=draw(text),
    )


dossier_events = st.builds(
    DossierEvent,
    dossier_code=dossier_codes,
    sequence=st.integers(min_value=1, max_value=10_000),
    status=st.sampled_from(list(DossierStatus)),
    occurred_at=instants,
    officer=st.none() | text,
    note=st.none() | text,
)
