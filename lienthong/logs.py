"""Log lines an operator can use: the fields the code passes reach the output, as text or JSON.

The connectors, the sync worker and the API pass what a line is about as ``extra`` fields
(``upstream``, ``operation``, ``outcome``, ``duration_ms``, ``dossier_code``, ``message_id`` …);
the request id comes from the request's context. Both formats carry exactly the fields named in
:data:`FIELDS` and nothing else a record may hold, so a field that could carry personal data
(an official's id, a name) is never written even if some code passes it:

* ``text``: ``2026-12-05T09:00:00+0000 WARNING lienthong.sync [req-1] dead letter
  dossier_code=000.00.04.H04-261126-0007 outcome=INVALID`` — the message, then ``key=value``;
* ``json``: one object per line with ``time``, ``level``, ``logger``, ``message`` and the fields.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Literal, TextIO

from adapter_api.request_id import RequestIdLogFilter

#: the ``extra`` fields written out, in this order; anything else a record holds is left out
FIELDS: tuple[str, ...] = (
    "request_id",
    "worker",
    "upstream",
    "operation",
    "outcome",
    "status",
    "attempt",
    "duration_ms",
    "dossier_code",
    "message_id",
    "client",
    "item_id",
    "attempts",
)

LogFormat = Literal["text", "json"]


def _time(record: logging.LogRecord) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(record.created))


def _fields(record: logging.LogRecord) -> dict[str, object]:
    found: dict[str, object] = {}
    for name in FIELDS:
        value = getattr(record, name, None)
        if value is not None and value != "-":
            found[name] = value
    return found


class TextFormatter(logging.Formatter):
    """``time LEVEL logger [request id] message key=value …`` on one line."""

    def format(self, record: logging.LogRecord) -> str:
        fields = _fields(record)
        request_id = fields.pop("request_id", "-")
        line = (
            f"{_time(record)} {record.levelname} {record.name} [{request_id}] {record.getMessage()}"
        )
        if fields:
            line += " " + " ".join(f"{name}={value}" for name, value in fields.items())
        if record.exc_info and record.exc_info[0] is not None:
            # the exception's type only: its text may hold a payload
            line += f" error={record.exc_info[0].__name__}"
        return line


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``time``, ``level``, ``logger``, ``message`` and the fields."""

    def format(self, record: logging.LogRecord) -> str:
        document: dict[str, object] = {
            "time": _time(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        document.update(_fields(record))
        if record.exc_info and record.exc_info[0] is not None:
            document["error"] = record.exc_info[0].__name__
        return json.dumps(document, ensure_ascii=False, default=str)


class _Handler(logging.StreamHandler):  # type: ignore[type-arg]
    """The handler :func:`configure_logging` installs (found again to be replaced).

    It writes to whatever ``sys.stderr`` is when a line is logged (unless given a stream), so a
    command run inside another program (a test runner swapping stderr) does not keep a stream
    that is closed afterwards.
    """

    _fixed: TextIO | None = None

    @property
    def stream(self) -> TextIO:
        return self._fixed if self._fixed is not None else sys.stderr

    @stream.setter
    def stream(self, value: TextIO | None) -> None:
        self._fixed = None if value is sys.stderr else value


def configure_logging(level: str, fmt: LogFormat = "text", *, worker: int | None = None) -> None:
    """Log to stderr in ``fmt`` from ``level`` up; replaces what an earlier call installed."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, _Handler):
            root.removeHandler(handler)
    handler = _Handler()
    handler.addFilter(RequestIdLogFilter())
    if worker is not None:
        handler.addFilter(_WorkerFilter(worker))
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root.addHandler(handler)
    root.setLevel(level.upper())
    # the migrations' own chatter ("Context impl SQLiteImpl") is not for operators
    logging.getLogger("alembic").setLevel(max(root.level, logging.WARNING))


class _WorkerFilter(logging.Filter):
    def __init__(self, worker: int) -> None:
        super().__init__()
        self._worker = worker

    def filter(self, record: logging.LogRecord) -> bool:
        record.worker = self._worker
        return True


__all__ = ["FIELDS", "JsonFormatter", "LogFormat", "TextFormatter", "configure_logging"]
