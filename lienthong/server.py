"""Serving the adapter with uvicorn, as ``lienthong serve`` and each of its workers do."""

from __future__ import annotations

import contextlib
import gc
import importlib.util
import socket
from collections.abc import Callable
from typing import Any


def run_server(
    app: Any,
    *,
    host: str,
    port: int,
    log_level: str = "info",
    sockets: list[socket.socket] | None = None,
    on_started: Callable[[], object] | None = None,
) -> bool:
    """Serve ``app`` with uvicorn as ``lienthong serve`` does (the adapter bench uses it too).

    On uvloop with the httptools parser (both come with ``uvicorn[standard]``), no access log
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
            http="httptools",
            access_log=False,
            proxy_headers=False,
            server_header=False,
        )
    )
    with contextlib.suppress(KeyboardInterrupt):  # uvicorn re-raises Ctrl-C once it has stopped
        server.run(sockets=sockets)
    return server.started


def bind(host: str, port: int) -> socket.socket:
    """The listening socket the workers of ``serve --workers N`` share."""
    import uvicorn

    return uvicorn.Config(app="adapter_api.app:create_app", host=host, port=port).bind_socket()


__all__ = ["bind", "run_server"]
