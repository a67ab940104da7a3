"""Quiet hours: no notice is sent between ``start`` and ``end`` (local time, Asia/Ho_Chi_Minh).

``QuietHours.parse("21:00-07:00")`` spans midnight; equal ends (``"00:00-00:00"``) or an empty
string mean no quiet hours. A notice due inside them waits until they end.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from push.errors import PushConfigError
from schemas.times import VN_TZ


@dataclass(frozen=True, slots=True)
class QuietHours:
    """The local times between which nothing is sent (``start`` included, ``end`` excluded)."""

    start: dt.time
    end: dt.time

    @classmethod
    def parse(cls, text: str) -> QuietHours:
        """``"HH:MM-HH:MM"``; ``PushConfigError`` when malformed."""
        if not text.strip():
            return cls(dt.time(0), dt.time(0))
        try:
            start, end = (dt.time.fromisoformat(part.strip()) for part in text.split("-"))
        except ValueError as exc:
            raise PushConfigError("quiet hours must read HH:MM-HH:MM") from exc
        return cls(start, end)

    @property
    def active(self) -> bool:
        """False when there are no quiet hours at all."""
        return self.start != self.end

    def resume_at(self, now: dt.datetime) -> dt.datetime | None:
        """When sending may resume if ``now`` is inside quiet hours; None when it is not."""
        if not self.active:
            return None
        local = now.astimezone(VN_TZ)
        clock = local.time().replace(tzinfo=None)
        if self.start < self.end:
            inside = self.start <= clock < self.end
        else:
            inside = clock >= self.start or clock < self.end
        if not inside:
            return None
        day = local.date() if clock < self.end else local.date() + dt.timedelta(days=1)
        return dt.datetime.combine(day, self.end, tzinfo=VN_TZ).astimezone(dt.UTC)


__all__ = ["QuietHours"]
