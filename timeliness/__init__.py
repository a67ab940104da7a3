"""Timeliness: working-day due dates, the early / on time / late classes, the report, the apology.

The domain part (calendar, due dates, classes, the apology's text) depends on ``schemas`` only;
the report's SQL reads the store's tables.
"""

from __future__ import annotations

from timeliness.calendar import CLOSING_TIME, DEFAULT_CUTOFF, CalendarDay, WorkingCalendar

__all__ = ["CLOSING_TIME", "DEFAULT_CUTOFF", "CalendarDay", "WorkingCalendar"]
