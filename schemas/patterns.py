"""The shapes of the identifiers, as anchored regular expressions: the one place they are written.

They are the OpenAPI ``pattern`` of a path or header parameter and the quick shape check of a
route's fast path; the full rules (region codes, check digits, real dates) are the validators of
``schemas.citizen_id``, ``schemas.tax_code`` and ``schemas.dossier_code``, which build on these
shapes too.
"""

from __future__ import annotations

#: an agency code in the national list (``000.00.04.H04``), unanchored (part of a dossier code)
AGENCY_CODE = r"[0-9]{3}\.[0-9]{2}\.[0-9]{2}\.[A-Z][0-9]{2}"

#: a citizen ID (CCCD): 12 digits
CITIZEN_ID_PATTERN = r"^[0-9]{12}$"
#: an official (``X-User-Id``): ``VN`` and the official's CCCD
OFFICIAL_PATTERN = r"^VN[0-9]{12}$"
#: a dossier code: agency code, receipt date ``YYMMDD``, daily serial
DOSSIER_CODE_PATTERN = rf"^{AGENCY_CODE}-[0-9]{{6}}-[0-9]{{4}}$"
#: a tax code (MST): 10 digits, and ``-NNN`` for a branch
TAX_CODE_PATTERN = r"^[0-9]{10}(-[0-9]{3})?$"

__all__ = [
    "AGENCY_CODE",
    "CITIZEN_ID_PATTERN",
    "DOSSIER_CODE_PATTERN",
    "OFFICIAL_PATTERN",
    "TAX_CODE_PATTERN",
]
