"""The dossier batch writer: many dossier writes checked and written in one transaction (SQL).

``record_writes`` takes a batch of writes — ``PutDossier`` (register or update a dossier) and
``PostEvent`` (a status change or progress step) — and applies them in order inside the caller's
transaction. Each write is checked against its dossier as the writes before it in the batch left
it, by the rules of ``schemas.dossier_rules`` (initial status, next sequence or replay, time,
transition), so a batch gives exactly what the same writes one transaction each would have given.
A write that is refused gets its own error (``IllegalTransition``, ``SequenceConflict``,
``DossierNotFound``, ``InvalidInitialStatus``, ``EventBeforeReceipt``, ``EventOutOfOrder``) in its
place in the result list and changes nothing; the others go ahead. The events and their outbox
deliveries are written in the same transaction (the transactional outbox): they commit together
or not at all. The outbox rows are written by their one owner, ``store.outbox.enqueue_many``.

The statements, whatever the batch size (executemany where rows are many):

1. lock the batch's dossier rows in code order (``FOR UPDATE`` on PostgreSQL, ``= ANY`` of one
   array so the statement is prepared once; on SQLite the ``BEGIN IMMEDIATE`` of ``store.db``
   already made this the only writer) — the same lock and order as the worker's ``settle``, so
   neither can deadlock the other;
2. only when a write may be a client's retry (a sequence already used): read those events;
3. insert the new dossiers (``ON CONFLICT DO NOTHING``: one created meanwhile by another process
   is locked and its writes checked again);
4. the events; 5. the webhook changes and notices (``store.push_writes``); 6. the outbox items,
   ids in the order of the writes so that a dossier's deliveries keep their order, and the heads
   of dossiers that had none (``store.outbox.enqueue_many``);
7. the feed positions, last: on PostgreSQL one ``UPDATE`` of the ``counters`` row takes one per
   changed dossier and reads the store time (``clock_timestamp()``) under its lock, held until
   commit, so positions become visible in order; on SQLite (one writer) the highest plus one;
8. the changed dossiers' rows.

Event times never go back: an event (posted, or made by a status change in a ``PutDossier``)
before the dossier's receipt or before its previous event is refused. A dossier's row records
its newest event's time (``last_event_at``) and when it moved to a terminal status
(``closed_at``, the store time of that write: purpose binding counts its grace period from it).

A dossier changed several times in a batch gets one feed position (its last state is what the
feed shows); the records returned for its writes all carry it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import bindparam, func, insert, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from schemas.dossier_rules import (
    SequenceCheck,
    TimeRefusal,
    apply_event,
    check_sequence,
    closes,
    may_register,
    next_sequence,
    sequence_used,
    status_change_event,
    time_refusal,
)
from schemas.errors import SchemaError
from schemas.models import Dossier, DossierEvent
from schemas.status import DossierStatus
from schemas.text import STORED
from schemas.times import utc_now
from store.db import insert_ignoring
from store.deadline_rules import (
    DeadlineFacts,
    DeadlineRules,
    advance,
    facts_columns,
    facts_from_row,
)
from store.errors import (
    DossierNotFound,
    EventBeforeReceipt,
    EventOutOfOrder,
    EventTimeConflict,
    InvalidInitialStatus,
    SequenceConflict,
    StoreError,
)
from store.outbox import DeliveryKind, NewDelivery, any_of, enqueue_many
from store.push_writes import (
    NOTICE_STATUSES,
    NoticeEvent,
    NoticeRequest,
    PushChange,
    enqueue_changes,
)
from store.tables.dossiers import FEED_COUNTER, counters, dossier_events, dossiers
from store.types import UtcDateTime

#: attempts at a batch whose new dossiers another process created at the same moment
_CREATE_ATTEMPTS = 5

#: the store's error for each time rule a write breaks
_TIME_ERRORS: dict[TimeRefusal, Callable[[str], EventTimeConflict]] = {
    TimeRefusal.BEFORE_RECEIPT: EventBeforeReceipt,
    TimeRefusal.OUT_OF_ORDER: EventOutOfOrder,
}


@dataclass(frozen=True, slots=True)
class DossierRecord:
    """A stored dossier: the dossier itself and the store's bookkeeping about it.

    ``stored_at`` is when the store last changed it (the feed's ``updated_since`` compares with
    it); ``change_seq`` its position in the feed; ``last_sequence`` its newest event's sequence.
    """

    dossier: Dossier
    created_at: dt.datetime
    stored_at: dt.datetime
    change_seq: int
    last_sequence: int
    #: the timeliness columns (``store.deadline_rules``)
    deadline: DeadlineFacts = field(default_factory=DeadlineFacts)


@dataclass(frozen=True, slots=True)
class DossierWrite:
    """What a ``PutDossier`` did: ``created`` a new dossier, or ``changed`` a stored one.

    Neither (an identical dossier sent again) means nothing was written or enqueued.
    """

    record: DossierRecord
    created: bool
    changed: bool
    #: what the caller should know though the write went ahead (a contradicting due date)
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class EventWrite:
    """What a ``PostEvent`` did; ``replayed`` when this very event was already stored."""

    event: DossierEvent
    record: DossierRecord
    replayed: bool


@dataclass(frozen=True, slots=True)
class PutDossier:
    """Register ``dossier`` or update the stored one.

    ``sectors`` are the writer's sectors when it is limited to some: a stored dossier outside
    them is answered ``DossierNotFound``, as if it did not exist.
    """

    dossier: Dossier
    sectors: Collection[str] | None = None
    #: a new appointment date agreed with the applicant (a confirmed apology): its due date is
    #: not checked against the procedure's, and the pauses before it are part of it
    new_appointment: bool = False

    @property
    def code(self) -> str:
        """The dossier written."""
        return self.dossier.code


@dataclass(frozen=True, slots=True)
class PostEvent:
    """Append ``event`` to its dossier (``assign_sequence``: whatever sequence it carries)."""

    event: DossierEvent
    sectors: Collection[str] | None = None
    assign_sequence: bool = False

    @property
    def code(self) -> str:
        """The dossier written."""
        return self.event.dossier_code


Write = PutDossier | PostEvent
#: a write's result: what it did, or the error that refused it (nothing of it written)
WriteResult = DossierWrite | EventWrite | StoreError | SchemaError

_Delivery = tuple[DeliveryKind, dict[str, Any], str]


@dataclass
class _Dossier:
    """One dossier through a batch: as stored, as the batch's writes leave it, what they add."""

    code: str
    stored: bool
    dossier: Dossier | None
    sector: str | None
    last_sequence: int
    created_at: dt.datetime
    stored_at: dt.datetime
    change_seq: int
    now: dt.datetime
    closed_at: dt.datetime | None = None
    last_event_at: dt.datetime | None = None
    facts: DeadlineFacts = field(default_factory=DeadlineFacts)
    created: bool = False
    changed: bool = False
    events: list[tuple[DossierEvent, DossierStatus]] = field(default_factory=list)
    deliveries: list[_Delivery] = field(default_factory=list)
    #: notices to the applicant that the batch's writes call for
    notices: list[NoticeRequest] = field(default_factory=list)
    #: each new event's JSON, by sequence
    payloads: dict[int, dict[str, Any]] = field(default_factory=dict)
    #: (index in the batch, what to answer once positions are known)
    answers: list[tuple[int, Any]] = field(default_factory=list)

    @classmethod
    def from_row(cls, code: str, row: Any, now: dt.datetime) -> _Dossier:
        if row is None:
            return cls(code, False, None, None, 0, now, now, 0, now)
        return cls(
            code,
            True,
            Dossier.model_validate(row.payload, context=STORED),
            row.sector,
            int(row.last_sequence),
            row.created_at,
            row.updated_at,
            int(row.change_seq or 0),
            now,
            row.closed_at,
            row.last_event_at,
            facts_from_row(row),
        )

    def visible_to(self, sectors: Collection[str] | None) -> bool:
        return sectors is None or (self.sector is not None and self.sector in sectors)

    def check_time(self, event: DossierEvent) -> None:
        """Refuse an event that goes back in time (``schemas.dossier_rules.time_refusal``)."""
        assert self.dossier is not None
        refusal = time_refusal(event.occurred_at, self.dossier.received_at, self.last_event_at)
        if refusal is not None:
            raise _TIME_ERRORS[refusal](self.code)

    def append(self, event: DossierEvent, previous: DossierStatus) -> None:
        """Record ``event`` (checked) as the dossier's newest; a terminal one closes it."""
        self.last_sequence = event.sequence
        self.last_event_at = event.occurred_at
        if closes(event.status) and self.closed_at is None:
            self.closed_at = self.now
        self.events.append((event, previous))
        self.deliveries.append(_event_delivery(self, event))


