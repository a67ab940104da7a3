"""The push workers as one background service of the adapter process (``lienthong serve``)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from push.notices.notifier import Notifier
from push.webhooks.worker import WebhookWorker

log = logging.getLogger("lienthong.push")


class PushService:
    """Runs the webhook worker and the notifier until stopped; closes their connections."""

    name = "push"

    def __init__(
        self,
        webhooks: WebhookWorker | None,
        notifier: Notifier | None,
        *,
        closers: list[Callable[[], Awaitable[None]]] | None = None,
        stop_timeout: float = 10.0,
    ) -> None:
        self.webhooks = webhooks
        self.notifier = notifier
        self._closers = closers or []
        self._stop_timeout = stop_timeout
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        """Start the loops in the running event loop."""
        self._stop.clear()
        if self.webhooks is not None:
            self._tasks.append(asyncio.create_task(self.webhooks.run(self._stop), name="webhooks"))
        if self.notifier is not None:
            self._tasks.append(asyncio.create_task(self.notifier.run(self._stop), name="notices"))
        log.info("push running (%d loops)", len(self._tasks))

    async def stop(self) -> None:
        """Let the loops finish their batch (cancel after ``stop_timeout``), then close."""
        self._stop.set()
        for task in self._tasks:
            try:
                await asyncio.wait_for(task, timeout=self._stop_timeout)
            except TimeoutError:
                log.warning("push loop %s did not stop in time", task.get_name())
            except Exception:
                log.exception("push loop %s failed", task.get_name())
        self._tasks.clear()
        for close in self._closers:
            with contextlib.suppress(Exception):
                await close()


__all__ = ["PushService"]
