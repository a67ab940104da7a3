"""What a request may cost before it is trusted: body limits per route and bodies in flight.

The signature middleware asks these before it reads a byte of a body:

* :class:`BodyLimits` — the largest body a route takes (``"POST /v1/citizens/verify"`` style
  patterns, ``*`` matching within a path, first match wins; a default for the rest). A
  ``Content-Length`` over it is refused at once; a chunked body is cut off at it. The rules are
  read as :func:`fnmatch.fnmatchcase` reads them, compiled once per method.
* :class:`BodiesInFlight` — how many requests with a body may be open at once, per client
  (keyid) and in all; one more is refused at once (``Overloaded``) rather than queued, so a
  client trickling bodies cannot hold the adapter's memory or its other clients' turn.

Both are per process: with ``serve --workers N`` each worker has its own caps.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Mapping
from fnmatch import translate

from security.errors import Overloaded

#: whether a path matches a rule's pattern; None: every path does
_PathMatch = Callable[[str], object] | None
_WILDCARDS = frozenset("*?[")


def _path_match(pattern: str) -> _PathMatch:
    """``fnmatchcase(path, pattern)`` as a function of ``path`` made once: None for ``*``
    (every path), the text's equality when it holds no wildcard, else the pattern's regex."""
    if pattern == "*":
        return None
    if _WILDCARDS.isdisjoint(pattern):
        return pattern.__eq__
    return re.compile(translate(pattern)).match


class BodyLimits:
    """The body cap of each route: ``limits`` maps ``"METHOD /path/pattern"`` to bytes."""

    def __init__(self, default: int, limits: Mapping[str, int] | None = None) -> None:
        if default < 0:
            raise ValueError("a body limit cannot be negative")
        self.default = default
        rules: list[tuple[str, _PathMatch, int]] = []
        for rule, limit in (limits or {}).items():
            method, _, pattern = rule.strip().partition(" ")
            if not pattern or limit < 0:
                raise ValueError(f"a body limit needs 'METHOD /path' and bytes >= 0: {rule!r}")
            rules.append((method.upper(), _path_match(pattern.strip()), int(limit)))
        # the rules that may apply to each method a rule names, in order; to any other method,
        # the rules for every method ("*")
        self._for_any = tuple((match, limit) for name, match, limit in rules if name == "*")
        self._by_method = {
            method: tuple((match, limit) for name, match, limit in rules if name in (method, "*"))
            for method, _, _ in rules
            if method != "*"
        }

    def __call__(self, method: str, path: str) -> int:
        """The largest body ``method path`` may carry, in bytes."""
        for match, limit in self._by_method.get(method, self._for_any):
            if match is None or match(path):
                return limit
        return self.default


class BodiesInFlight:
    """Counts the requests with a body now open, per client and in all (see the module)."""

    def __init__(self, total: int, per_client: int) -> None:
        if total < 1 or per_client < 1:
            raise ValueError("the caps on bodies in flight must be positive")
        self.total_cap = total
        self.per_client_cap = per_client
        self._total = 0
        self._by_client: dict[str, int] = {}
        self._lock = threading.Lock()

    @property
    def open(self) -> int:
        """Requests with a body open right now."""
        return self._total

    def acquire(self, client: str) -> Callable[[], None]:
        """Take a place for ``client``'s body; the function returned gives it back (once).

        Raises ``Overloaded`` (``client_busy`` or ``server_busy``) when a cap is reached.
        """
        with self._lock:
            held = self._by_client.get(client, 0)
            if held >= self.per_client_cap:
                raise Overloaded(
                    f"this client already has {held} request bodies in flight",
                    reason="client_busy",
                )
            if self._total >= self.total_cap:
                raise Overloaded("the adapter has too many request bodies in flight")
            self._by_client[client] = held + 1
            self._total += 1
        released = False

        def release() -> None:
            nonlocal released
            if released:
                return
            released = True
            with self._lock:
                self._total -= 1
                left = self._by_client[client] - 1
                if left:
                    self._by_client[client] = left
                else:
                    del self._by_client[client]

        return release


__all__ = ["BodiesInFlight", "BodyLimits"]
