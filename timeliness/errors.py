"""Errors of the timeliness package (working days, due dates, classes, the report, apologies).

TimelinessError                 anything this package refuses
├── CalendarError               the working-day calendar cannot answer
│   ├── InvalidOverrideFile     a yearly override file is malformed
│   └── InvalidCalendarArgument a date, count or year outside what the calendar accepts
├── InvalidReportQuery          a timeliness report asked with a bad range or grouping
└── ApologyError                an apology cannot be drafted, found or confirmed
    ├── ApologyNotFound         no apology with that id (for that dossier)
    └── ApologyAlreadyDecided   the apology was already confirmed
"""

from __future__ import annotations


class TimelinessError(Exception):
    """Base of every error this package raises; ``code`` is the stable problem code."""

    code = "timeliness_error"


class CalendarError(TimelinessError):
    """The working-day calendar cannot answer the question asked."""

    code = "calendar_error"


class InvalidOverrideFile(CalendarError):
    """A yearly override file (``calendar_overrides/YEAR.toml``) is malformed."""

    code = "invalid_calendar_override"

    def __init__(self, message: str, *, path: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path


class InvalidCalendarArgument(CalendarError):
    """A date, a count of days or a year the calendar does not accept (negative, out of range)."""

    code = "invalid_calendar_argument"


class InvalidReportQuery(TimelinessError):
    """The timeliness report was asked with a bad range or grouping; ``field`` names which."""

    code = "invalid_report_query"

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


class ApologyError(TimelinessError):
    """An apology cannot be drafted, found or confirmed."""

    code = "apology_error"


class ApologyNotFound(ApologyError):
    """No apology with that id belongs to that dossier."""

    code = "apology_not_found"


class ApologyAlreadyDecided(ApologyError):
    """The apology was confirmed already; a confirmed apology is not confirmed twice."""

    code = "apology_already_confirmed"


class InvalidAppointment(ApologyError):
    """The new appointment date is not after the original due date (or not in the future)."""

    code = "invalid_appointment"
