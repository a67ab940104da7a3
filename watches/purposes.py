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

from collections.abc import Collection
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from schemas.dossier_code import validate_dossier_code
from schemas.errors import SchemaError
from store.dossier_persons import purpose_facts
from store.watches.types import Watch, WatchKind
from watches.registration import Refusal

PURPOSE_NOT_GRANTED = Refusal(
    "purpose_not_granted",
    "the purpose is neither a registered dossier the client may see nor a standing purpose "
    "granted to it",
)
PURPOSE_MISMATCH = Refusal(
    "purpose_mismatch",
    "the dossier does not name the citizen as its applicant or a related person",
)


class Client(Protocol):
    """What the policy needs of a registered client (``adapter_api.clients.ApiClient``)."""

    @property
    def standing_purposes(self) -> Collection[str]:
        """The purposes granted to the client that allow watching any citizen."""
        ...

    def sees_sector(self, sector: str | None) -> bool:
        """Whether the client may see dossiers of ``sector``."""
        ...


class Clients(Protocol):
    """The registered clients by id (``adapter_api.clients.ClientRegistry``)."""

    def __contains__(self, client_id: object) -> bool:
        """Whether ``client_id`` is registered."""
        ...

    def get(self, client_id: str) -> Client | None:
        """The client ``client_id``, or ``None``."""
        ...


class ClientWatchPolicy:
    """The :class:`watches.registration.WatchPolicy` of the client registry and the dossiers."""

    def __init__(self, clients: Clients) -> None:
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
        facts = await purpose_facts(session, code)
        if facts is None or not client.sees_sector(facts.sector):
            return PURPOSE_NOT_GRANTED
        if watch.record_id not in facts.persons:
            return PURPOSE_MISMATCH
        return None


__all__ = ["PURPOSE_MISMATCH", "PURPOSE_NOT_GRANTED", "Client", "ClientWatchPolicy", "Clients"]
