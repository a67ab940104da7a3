"""The sandbox mock server, run beside the API in its event loop.

It follows :class:`adapter_api.container.Service` (``name``, ``start()``, ``stop()``), as does the
sync worker's ``sync.worker.WorkerService``; both are started and stopped with the app's lifespan.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator
from typing import Any

import uvicorn

log = logging.getLogger("lienthong.api")


class _EmbeddedUvicorn(uvicorn.Server):
    """A uvicorn server that leaves signal handling to the process's main server."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class EmbeddedServer:
    """Serves an ASGI app on its own port inside the current event loop (the sandbox mocks)."""

    def __init__(
        self, name: str, app: Any, *, host: str, port: int, startup_seconds: float = 15.0
    ) -> None:
        self.name = name
        self.host = host
        self.port = port
        self._app = app
        self._startup_seconds = startup_seconds
        self._server: _EmbeddedUvicorn | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        """The server's base URL."""
        return f"http://{self.host}:{self.port}"

    async def start(self) -> None:
        """Start serving; returns once the port accepts connections."""
        config = uvicorn.Config(
            self._app,
            host=self.host,
            port=self.port,
            log_level="warning",
            lifespan="on",
            access_log=False,
        )
        self._server = _EmbeddedUvicorn(config)
        self._task = asyncio.create_task(self._server.serve(), name=f"server-{self.name}")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._startup_seconds
        while not self._server.started:
            if self._task.done() or loop.time() > deadline:
                await self.stop()
                raise RuntimeError(f"the {self.name} server did not start on port {self.port}")
            await asyncio.sleep(0.01)
        log.info("%s serving on %s", self.name, self.url)

    async def stop(self) -> None:
        """Stop serving and wait for the server to finish."""
        if self._server is not None:
            self._server.should_exit = True
        if self._task is not None:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(self._task, timeout=10)
        self._server = None
        self._task = None


__all__ = ["EmbeddedServer"]
