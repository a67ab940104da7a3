"""The ASGI scope the benches hand the adapter's layers, as its server would.

No imports of the project and no change to ``sys.path``: a bench timing another checkout
(``--root``) can import it before or after that checkout's packages.
"""

from __future__ import annotations

from typing import Any


def get_scope(path: str, headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    """The ASGI scope of a ``GET path`` with ``headers`` as the adapter's server hands it on
    (loopback addresses, an empty state for the layers to fill)."""
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "server": ("127.0.0.1", 8000),
        "client": ("127.0.0.1", 51000),
        "scheme": "http",
        "method": "GET",
        "root_path": "",
        "path": path,
        "raw_path": path.encode("ascii"),
        "query_string": b"",
        "headers": headers,
        "state": {},
    }


__all__ = ["get_scope"]
