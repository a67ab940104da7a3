"""Push: signed webhooks to ministries and result notices to citizens (Zalo ZNS, SMS brandname).

``push.webhooks`` delivers every dossier change of a subscriber's sectors to a URL of its
allow-list, signed (RFC 9421), in per-dossier order from a durable outbox; ``push.notices`` sends
the applicant a short Vietnamese notice when the dossier reaches a status that matters to them.
The write side (what is enqueued with each dossier change) lives in ``store.push_writes``.
"""

from __future__ import annotations
