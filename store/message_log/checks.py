"""One step of checking an evidence bundle by hand."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Check:
    """One command an auditor runs inside the unpacked bundle, and what it shows."""

    what: str
    argv: tuple[str, ...]


__all__ = ["Check"]
