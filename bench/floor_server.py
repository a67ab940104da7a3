"""The integrated floor of a signed citizen lookup: one bare server doing, per request and inline,
only what a lookup cannot avoid, served and driven as the adapter is.

``bench/adapter_floor.py``'s floor is a sum of parts each timed on its own (a bare forwarder
under load, each signature operation and the log writes in tight loops). This is the same work
interleaved in one server under the same load: whatever a sum of tight loops cannot show (cold
caches, allocations, awaits between the operations) is in its CPU per lookup. An ASGI app with
no middleware, no routing framework and no checks beyond the signature operations, served by
:func:`lienthong.server.run_server` (the adapter's own settings), does per request:

1. RFC 9421 verify of the client's signed GET (:class:`security.http_signatures.HttpVerifier`,
   replay cache on; a refused request is answered 401, nothing else is done);
2. WS-Security sign of the GetCitizen envelope for the citizen of the path, from an element
   (a copy of a template made at start-up, its citizen, user, issue and message id set);
3. POST to the population mock with :class:`connectors.http_client.ConnectionPool`;
4. WS-Security verify of the answer (certificate against the trust store, signer
   ``population``);
5. the two durable log rows (``bench/floor_log.py``: :mod:`sqlite3`, the store's tables, WAL,
   ``synchronous=FULL``), gathered with the other requests in flight and committed together on
   the event loop; the answer waits for its commit;
6. RFC 9421 sign of the reply, bound to the request; the body is returned as it came.

``GET /_floor/log`` answers (unsigned) the server's counters as JSON: the group commit's
transactions, lookups and CPU seconds, and the CPU seconds of the RFC 9421 and WS-Security
operations (each read with ``time.thread_time`` around the calls: 0.4 µs a reading, six a
lookup), so that the bench can split its CPU per lookup stage by stage with the kernel's clock,
not with a sampler (which, on a loaded machine, also counts the time a thread waits for a core).

Run: ``python bench/floor_server.py PORT POPULATION_URL KEYS_DIR DATABASE`` (``bench/
adapter_bench.py`` starts it beside the adapter).
"""

from __future__ import annotations

import copy
import json
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from lxml import etree

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from adapter_floor import SOAP_HEADERS  # noqa: E402
from floor_log import FloorLog, GroupCommit, LoggedLookup  # noqa: E402

from security.errors import SecurityError  # noqa: E402
from security.http_signatures import (  # noqa: E402
    HttpSigner,
    HttpVerifier,
    RequestView,
    TrustedKeyDirectory,
)
from security.http_signatures.message import header_fields  # noqa: E402
from security.keys import load_party  # noqa: E402
from security.replay import MemoryReplayCache  # noqa: E402
from security.trust import TrustStore  # noqa: E402
from security.wsse import SIGNING_NSMAP, sign_envelope, verify_envelope  # noqa: E402

REPLY_HEADERS = {"content-type": "text/xml; charset=utf-8"}
LOG_PATH = "/_floor/log"
XROAD_NS = "http://x-road.eu/xsd/xroad.xsd"
TEMPLATE_CITIZEN = "001090000001"
TEMPLATE_USER = "VN001090000001"
TEMPLATE_ISSUE = "000.00.04.H04-261126-0001"


class EnvelopeTemplate:
    """A GetCitizen envelope built once; :meth:`fill` copies it with a lookup's own values."""

    def __init__(self) -> None:
        from harness import get_citizen_envelope

        self.root = get_citizen_envelope(
            TEMPLATE_CITIZEN, user_id=TEMPLATE_USER, issue=TEMPLATE_ISSUE, nsmap=SIGNING_NSMAP
        )
        texts = {TEMPLATE_CITIZEN: -1, TEMPLATE_USER: -1, TEMPLATE_ISSUE: -1}
        paths: dict[str, list[int]] = {}
        message_id: list[int] | None = None
        for element in self.root.iter():
            if not isinstance(element.tag, str):
                continue
            if element.text in texts:
                paths[element.text] = _path_of(self.root, element)
            elif element.tag == f"{{{XROAD_NS}}}id":
                message_id = _path_of(self.root, element)
        if len(paths) != len(texts) or message_id is None:
            raise RuntimeError("the GetCitizen template does not have the expected fields")
        self.citizen = paths[TEMPLATE_CITIZEN]
        self.user = paths[TEMPLATE_USER]
        self.issue = paths[TEMPLATE_ISSUE]
        self.message_id = message_id

    def fill(self, citizen_id: str, user_id: str, issue: str) -> etree._Element:
        root = copy.deepcopy(self.root)
        for path, text in (
            (self.citizen, citizen_id),
            (self.user, user_id),
            (self.issue, issue),
            (self.message_id, str(uuid.uuid4())),
        ):
            element = root
            for index in path:
                element = element[index]
            element.text = text
        return root


