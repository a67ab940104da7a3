"""Errors raised by ``watches``.

Tree::

    WatchesError            base of every error the watches package raises itself
    └── SourceFileError     a watch-list or bulk-verify file that cannot be read as a whole
                            (encoding, missing columns, not CSV or JSON); bad rows are reported

A refresh does not raise on an upstream failure: it counts it in its report and retries the
record on the next pass (``connectors.errors``: ``TransientError`` / ``PermanentError``). A watch
refused by policy is a ``watches.registration.Refusal`` value, not an exception.
"""

from __future__ import annotations


class WatchesError(Exception):
    """Base of every error raised by the watches package."""


class SourceFileError(WatchesError):
    """Raised when a watch-list or bulk-verify file cannot be read as a whole."""


__all__ = ["SourceFileError", "WatchesError"]