async def record_writes(
    bind: AsyncSession | AsyncConnection,
    writes: Sequence[Write],
    *,
    now: dt.datetime | None = None,
    rules: DeadlineRules | None = None,
) -> list[WriteResult]:
    """Apply ``writes`` in order in the caller's transaction; one result (or error) per write.

    ``now`` times the events and deliveries and, when given, is also the store time of the
    changed dossiers (tests); otherwise the store time is read once the feed position is taken.
    Database errors are raised (the caller rolls the whole batch back). ``rules`` compute due
    dates and count paused working days (``store.deadline_rules``).
    """
    if not writes:
        return []
    connection = await bind.connection() if isinstance(bind, AsyncSession) else bind
    stamp, now = now, now or utc_now()
    results: list[WriteResult | None] = [None] * len(writes)
    by_code: dict[str, list[int]] = {}
    for index, write in enumerate(writes):
        by_code.setdefault(write.code, []).append(index)
    planned: dict[str, _Dossier] = {}
    codes = sorted(by_code)
    for _ in range(_CREATE_ATTEMPTS):
        rows = await _lock(connection, codes)
        states = {code: _Dossier.from_row(code, rows.get(code), now) for code in codes}
        stored_events = await _events_to_compare(connection, writes, by_code, states)
        for code, state in states.items():
            _plan(state, [(i, writes[i]) for i in by_code[code]], stored_events, results, rules)
        new = [state for state in states.values() if state.created]
        taken = await _insert_new(connection, new, now)
        planned |= {code: state for code, state in states.items() if code not in taken}
        codes = sorted(taken)  # created by another writer since the lock: check them again
        if not codes:
            break
        for code in codes:
            for index in by_code[code]:
                results[index] = None
    else:
        raise RuntimeError("dossiers kept being created by other writers; batch abandoned")
    changed = [state for state in planned.values() if state.changed]
    await _write(connection, changed, now)
    positions, stored_at = await _positions(connection, len(changed), stamp)
    for state, position in zip(changed, positions, strict=True):
        state.change_seq, state.stored_at = position, stored_at
    await _update_dossiers(connection, changed)
    for state in planned.values():
        for index, answer in state.answers:
            results[index] = _answer(state, answer)
    assert all(result is not None for result in results)
    return results  # type: ignore[return-value]