def _path_of(root: etree._Element, element: etree._Element) -> list[int]:
    """Child indexes from ``root`` down to ``element``."""
    path: list[int] = []
    while element is not root:
        parent = element.getparent()
        assert parent is not None
        path.append(parent.index(element))
        element = parent
    return path[::-1]


class IntegratedFloor:
    """The bare ASGI app of the module docstring."""

    def __init__(self, population_url: str, keys: Path, database: Path) -> None:
        self.population_url = population_url
        self.trust = TrustStore.from_pem_file(keys / "ca" / "cert.pem")
        self.verifier = HttpVerifier(TrustedKeyDirectory(keys, self.trust), MemoryReplayCache())
        self.adapter = load_party(keys, "adapter")
        self.responder = HttpSigner(self.adapter)
        self.template = EnvelopeTemplate()
        self.database = database
        self.log: GroupCommit | None = None
        self.pool: Any = None
        self.rfc9421_seconds = 0.0
        self.ws_security_seconds = 0.0

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        assert self.log is not None
        if scope["path"] == LOG_PATH:
            counters = {
                "transactions": self.log.transactions,
                "lookups": self.log.lookups,
                "cpu_seconds": self.log.cpu_seconds,
                "rfc9421_cpu_seconds": self.rfc9421_seconds,
                "ws_security_cpu_seconds": self.ws_security_seconds,
            }
            await _answer(send, 200, [], json.dumps(counters).encode())
            return
        raw_headers = scope["headers"]
        headers = header_fields(raw_headers)
        host = headers.get("host", "")
        url = f"http://{host}{scope['raw_path'].decode('latin-1')}"
        request = RequestView(scope["method"], url, headers)
        clock = time.thread_time
        started = clock()
        try:  # 1. the client's signature (a GET: no body)
            self.verifier.verify_view(request, b"")
        except SecurityError:
            await _answer(send, 401, [], b"")
            return
        verified = clock()
        citizen_id = scope["path"].rsplit("/", 1)[1]
        user_id, issue = headers.get("x-user-id", ""), headers.get("x-issue", "")
        # 2. WS-Security sign of the GetCitizen envelope (its element filled in counted with it)
        signed = sign_envelope(self.template.fill(citizen_id, user_id, issue), self.adapter)
        self.rfc9421_seconds += verified - started
        self.ws_security_seconds += clock() - verified
        # 3. the population call
        status, _, body = await self.pool.request("POST", self.population_url, SOAP_HEADERS, signed)
        if status != 200:
            await _answer(send, 502, [], b"")
            return
        # 4. WS-Security verify of the answer
        started = clock()
        verify_envelope(body, self.trust, expected_party="population")
        self.ws_security_seconds += clock() - started
        # 5. the two log rows, durable before the answer
        await self.log.write(LoggedLookup(signed, bytes(body), user_id, issue, citizen_id))
        # 6. RFC 9421 sign of the reply, bound to the request
        started = clock()
        signature = self.responder.sign_response(200, REPLY_HEADERS, body, request=request)
        self.rfc9421_seconds += clock() - started
        reply = [(b"content-type", b"text/xml; charset=utf-8")]
        reply += [(name.lower().encode(), value.encode()) for name, value in signature.items()]
        await _answer(send, 200, reply, body)

    async def _lifespan(self, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                from connectors.http_client import ConnectionPool

                self.pool = ConnectionPool(max_connections=64, connect_timeout=5.0)
                self.log = GroupCommit(FloorLog(self.database))
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self.pool.close()
                if self.log is not None:
                    self.log.log.close()
                await send({"type": "lifespan.shutdown.complete"})
                return


async def _answer(send: Any, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def serve(port: int, population_url: str, keys: str, database: str) -> None:
    """The integrated floor on 127.0.0.1:port, as the adapter is served."""
    from lienthong.server import run_server

    app = IntegratedFloor(population_url, Path(keys), Path(database))
    run_server(app, host="127.0.0.1", port=port, log_level="warning")


if __name__ == "__main__":
    if len(sys.argv) != 5:
        raise SystemExit(__doc__.rsplit("Run: ", 1)[1].split("(")[0].strip())
    serve(int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4])

__all__ = ["LOG_PATH", "EnvelopeTemplate", "IntegratedFloor", "serve"]
