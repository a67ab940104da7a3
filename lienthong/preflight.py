"""What ``serve`` checks before anything touches a database, and what commands check of keys.

Kept apart from :mod:`lienthong.bootstrap` and light to import: the supervisor of
``serve --workers N`` runs it and must stay small (it imports none of the adapter's parts).
"""

from __future__ import annotations

import logging
import socket
from pathlib import Path

from adapter_api.clients import ClientConfigError, ClientRegistry, load_clients, sandbox_clients
from lienthong.settings import Settings
from security.errors import SecurityError
from security.keys import load_party
from security.pki import dev_pki_exists, init_dev_pki
from security.trust import TrustStore

log = logging.getLogger("lienthong.api")


class StartupError(Exception):
    """What the settings name cannot be used (a busy port, unreadable keys, a bad clients file)."""


def port_free(host: str, port: int) -> bool:
    """Whether ``host:port`` can be bound now (as uvicorn binds it: ``SO_REUSEADDR``)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def preflight(settings: Settings) -> None:
    """Check what ``serve`` needs before anything touches a database; :class:`StartupError`.

    The adapter's port (and in sandbox the mocks') must be free; the keys must load (in sandbox
    the development keys are made first when the folder holds none); the clients file must
    load.
    """
    ports = [("adapter", settings.host, settings.port)]
    if settings.sandbox and settings.sandbox_mocks:
        ports.append(("mock endpoints", settings.mock_host, settings.mock_port))
    for name, host, port in ports:
        if port and not port_free(host, port):
            raise StartupError(f"port {port} on {host} ({name}) is in use")
    if settings.sandbox and not dev_pki_exists(settings.keys_dir):
        log.info("creating development keys in %s", settings.keys_dir)
        try:
            init_dev_pki(settings.keys_dir)
        except OSError as exc:
            raise StartupError(
                f"cannot make keys in {settings.keys_dir} ({exc.strerror})"
            ) from None
    check_keys(settings)
    try:
        load_client_registry(settings)
    except (ClientConfigError, OSError) as exc:
        raise StartupError(f"clients file: {exc}") from None


def check_keys(settings: Settings) -> None:
    """Raise :class:`StartupError` unless the CA certificate and our party's key pair load."""
    keys = Path(settings.keys_dir)
    if not keys.is_dir():
        raise StartupError(f"no key folder at {keys} (make one with 'lienthong keys init')")
    try:
        TrustStore.from_pem_file(keys / "ca" / "cert.pem")
        load_party(keys, settings.party)
    except (OSError, SecurityError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise StartupError(
            f"cannot load the keys of {settings.party!r} from {keys} ({reason})"
        ) from None


def sandbox_webhook_url(settings: Settings) -> str:
    """The mock ministry receiver's URL (the sandbox ministry's one allowed URL)."""
    return f"{settings.mock_base_url}/ministry/webhooks"


def load_client_registry(settings: Settings) -> ClientRegistry:
    """The clients file when set; the sandbox clients in sandbox mode; otherwise an error."""
    if settings.clients_file is not None:
        return load_clients(settings.clients_file)
    if settings.sandbox:
        return sandbox_clients(
            settings.keys_dir, ministry_webhook_urls=[sandbox_webhook_url(settings)]
        )
    raise ClientConfigError("outside the sandbox a clients file is required (--clients)")


__all__ = [
    "StartupError",
    "check_keys",
    "load_client_registry",
    "port_free",
    "preflight",
    "sandbox_webhook_url",
]
