"""What the upstream answered, read from a stored response for people (bundle README, CLI).

The record's ``outcome`` is the answer's stable code (``ok``, the portal's ``NOT_FOUND``, the
registry's ``INVALID_TOKEN``, a SOAP fault's ``CITIZEN_NOT_FOUND``); this reads the code and the
message the upstream gave with it: the portal's ``error_code`` and ``message``, the registry
gateway's ``Code`` and ``Message`` (OAuth2's ``error`` and ``error_description``), a SOAP fault's
``faultcode`` and ``faultstring``. Only what the bundle already holds is read.
"""

from __future__ import annotations

import json

from lxml import etree

from security.xml import parse_xml
from store.message_log.signers import STORED_LIMITS

_PAIRS = (("error_code", "message"), ("Code", "Message"), ("error", "error_description"))
_MAX = 200


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _MAX else text[: _MAX - 1] + "…"


def describe_answer(protocol: str, body: bytes | None) -> str | None:
    """``error_code 2 "…"`` / ``Code NOT_FOUND "…"`` / ``soap fault Client CITIZEN_NOT_FOUND "…"``
    for an answer that carries one; ``None`` otherwise."""
    if not body:
        return None
    if protocol == "soap":
        return _soap(body)
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(payload, dict):
        return None
    for code_key, message_key in _PAIRS:
        if code_key in payload:
            code, message = payload.get(code_key), payload.get(message_key)
            text = f"{code_key} {code}"
            if isinstance(message, str) and message:
                text += f' "{_short(message)}"'
            return text
    return None


def _soap(body: bytes) -> str | None:
    try:
        root = parse_xml(body, STORED_LIMITS)
    except Exception:
        return None
    for element in root.iter():
        if isinstance(element.tag, str) and etree.QName(element).localname == "Fault":
            parts: dict[str, str] = {}
            for child in element.iter():
                if isinstance(child.tag, str) and child is not element:
                    name = etree.QName(child).localname
                    if name not in parts and (child.text or "").strip():
                        parts[name] = (child.text or "").strip()
            text = "soap fault " + parts.get("faultcode", "?")
            if "code" in parts:
                text += " " + parts["code"]
            if "faultstring" in parts:
                text += f' "{_short(parts["faultstring"])}"'
            return text
    return None


__all__ = ["describe_answer"]