# --- checking ----------------------------------------------------------------------------------


def _plan(
    state: _Dossier,
    writes: list[tuple[int, Write]],
    stored_events: dict[tuple[str, int], DossierEvent],
    results: list[WriteResult | None],
    rules: DeadlineRules | None,
) -> None:
    """Check ``writes`` of one dossier in order against ``state``, moving it as they go."""
    for index, write in writes:
        try:
            if isinstance(write, PutDossier):
                state.answers.append((index, _put(state, write, rules)))
            else:
                state.answers.append((index, _post(state, write, stored_events, rules)))
        except (StoreError, SchemaError) as exc:
            results[index] = exc


def _due(
    dossier: Dossier, current: Dossier | None, check: bool, rules: DeadlineRules | None
) -> tuple[Dossier, str | None]:
    """``dossier`` with its due date filled in when it carries none (the stored one, else the
    one its procedure gives), and a warning when the one it carries contradicts its procedure."""
    if dossier.due_at is None:
        if current is not None and current.due_at is not None:
            return dossier.model_copy(update={"due_at": current.due_at}), None
        if rules is None:
            return dossier, None
        computed, _ = rules.prepare(dossier)
        return dossier.model_copy(update={"due_at": computed}), None
    if rules is None or not check or (current is not None and current.due_at == dossier.due_at):
        return dossier, None
    return dossier, rules.prepare(dossier)[1]


