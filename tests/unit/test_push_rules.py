"""The rules of notices that need no network: phones, quiet hours, templates, tracking ids."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from push.errors import InvalidPhone, PushConfigError
from push.notices.phones import normalise_phone
from push.notices.quiet_hours import QuietHours
from push.notices.templates import DEFAULT_TEMPLATES, load_templates, unaccent
from push.webhooks.urls import allowed, check_allow_list_entry
from schemas.times import VN_TZ
from store.push_writes import NoticeEvent, tracking_id


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("0912345678", "84912345678"),
        ("+84 912 345 678", "84912345678"),
        ("84-912-345-678", "84912345678"),
        ("(091) 234.5678", "84912345678"),
        ("84912345678", "84912345678"),
        ("+840912345678", "84912345678"),
        ("0387654321", "84387654321"),
    ],
)
def test_phones_are_normalised_to_84(raw: str, expected: str) -> None:
    """Every usual way of writing a Vietnamese mobile number becomes 84 + 9 digits."""
    assert normalise_phone(raw) == expected


@pytest.mark.parametrize(
    "raw",
    ["", "   ", "091234567", "09123456789", "+1 415 555 0100", "0212345678", "09l2345678", "abc"],
)
def test_bad_phones_are_refused_without_echoing_them(raw: str) -> None:
    """Too short or long, foreign, a landline prefix, letters: refused; the number is not shown."""
    with pytest.raises(InvalidPhone) as caught:
        normalise_phone(raw)
    if raw.strip():
        assert raw.strip() not in str(caught.value)


def _vn(hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, 12, 5, hour, minute, tzinfo=VN_TZ)


def test_quiet_hours_over_midnight_hold_notices_until_morning() -> None:
    """21:00–07:00: 23:30 and 06:59 wait until 07:00; 07:00 and 20:59 go at once."""
    quiet = QuietHours.parse("21:00-07:00")
    morning = dt.datetime(2026, 12, 6, 7, 0, tzinfo=VN_TZ)
    assert quiet.resume_at(_vn(23, 30)) == morning
    assert quiet.resume_at(_vn(21, 0)) == morning
    assert quiet.resume_at(_vn(6, 59)) == _vn(7, 0)
    assert quiet.resume_at(_vn(7, 0)) is None
    assert quiet.resume_at(_vn(20, 59)) is None
    assert QuietHours.parse("").resume_at(_vn(23, 30)) is None
    assert QuietHours.parse("12:00-13:00").resume_at(_vn(12, 30)) == _vn(13, 0)
    with pytest.raises(PushConfigError):
        QuietHours.parse("9pm to 7am")


def test_the_shipped_templates_cover_every_event_and_render() -> None:
    """Every event has a template; rendering fills every variable."""
    templates = load_templates()
    assert set(templates) == set(NoticeEvent)
    variables = {
        "dossier_code": "000.00.04.H04-261126-0001",
        "title": "Cấp phiếu lý lịch tư pháp",
        "agency_code": "000.00.04.H04",
        "status": "Được tiếp nhận",
        "due_date": "10/12/2026",
        "applicant_name": "Nguyễn Văn Thử",
        "new_due_date": "15/12/2026",
        "reason": "chờ xác minh",
    }
    rendered = templates[NoticeEvent.APOLOGY].render(variables)
    assert "15/12/2026" in rendered.sms
    assert rendered.zns_data["ngay_hen_moi"] == "15/12/2026"
    assert "{" not in rendered.sms
    assert rendered.sms.isascii()
    assert unaccent("Đã tiếp nhận hồ sơ Nguyễn") == "Da tiep nhan ho so Nguyen"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            ('sms = "Ho so {dossier_code} da co ket qua', 'sms = "Ho so {ho_ten} da co ket qua'),
            "ho_ten",
        ),
        (("[delivered]", "[delivered_x]"), "unknown event"),
        (("Ket qua ho so", "Kết quả hồ sơ"), "ASCII"),
        (('zns_template_id = "260104"', 'zns_template_id = ""'), "zns_template_id"),
        (('{new_due_date}."', '{new_due_date."'), "apology"),
    ],
)
def test_a_template_file_with_a_mistake_stops_the_start(
    tmp_path: Path, change: tuple[str, str], message: str
) -> None:
    """An unknown variable, event, accented SMS, empty id or broken brace is refused at load."""
    text = DEFAULT_TEMPLATES.read_text(encoding="utf-8")
    assert change[0] in text
    path = tmp_path / "templates.toml"
    path.write_text(text.replace(change[0], change[1], 1), encoding="utf-8")
    with pytest.raises(PushConfigError, match=message):
        load_templates(path)


def test_tracking_ids_name_one_event_once() -> None:
    """The same event gives the same id; another event or key another; no code inside."""
    code = "000.00.04.H04-261126-0001"
    first = tracking_id(code, NoticeEvent.ACCEPTED, "seq:1")
    assert first == tracking_id(code, NoticeEvent.ACCEPTED, "seq:1")
    assert first != tracking_id(code, NoticeEvent.ACCEPTED, "seq:2")
    assert first != tracking_id(code, NoticeEvent.FEES_DUE, "seq:1")
    assert code not in first
    assert len(first) == 32


def test_allow_list_entries_must_be_plain_http_urls() -> None:
    """User info, fragments and other schemes cannot be allow-listed; matching is exact."""
    assert check_allow_list_entry("https://hooks.example.vn/x") == "https://hooks.example.vn/x"
    for bad in ("ftp://h/x", "https://u:p@h/x", "https://h/x#f", "/relative", "file:///etc/passwd"):
        with pytest.raises(PushConfigError):
            check_allow_list_entry(bad)
    assert allowed("https://h/x", {"https://h/x"})
    assert not allowed("https://h/x/", {"https://h/x"})
    assert not allowed("HTTPS://h/x", {"https://h/x"})
