"""The dossier lifecycle: the National Public Service Portal's status codes 1–10 and their moves.

Transition table (a status change; ``check_transition`` enforces it)::

    1 submitted                 -> 2 accepted | 3 refused | 7 withdrawn
    2 accepted                  -> 4 processing | 5 more documents | 6 fees due | 7 | 8 stopped
    4 processing                -> 5 | 6 | 7 | 8 | 9 processed
    5 more documents requested  -> 4 (documents supplied) | 7 | 8
    6 fees due                  -> 4 (fees paid) | 7 | 8
    9 processed                 -> 10 result delivered
    3 refused, 7 withdrawn, 8 stopped, 10 result delivered: terminal

Choices beyond the portal's code list, made here:
- Staying in the same non-terminal status is a progress step (e.g. handed on between
  departments while processing), not a transition, and is allowed; a terminal status admits no
  further event, not even a repeat of itself.
- A processed dossier (9) can no longer be withdrawn or stopped: the result exists and only its
  delivery remains.
- A dossier enters the lifecycle as submitted (1, online) or accepted (2, received at the counter):
  ``INITIAL_STATUSES``.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import IntEnum
from types import MappingProxyType

from schemas.errors import IllegalTransition


class DossierStatus(IntEnum):
    """The portal's ``TrangThaiHoSo`` codes."""

    SUBMITTED = 1
    ACCEPTED = 2
    REFUSED = 3
    PROCESSING = 4
    MORE_DOCUMENTS_REQUESTED = 5
    FEES_DUE = 6
    WITHDRAWN = 7
    STOPPED = 8
    PROCESSED = 9
    RESULT_DELIVERED = 10

    @property
    def label(self) -> str:
        """The English name, lower case with spaces (``more documents requested``)."""
        return self.name.lower().replace("_", " ")

    @property
    def vietnamese(self) -> str:
        """The portal's Vietnamese name of the status."""
        return _VIETNAMESE[self]


_VIETNAMESE: Mapping[DossierStatus, str] = MappingProxyType(
    {
        DossierStatus.SUBMITTED: "Mới đăng ký",
        DossierStatus.ACCEPTED: "Được tiếp nhận",
        DossierStatus.REFUSED: "Không được tiếp nhận",
        DossierStatus.PROCESSING: "Đang xử lý",
        DossierStatus.MORE_DOCUMENTS_REQUESTED: "Yêu cầu bổ sung giấy tờ",
        DossierStatus.FEES_DUE: "Yêu cầu thực hiện nghĩa vụ tài chính",
        DossierStatus.WITHDRAWN: "Công dân yêu cầu rút hồ sơ",
        DossierStatus.STOPPED: "Dừng xử lý",
        DossierStatus.PROCESSED: "Đã xử lý xong",
        DossierStatus.RESULT_DELIVERED: "Đã trả kết quả",
    }
)

_S = DossierStatus

#: status -> the statuses it may change to (a status change; see the module docstring)
TRANSITIONS: Mapping[DossierStatus, frozenset[DossierStatus]] = MappingProxyType(
    {
        _S.SUBMITTED: frozenset({_S.ACCEPTED, _S.REFUSED, _S.WITHDRAWN}),
        _S.ACCEPTED: frozenset(
            {_S.PROCESSING, _S.MORE_DOCUMENTS_REQUESTED, _S.FEES_DUE, _S.WITHDRAWN, _S.STOPPED}
        ),
        _S.REFUSED: frozenset(),
        _S.PROCESSING: frozenset(
            {_S.MORE_DOCUMENTS_REQUESTED, _S.FEES_DUE, _S.WITHDRAWN, _S.STOPPED, _S.PROCESSED}
        ),
        _S.MORE_DOCUMENTS_REQUESTED: frozenset({_S.PROCESSING, _S.WITHDRAWN, _S.STOPPED}),
        _S.FEES_DUE: frozenset({_S.PROCESSING, _S.WITHDRAWN, _S.STOPPED}),
        _S.WITHDRAWN: frozenset(),
        _S.STOPPED: frozenset(),
        _S.PROCESSED: frozenset({_S.RESULT_DELIVERED}),
        _S.RESULT_DELIVERED: frozenset(),
    }
)

#: the statuses a dossier may be registered with
INITIAL_STATUSES: frozenset[DossierStatus] = frozenset({_S.SUBMITTED, _S.ACCEPTED})


def is_terminal(status: DossierStatus) -> bool:
    """True when no event may follow ``status``."""
    return not TRANSITIONS[DossierStatus(status)]


def can_transition(old: DossierStatus, new: DossierStatus) -> bool:
    """True when an event with status ``new`` may follow one with status ``old``."""
    old, new = DossierStatus(old), DossierStatus(new)
    if old == new:
        return not is_terminal(old)
    return new in TRANSITIONS[old]


def check_transition(old: DossierStatus, new: DossierStatus) -> None:
    """Return when ``old -> new`` is allowed; raise ``IllegalTransition`` naming both otherwise."""
    old, new = DossierStatus(old), DossierStatus(new)
    if not can_transition(old, new):
        raise IllegalTransition(old, new)