def _put(
    state: _Dossier, write: PutDossier, rules: DeadlineRules | None
) -> tuple[str, Dossier, int, str | None]:
    dossier, warning = _due(write.dossier, state.dossier, not write.new_appointment, rules)
    if write.new_appointment:
        state.facts = replace(state.facts, paused_working_days=0)
    if state.dossier is None:
        if not may_register(dossier.status):
            raise InvalidInitialStatus(dossier.code, int(dossier.status))
        state.dossier, state.sector, state.created, state.changed = (
            dossier,
            dossier.sector_code,
            True,
            True,
        )
        state.facts = advance(
            DeadlineFacts(), dossier, None, dossier.updated_at, rules, warning=warning
        )
        state.deliveries.append(_dossier_delivery(dossier, state.now))
        if dossier.status is DossierStatus.ACCEPTED:
            state.notices.append(NoticeRequest(dossier.code, NoticeEvent.ACCEPTED, "created"))
        return ("created", dossier, 0, warning)
    if state.stored and not state.visible_to(write.sectors):
        raise DossierNotFound(dossier.code)
    current = state.dossier
    if current == dossier:
        return ("same", dossier, state.last_sequence, None)
    event = status_change_event(current, dossier, state.last_sequence)
    if event is not None:
        state.check_time(event)
        state.append(event, current.status)
        _notice(state, event, current.status)
    state.dossier, state.sector, state.changed = dossier, dossier.sector_code, True
    state.facts = advance(
        state.facts, dossier, current.status, dossier.updated_at, rules, warning=warning
    )
    state.deliveries.append(_dossier_delivery(dossier, state.now))
    return ("updated", dossier, state.last_sequence, warning)


def _post(
    state: _Dossier,
    write: PostEvent,
    stored_events: dict[tuple[str, int], DossierEvent],
    rules: DeadlineRules | None,
) -> tuple[str, DossierEvent, Dossier, int]:
    event = write.event
    if state.dossier is None or (state.stored and not state.visible_to(write.sectors)):
        raise DossierNotFound(event.dossier_code)
    expected = next_sequence(state.last_sequence)
    if write.assign_sequence:
        event = event.model_copy(update={"sequence": expected})
    else:
        earlier = None
        if sequence_used(event.sequence, state.last_sequence):
            earlier = stored_events.get((event.dossier_code, event.sequence))
            if earlier is None:
                earlier = next((e for e, _ in state.events if e.sequence == event.sequence), None)
        verdict = check_sequence(event, state.last_sequence, earlier)
        if verdict is SequenceCheck.REPLAY:
            return ("replayed", event, state.dossier, state.last_sequence)
        if verdict is SequenceCheck.CONFLICT:
            raise SequenceConflict(event.dossier_code, expected=expected, given=event.sequence)
    current = state.dossier
    moved = apply_event(current, event)  # the lifecycle's move first, then the time
    state.check_time(event)
    state.dossier, state.changed = moved, True
    state.facts = advance(state.facts, moved, current.status, event.occurred_at, rules)
    state.append(event, current.status)
    _notice(state, event, current.status)
    return ("appended", event, moved, event.sequence)


def _notice(state: _Dossier, event: DossierEvent, previous: DossierStatus) -> None:
    """Queue the applicant's notice when ``event`` moves the dossier into a status that matters."""
    kind = NOTICE_STATUSES.get(event.status)
    if kind is not None and event.status != previous:
        key = f"seq:{event.sequence}"
        state.notices.append(NoticeRequest(state.code, kind, key, sequence=event.sequence))


def _answer(state: _Dossier, answer: Any) -> WriteResult:
    """A planned write's result, now that the dossier's feed position and store time are known."""
    kind = answer[0]
    if kind in ("created", "same", "updated"):
        _, dossier, last_sequence, warning = answer
        record = DossierRecord(
            dossier, state.created_at, state.stored_at, state.change_seq, last_sequence, state.facts
        )
        return DossierWrite(
            record,
            created=kind == "created",
            changed=kind != "same",
            warnings=(warning,) if warning else (),
        )
    _, event, dossier, last_sequence = answer
    record = DossierRecord(
        dossier, state.created_at, state.stored_at, state.change_seq, last_sequence, state.facts
    )
    return EventWrite(event, record, replayed=kind == "replayed")


