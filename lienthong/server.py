"""Serving the adapter with uvicorn, as ``lienthong serve`` and each of its workers do."""

from __future__ import annotations

import contextlib
import gc
import importlib.util
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lienthong.http_protocol import ConnectionLimits, guarded_protocol
from lienthong.settings import Settings


@dataclass(frozen=True)
class TlsFiles:
    """What ``serve`` terminates TLS with; ``client_ca`` set: client certificates required."""

    cert: Path
    key: Path
    client_ca: Path | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> TlsFiles | None:
        """The settings' TLS files, or ``None`` when ``serve`` speaks plain HTTP."""
        files = settings.resolved_tls_files
        if files is None:
            if settings.tls_client_ca_file is not None:
                raise ValueError("tls_client_ca_file needs TLS (tls_cert_file and tls_key_file)")
            return None
        tls = cls(files[0], files[1], settings.tls_client_ca_file)
        for path in (tls.cert, tls.key, tls.client_ca):
            if path is not None and not Path(path).is_file():
                raise ValueError(f"TLS file {path} does not exist")
        return tls

    def uvicorn_options(self) -> dict[str, Any]:
        """The ``uvicorn.Config`` arguments that serve these files."""
        return {
            "ssl_certfile": str(self.cert),
            "ssl_keyfile": str(self.key),
            "ssl_ca_certs": None if self.client_ca is None else str(self.client_ca),
            "ssl_cert_reqs": ssl.CERT_NONE if self.client_ca is None else ssl.CERT_REQUIRED,
        }


def run_server(
    app: Any,
    *,
    host: str,
    port: int,
    log_level: str = "info",
    sockets: list[socket.socket] | None = None,
    on_started: Callable[[], object] | None = None,
    limits: ConnectionLimits | None = None,
    tls: TlsFiles | None = None,
) -> bool:
    """Serve ``app`` with uvicorn as ``lienthong serve`` does (the adapter bench uses it too).

    On uvloop with the httptools parser (both come with ``uvicorn[standard]``) guarded by
    ``limits`` (header and body deadlines, head sizes: :mod:`lienthong.http_protocol`), over
    TLS when ``tls`` is given, no access log
    (the metrics and the structured logs say what is needed, without personal data), no proxy
    headers, no ``server`` header; on ``sockets`` already bound (``--workers``) or on
    ``host:port``; ``on_started`` is called once the server accepts connections. Everything
    built at start-up (the bound WSDL, the models, the routes) is moved out of the garbage
    collector's reach first (``gc.freeze``): measured under load, each full collection otherwise
    walks it for ~60 ms. Returns whether the server started.
    """
    import uvicorn

    class Server(uvicorn.Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets=sockets)
            if self.started and on_started is not None:
                on_started()

    gc.collect()
    gc.freeze()
    server = Server(
        uvicorn.Config(
            app,
            host=host,
            port=port,
            log_level=log_level,
            lifespan="on",
            loop="uvloop" if importlib.util.find_spec("uvloop") is not None else "asyncio",
            http=guarded_protocol(limits or ConnectionLimits()),
            access_log=False,
            proxy_headers=False,
            server_header=False,
            **(tls.uvicorn_options() if tls is not None else {}),
        )
    )
    with contextlib.suppress(KeyboardInterrupt):  # uvicorn re-raises Ctrl-C once it has stopped
        server.run(sockets=sockets)
    return server.started


def bind(host: str, port: int) -> socket.socket:
    """The listening socket the workers of ``serve --workers N`` share."""
    import uvicorn

    return uvicorn.Config(app="adapter_api.app:create_app", host=host, port=port).bind_socket()


__all__ = ["TlsFiles", "bind", "run_server"]
