"""In-process CPU per citizen lookup spent between the front layer and the population call.

Run: ``.venv/bin/python bench/lookup_route_bench.py [--calls N] [--rounds R] [--plain]``

The adapter's ASGI app (``create_app`` on a sandbox container) is called directly, one request
after another, by a raw ASGI driver in this process: no server, no sockets. What is not the
route's is faked so that it costs next to nothing and the figure shows routing, the route's code
and the layers around it: the request signature check and the response signature (a verifier
that accepts ``province-app`` and a signer that adds nothing), the population database (answers
at once with one citizen), the purpose check (one dossier naming the citizen) and the two logs
(their ``together`` block ends after one trip through the event loop, as the group commit's
does). ``--plain`` turns the app's fast paths off (``without_fast_paths``).

Printed: CPU microseconds per lookup (``time.process_time``), each round and the best.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from adapter_api.app import create_app  # noqa: E402
from adapter_api.issues import Issue  # noqa: E402
from adapter_api.routes.fast_path import without_fast_paths  # noqa: E402
from lienthong.bootstrap import build_container, prepare  # noqa: E402
from lienthong.settings import Settings  # noqa: E402
from schemas.models import Citizen  # noqa: E402

CITIZEN_ID = "001085000123"
OFFICIAL = "VN001090000001"
ISSUE = "000.00.04.H04-261126-0001"
CITIZEN = Citizen(
    citizen_id=CITIZEN_ID,
    full_name="Nguyễn Văn An",
    date_of_birth="1985-03-02",
    sex="male",
    place_of_origin="Hà Nội",
    permanent_address="1 Tràng Tiền, Hoàn Kiếm, Hà Nội",
)


class Verified:
    keyid = "province-app"


class AcceptingVerifier:
    """Every request signed by ``province-app``."""

    def claimed_signer(self, headers: Any) -> str:
        return "province-app"

    def verify_request(self, method: str, url: str, headers: Any, body: Any) -> Verified:
        return Verified()

    def verify_view(self, request: Any, body: Any) -> Verified:
        return Verified()


class SilentSigner:
    """Signs nothing."""

    def sign_response(
        self, status: int, headers: Any, body: bytes, *, request: Any
    ) -> dict[str, str]:
        return {}


class Population:
    name = "population"

    async def get_citizen(self, citizen_id: str, ctx: Any) -> Citizen:
        return CITIZEN


class Issues:
    issue = Issue("TP.HT", frozenset({CITIZEN_ID}), None)

    async def get(self, dossier_code: str, *, fresh: bool = False) -> Issue | None:
        return self.issue

    async def serves(self, issue: Issue, dossier_code: str, citizen_id: str, *, grace: Any) -> bool:
        return True


class AccessLog:
    async def record(self, entry: Any) -> None:
        return None


class Logs:
    access_log = AccessLog()

    @contextlib.asynccontextmanager
    async def together(self) -> AsyncIterator[None]:
        yield
        await asyncio.sleep(0)  # the commit: one trip through the loop


def build_app(folder: Path, *, plain: bool) -> Any:
    settings = Settings(
        sandbox=True,
        keys_dir=folder / "keys",
        data_dir=folder / "data",
        rate_limit_requests=1_000_000_000,
    )
    prepare(settings)
    container = build_container(settings)
    container.verifier = AcceptingVerifier()  # type: ignore[assignment]
    container.signer = SilentSigner()  # type: ignore[assignment]
    container.population = Population()  # type: ignore[assignment]
    container.issues = Issues()  # type: ignore[assignment]
    container.logs = Logs()  # type: ignore[assignment]
    container.access_log = Logs.access_log  # type: ignore[assignment]
    app = create_app(container)
    if plain:
        without_fast_paths(app)
    return app


HEADERS = [
    (b"host", b"127.0.0.1:8080"),
    (b"signature-input", b'sig1=("@method");keyid="province-app"'),
    (b"signature", b"sig1=:AAAA:"),
    (b"x-user-id", OFFICIAL.encode()),
    (b"x-issue", ISSUE.encode()),
]


async def one_lookup(app: Any) -> int:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": f"/v1/citizens/{CITIZEN_ID}",
        "raw_path": f"/v1/citizens/{CITIZEN_ID}".encode(),
        "query_string": b"",
        "root_path": "",
        "headers": list(HEADERS),
        "server": ("127.0.0.1", 8080),
        "client": ("127.0.0.1", 5000),
    }
    status = 0

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope, receive, send)
    return status


async def run(app: Any, calls: int, rounds: int) -> list[float]:
    assert await one_lookup(app) == 200
    figures = []
    for _ in range(rounds):
        started = time.process_time()
        for _ in range(calls):
            await one_lookup(app)
        figures.append((time.process_time() - started) / calls * 1e6)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--plain", action="store_true", help="fast paths off")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        app = build_app(Path(folder), plain=args.plain)
        figures = asyncio.run(run(app, args.calls, args.rounds))
    rounds = " ".join(f"{figure:.1f}" for figure in figures)
    print(f"us per lookup: best {min(figures):.1f} (rounds: {rounds})")


if __name__ == "__main__":
    main()