def _json(model: Dossier | DossierEvent) -> dict[str, Any]:
    return model.model_dump(mode="json")


def _event_delivery(state: _Dossier, event: DossierEvent) -> _Delivery:
    payload = state.payloads[event.sequence] = _json(event)  # the event row's too
    return DeliveryKind.PUSH_PROGRESS, payload, event.idempotency_key


def _dossier_delivery(dossier: Dossier, now: dt.datetime) -> _Delivery:
    return DeliveryKind.SYNC_DOSSIER, _json(dossier), f"{dossier.code}@{now.isoformat()}"


# --- statements --------------------------------------------------------------------------------


def _is_postgres(connection: AsyncConnection) -> bool:
    return connection.dialect.name == "postgresql"


_LOCK = {
    postgres: select(dossiers)
    .where(any_of(dossiers.c.code, "codes", postgres=postgres))
    .order_by(dossiers.c.code)
    .with_for_update()
    for postgres in (True, False)
}


async def _lock(connection: AsyncConnection, codes: list[str]) -> dict[str, Any]:
    """The stored rows of ``codes``, locked (in code order) until the transaction ends."""
    result = await connection.execute(_LOCK[_is_postgres(connection)], {"codes": codes})
    return {row.code: row for row in result}


async def _events_to_compare(
    connection: AsyncConnection,
    writes: Sequence[Write],
    by_code: dict[str, list[int]],
    states: dict[str, _Dossier],
) -> dict[tuple[str, int], DossierEvent]:
    """Stored events that posted ones may repeat (a sequence already used): usually none."""
    wanted: set[tuple[str, int]] = set()
    for code, state in states.items():
        for index in by_code[code]:
            write = writes[index]
            if (
                isinstance(write, PostEvent)
                and not write.assign_sequence
                and sequence_used(write.event.sequence, state.last_sequence)
            ):
                wanted.add((code, write.event.sequence))
    if not wanted:
        return {}
    rows = await connection.execute(
        select(
            dossier_events.c.dossier_code, dossier_events.c.sequence, dossier_events.c.payload
        ).where(
            tuple_(dossier_events.c.dossier_code, dossier_events.c.sequence).in_(sorted(wanted))
        )
    )
    return {
        (row.dossier_code, int(row.sequence)): DossierEvent.model_validate(
            row.payload, context=STORED
        )
        for row in rows
    }


_INSERT_DOSSIERS = {
    postgres: statement.returning(dossiers.c.code)
    for postgres, statement in insert_ignoring(dossiers, ["code"]).items()
}


async def _insert_new(
    connection: AsyncConnection, new: list[_Dossier], now: dt.datetime
) -> set[str]:
    """Insert the batch's new dossiers; the codes some other writer created first."""
    if not new:
        return set()
    rows = [
        {
            "code": state.code,
            "sector": state.sector,
            "status": int(state.dossier.status),
            "payload": _json(state.dossier),
            "last_sequence": 0,
            "on_portal": False,
            "created_at": now,
            "updated_at": now,
            "change_seq": None,
            "closed_at": None,
            "last_event_at": None,
            "procedure_code": state.dossier.procedure_code,
            "agency_code": state.dossier.agency_code,
            **facts_columns(state.facts),
        }
        for state in new
        if state.dossier is not None
    ]
    result = await connection.execute(_INSERT_DOSSIERS[_is_postgres(connection)], rows)
    inserted = {row.code for row in result}
    return {state.code for state in new} - inserted


_INSERT_EVENTS = insert(dossier_events)


async def _write(connection: AsyncConnection, changed: list[_Dossier], now: dt.datetime) -> None:
    """The events, then the deliveries in order (``store.outbox.enqueue_many``: ids in the order
    of the writes, a head for each dossier that had none), then the webhook changes and notices."""
    events = [
        {
            "dossier_code": state.code,
            "sequence": event.sequence,
            "status": int(event.status),
            "previous_status": int(previous),
            "occurred_at": event.occurred_at,
            "recorded_at": now,
            "payload": state.payloads[event.sequence],
        }
        for state in changed
        for event, previous in state.events
    ]
    if events:
        await connection.execute(_INSERT_EVENTS, events)
    await enqueue_changes(
        connection,
        [change for state in changed for change in _push_changes(state)],
        [notice for state in changed for notice in state.notices],
        now,
    )
    await enqueue_many(
        connection,
        [
            NewDelivery(state.code, kind, payload, key)
            for state in changed
            for kind, payload, key in state.deliveries
        ],
        now=now,
    )


