"""Build the real portal client for the command line: ``connectors.portal.PortalConnector``.

The worker itself only knows the ``PortalClient`` role; this module turns a URL, a key folder
and the portal login into a connector (our party's key signs, the portal's replies are verified
against the key folder's CA), records every exchange in the message log when asked, and closes
everything afterwards.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from connectors.base import BreakerSettings, RetrySettings, Timeouts
from connectors.exchange import ExchangeRecorder
from connectors.factory import ConnectorsConfig
from connectors.factory import build_portal as connectors_build_portal
from connectors.portal import PortalConnector
from security.errors import SecurityError
from sync.errors import SyncConfigError
from sync.portal import PortalClient

#: The sandbox mock's portal (``lienthong mock serve`` on its default port).
DEFAULT_PORTAL_URL = "http://127.0.0.1:8001/portal"
DEFAULT_KEYS_DIR = ".lienthong/keys"


@dataclass(frozen=True, slots=True)
class PortalOptions:
    """Where the portal is, how to log in, how patient to be, whether to keep the message log."""

    url: str = DEFAULT_PORTAL_URL
    keys_dir: Path = Path(DEFAULT_KEYS_DIR)
    username: str = "lienthong"
    password: str = field(default="sandbox", repr=False)
    agency: str = "000.00.04.H04"
    party: str = "adapter"
    timeouts: Timeouts = field(default_factory=Timeouts)
    retry: RetrySettings = field(default_factory=RetrySettings)
    breaker: BreakerSettings = field(default_factory=BreakerSettings)
    batch_size: int = 100
    signature_ttl_seconds: int = 60
    max_skew_seconds: int = 60


def build_portal(
    options: PortalOptions, *, recorder: ExchangeRecorder | None = None
) -> PortalConnector:
    """A ``PortalConnector`` for ``options`` (keys and CA from ``options.keys_dir``)."""
    config = ConnectorsConfig(
        keys_dir=options.keys_dir,
        population_url="",  # the worker talks to the portal only
        registry_url="",
        portal_url=options.url,
        party=options.party,
        agency_code=options.agency,
        portal_username=options.username,
        portal_password=options.password,
        timeouts=options.timeouts,
        retry=options.retry,
        breaker=options.breaker,
        signature_ttl_seconds=options.signature_ttl_seconds,
        max_skew_seconds=options.max_skew_seconds,
        portal_batch_size=options.batch_size,
    )
    try:
        return connectors_build_portal(config, recorder=recorder)
    except (OSError, SecurityError) as exc:
        raise SyncConfigError(
            f"cannot load the keys of {options.party!r} from {options.keys_dir}"
        ) from exc


@asynccontextmanager
async def open_portal(
    options: PortalOptions, *, message_log: AsyncEngine | None = None
) -> AsyncIterator[PortalClient]:
    """A connected portal client, closed on exit; exchanges go to the message log if given."""
    if not options.keys_dir.is_dir():
        raise SyncConfigError(f"key folder {options.keys_dir} does not exist")
    async with AsyncExitStack() as stack:
        recorder: ExchangeRecorder | None = None
        if message_log is not None:
            from store.log_keys import message_log_key
            from store.message_log import BodyCipher, KeyFolderCertificates, SqlMessageLog

            log = SqlMessageLog(
                message_log,
                BodyCipher(message_log_key(options.keys_dir)),
                certificates=KeyFolderCertificates(options.keys_dir),
            )
            stack.push_async_callback(log.aclose)
            recorder = log
        connector = build_portal(options, recorder=recorder)
        stack.push_async_callback(connector.aclose)
        yield connector


__all__ = [
    "DEFAULT_KEYS_DIR",
    "DEFAULT_PORTAL_URL",
    "PortalOptions",
    "build_portal",
    "open_portal",
]
