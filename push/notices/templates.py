"""Notice templates: an editable TOML file, one table per event, checked at start.

Each event of ``store.push_writes.NoticeEvent`` needs a table with ``zns_template_id``,
``zns_data`` (parameter → text with ``{variables}``) and ``sms`` (plain ASCII, as brandname
messages are sent unaccented; the variables put into it are unaccented too). Every
``{variable}`` must be one the event provides (:data:`VARIABLES`); a missing event, an unknown
variable, a format error or a non-ASCII SMS text stops the start with ``PushConfigError`` naming
the event and the field. The shipped file is ``push/notices/templates.toml``.
"""

from __future__ import annotations

import string
import tomllib
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from push.errors import PushConfigError
from store.push_writes import NoticeEvent

DEFAULT_TEMPLATES = Path(__file__).with_name("templates.toml")

_COMMON = frozenset(
    {"dossier_code", "title", "agency_code", "status", "due_date", "applicant_name"}
)
#: the variables each event's texts may use
VARIABLES: Mapping[NoticeEvent, frozenset[str]] = {
    event: _COMMON | ({"new_due_date", "reason"} if event is NoticeEvent.APOLOGY else set())
    for event in NoticeEvent
}


@dataclass(frozen=True, slots=True)
class Rendered:
    """A notice ready to send: the ZNS template and its data, and the SMS text."""

    zns_template_id: str
    zns_data: dict[str, str]
    sms: str


@dataclass(frozen=True, slots=True)
class Template:
    """One event's texts."""

    event: NoticeEvent
    zns_template_id: str
    zns_data: Mapping[str, str]
    sms: str

    def render(self, variables: Mapping[str, str]) -> Rendered:
        """The texts with ``variables`` filled in (they were checked at load)."""
        return Rendered(
            self.zns_template_id,
            {name: text.format_map(variables) for name, text in self.zns_data.items()},
            self.sms.format_map({name: unaccent(value) for name, value in variables.items()}),
        )


def unaccent(text: str) -> str:
    """``text`` without Vietnamese diacritics (``Hồ sơ đã`` → ``Ho so da``), other letters dropped.

    Brandname SMS go out unaccented (``IsUnicode`` 0), so the variables put into them are too.
    """
    plain = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    stripped = "".join(c for c in plain if not unicodedata.combining(c))
    return stripped.encode("ascii", "ignore").decode("ascii")


def _fields(text: str, where: str) -> set[str]:
    try:
        return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}
    except ValueError as exc:
        raise PushConfigError(f"{where}: {exc}") from exc


def _template(event: NoticeEvent, table: Any) -> Template:
    where = f"templates [{event.value}]"
    if not isinstance(table, dict):
        raise PushConfigError(f"{where} is missing")
    template_id, data, sms = table.get("zns_template_id"), table.get("zns_data"), table.get("sms")
    if not isinstance(template_id, str) or not template_id:
        raise PushConfigError(f"{where}: zns_template_id must be a non-empty text")
    if not isinstance(data, dict) or not data or not all(isinstance(v, str) for v in data.values()):
        raise PushConfigError(f"{where}: zns_data must be a table of texts")
    if not isinstance(sms, str) or not sms:
        raise PushConfigError(f"{where}: sms must be a non-empty text")
    if not sms.isascii():
        raise PushConfigError(f"{where}: sms must be plain ASCII (brandname SMS are unaccented)")
    allowed = VARIABLES[event]
    for name, text in [*((f"zns_data.{k}", v) for k, v in data.items()), ("sms", sms)]:
        unknown = _fields(text, f"{where} {name}") - allowed
        if unknown:
            raise PushConfigError(f"{where} {name}: unknown variable(s) {sorted(unknown)}")
    unknown_keys = set(table) - {"zns_template_id", "zns_data", "sms"}
    if unknown_keys:
        raise PushConfigError(f"{where}: unknown field(s) {sorted(unknown_keys)}")
    return Template(event, template_id, dict(data), sms)


def load_templates(path: Path | None = None) -> dict[NoticeEvent, Template]:
    """Read and check the templates file (the shipped one when ``path`` is None)."""
    path = path or DEFAULT_TEMPLATES
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise PushConfigError(f"cannot read the notice templates {path}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise PushConfigError(f"the notice templates {path} are not valid TOML: {exc}") from exc
    unknown = set(raw) - {event.value for event in NoticeEvent}
    if unknown:
        raise PushConfigError(f"templates: unknown event(s) {sorted(unknown)}")
    return {event: _template(event, raw.get(event.value)) for event in NoticeEvent}


__all__ = ["DEFAULT_TEMPLATES", "VARIABLES", "Rendered", "Template", "load_templates", "unaccent"]