_PUSH_TYPES = {
    DeliveryKind.SYNC_DOSSIER: ("dossier.changed", "dossier"),
    DeliveryKind.PUSH_PROGRESS: ("dossier.event", "event"),
}


def _push_changes(state: _Dossier) -> list[PushChange]:
    """The dossier's changes in this batch, in order, as webhook subscribers receive them."""
    changes = []
    for kind, payload, _ in state.deliveries:
        event_type, field_name = _PUSH_TYPES[kind]
        body = {"dossier_code": state.code, "sector": state.sector, field_name: payload}
        changes.append(PushChange(state.code, state.sector, event_type, body))
    return changes


_TAKE_POSITIONS = (
    update(counters)
    .where(counters.c.name == FEED_COUNTER)
    .values(value=counters.c.value + bindparam("count"))
    .returning(counters.c.value, func.clock_timestamp().label("now"))
)
_HIGHEST_POSITION = select(func.coalesce(func.max(dossiers.c.change_seq), 0))


async def _positions(
    connection: AsyncConnection, count: int, stamp: dt.datetime | None
) -> tuple[list[int], dt.datetime]:
    """``count`` new feed positions, in order, and the store time that goes with them."""
    if not count:
        return [], stamp or utc_now()
    if _is_postgres(connection):
        row = (await connection.execute(_TAKE_POSITIONS, {"count": count})).one()
        last, stored_at = int(row.value), stamp or row.now.astimezone(dt.UTC)
    else:  # one writer at a time (BEGIN IMMEDIATE): the highest position plus one
        last = int(await connection.scalar(_HIGHEST_POSITION) or 0) + count
        stored_at = stamp or utc_now()
    return list(range(last - count + 1, last + 1)), stored_at


_UPDATE_DOSSIERS = (
    update(dossiers)
    .where(dossiers.c.code == bindparam("b_code"))
    .values(
        sector=bindparam("b_sector"),
        status=bindparam("b_status"),
        payload=bindparam("b_payload"),
        last_sequence=bindparam("b_last_sequence"),
        change_seq=bindparam("b_change_seq"),
        updated_at=bindparam("b_updated_at", type_=UtcDateTime()),
        closed_at=bindparam("b_closed_at", type_=UtcDateTime()),
        last_event_at=bindparam("b_last_event_at", type_=UtcDateTime()),
        procedure_code=bindparam("b_procedure_code"),
        agency_code=bindparam("b_agency_code"),
        received_at=bindparam("b_received_at", type_=UtcDateTime()),
        due_at=bindparam("b_due_at", type_=UtcDateTime()),
        resolved_at=bindparam("b_resolved_at", type_=UtcDateTime()),
        paused_since=bindparam("b_paused_since", type_=UtcDateTime()),
        paused_working_days=bindparam("b_paused_working_days"),
        outcome=bindparam("b_outcome"),
        due_warning=bindparam("b_due_warning"),
    )
)


async def _update_dossiers(connection: AsyncConnection, changed: Iterable[_Dossier]) -> None:
    rows = [
        {
            "b_code": state.code,
            "b_sector": state.sector,
            "b_status": int(state.dossier.status),
            "b_payload": _json(state.dossier),
            "b_last_sequence": state.last_sequence,
            "b_change_seq": state.change_seq,
            "b_updated_at": state.stored_at,
            "b_closed_at": state.closed_at,
            "b_last_event_at": state.last_event_at,
            "b_procedure_code": state.dossier.procedure_code,
            "b_agency_code": state.dossier.agency_code,
            **facts_columns(state.facts, "b_"),
        }
        for state in changed
        if state.dossier is not None
    ]
    if rows:
        await connection.execute(_UPDATE_DOSSIERS, rows)


__all__ = [
    "DossierRecord",
    "DossierWrite",
    "EventWrite",
    "PostEvent",
    "PutDossier",
    "Write",
    "WriteResult",
    "record_writes",
]
