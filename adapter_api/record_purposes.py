"""Which purposes allow a client to watch a citizen: a dossier it may see, or a standing purpose.

A citizen watch is personal-data processing bound to a purpose (like a lookup's ``X-Issue``): the
purpose must be the code of a registered dossier in a sector the client sees that names the
citizen (as applicant or related person: ``purpose_mismatch`` otherwise, as for a lookup), or
one of the standing purposes granted to the client in the client registry
(``standing_purposes``). Business watches need no purpose (the business register is public).

The dossier is looked up in the caller's own session, so a bulk import that holds the store's
write lock checks its rows without waiting on itself.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from adapter_api.clients import ClientRegistry
from adapter_api.issues import dossier_persons
from schemas.dossier_code import validate_dossier_code
from schemas.errors import SchemaError
from store.records import Watch, WatchKind
from store.tables.dossiers import dossiers
from sync.records_import import Refusal

PURPOSE_NOT_GRANTED = Refusal(
    "purpose_not_granted",
    "the purpose is neither a registered dossier the client may see nor a standing purpose "
    "granted to it",
)
PURPOSE_MISMATCH = Refusal(
    "purpose_mismatch",
    "the dossier does not name the citizen as its applicant or a related person",
)


class ClientWatchPolicy:
    """The :class:`sync.records_import.WatchPolicy` of the client registry and the dossier store."""

    def __init__(self, clients: ClientRegistry) -> None:
        self._clients = clients

    def knows_client(self, client: str) -> bool:
        """Whether ``client`` is registered."""
        return client in self._clients

    async def refusal(self, session: AsyncSession, watch: Watch) -> Refusal | None:
        """``None`` when the watch's purpose is granted; otherwise why not."""
        if watch.kind is WatchKind.BUSINESS:
            return None
        client = self._clients.get(watch.client)
        if client is None:
            return Refusal("unknown_client", "the client is not registered")
        if watch.purpose in client.standing_purposes:
            return None
        try:
            code = validate_dossier_code(watch.purpose)
        except SchemaError:
            return PURPOSE_NOT_GRANTED
        row = (
            await session.execute(
                select(dossiers.c.sector, dossiers.c.payload).where(dossiers.c.code == code)
            )
        ).first()
        if row is None or not client.sees_sector(row.sector):
            return PURPOSE_NOT_GRANTED
        if watch.record_id not in dossier_persons(row.payload):
            return PURPOSE_MISMATCH
        return None


__all__ = ["PURPOSE_MISMATCH", "PURPOSE_NOT_GRANTED", "ClientWatchPolicy"]
