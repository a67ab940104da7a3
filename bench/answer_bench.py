"""Answer-reading benchmark: the adapter's CPU outside the floor around one population lookup.

Run: ``.venv/bin/python bench/answer_bench.py [--seconds S] [--rounds R]``, or, for instruction
counts that do not depend on the machine's load::

    valgrind --tool=callgrind --toggle-collect=starmap_next --dump-before=itertools_starmap \
        .venv/bin/python bench/answer_bench.py --calls N

``--calls N`` runs each stage N times through ``itertools.starmap``: only those calls are
counted, and each stage's count is dumped to its own file (``callgrind.out.<pid>.2`` to ``.4``:
build, read, answer; ``.1`` is empty); divide by N.

In one process, no server, no network: a development PKI is made in a temporary folder, one
GetCitizen request is signed and one reply signed by the ``population`` party is verified once,
outside the timed code. What is timed (µs of process CPU per lookup, best of the rounds) is what
a lookup costs besides signing, verifying and sending:

1. **build** — ``build_get_citizen_request``, the X-Road header and the envelope (unsigned);
2. **read** — the reply's echo (``requestHash`` of the bytes sent, ``echoes_faithfully``) and
   ``read_get_citizen_response`` into the ``Citizen``;
3. **answer** — ``json_response`` of the citizen, minimised to a client's fields.
"""

from __future__ import annotations

import argparse
import collections
import datetime
import itertools
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from lxml import etree  # noqa: E402

from adapter_api.routes.context import json_response  # noqa: E402
from connectors.base import CallContext, UpstreamConfig  # noqa: E402
from connectors.echo import echoes_faithfully  # noqa: E402
from connectors.population import PopulationConnector  # noqa: E402
from connectors.soap import BODY, ENVELOPE, HEADER, SOAP11_NS  # noqa: E402
from schemas.citizen_id import Sex, make_citizen_id  # noqa: E402
from schemas.models import Citizen  # noqa: E402
from schemas.wire import population as wire  # noqa: E402
from schemas.wire.xroad import XRoadHeader, build_header_elements, request_hash  # noqa: E402
from security.keys import load_party  # noqa: E402
from security.pki import init_dev_pki  # noqa: E402
from security.trust import TrustStore  # noqa: E402
from security.wsse import SIGNING_NSMAP, sign_envelope, verify_envelope  # noqa: E402

CITIZEN = Citizen(
    citizen_id=make_citizen_id("001", 1990, Sex.FEMALE, 7),
    full_name="Nguyễn Thị An",
    date_of_birth=datetime.date(1990, 5, 17),
    sex=Sex.FEMALE,
    place_of_origin="Hà Nội",
    permanent_address="1 Tràng Tiền, Hoàn Kiếm, Hà Nội",
    current_address="12 Lý Thường Kiệt, Hoàn Kiếm, Hà Nội",
    ethnicity="Kinh",
)
FIELDS = frozenset({"citizen_id", "full_name", "date_of_birth", "sex", "permanent_address"})
CTX = CallContext(
    "9b3a3f0e-0000-4000-8000-000000000001",
    "province-app",
    "VN001090000001",
    "000.00.04.H04-261126-0007",
)


def per_call_us(function: Callable[[], object], seconds: float) -> float:
    """µs of process CPU per call of ``function``, over about ``seconds``."""
    calls = 0
    started = time.process_time()
    while True:
        for _ in range(200):
            function()
        calls += 200
        spent = time.process_time() - started
        if spent >= seconds:
            return spent / calls * 1e6


def population_reply(keys: Path, header: XRoadHeader, signed: bytes) -> bytes:
    """The population's signed answer to ``signed``, made here: :data:`CITIZEN`, the header
    echoed with the request's hash."""
    root = etree.Element(ENVELOPE, nsmap={"soapenv": SOAP11_NS, **SIGNING_NSMAP})
    etree.SubElement(root, HEADER).extend(build_header_elements(header.response(signed)))
    etree.SubElement(root, BODY).append(wire.build_get_citizen_response(CITIZEN))
    return sign_envelope(root, load_party(keys, "population"))


def stages(keys: Path) -> dict[str, Callable[[], object]]:
    """The timed stages, over one signed request and its verified reply (made here)."""
    init_dev_pki(keys)
    config = UpstreamConfig(name="population", base_url="http://population.test/soap")
    connector = PopulationConnector(
        config,
        credentials=load_party(keys, "adapter"),
        trust=TrustStore.from_pem_file(keys / "ca" / "cert.pem"),
        member_code="H04",
    )
    citizen_id = CITIZEN.citizen_id
    header = connector.header_for("GetCitizen", CTX)
    signed = connector.sign(connector.envelope(header, wire.build_get_citizen_request(citizen_id)))
    reply = population_reply(keys, header, signed)
    verified = verify_envelope(reply, connector.trust, expected_party="population")

    def build() -> object:
        payload = wire.build_get_citizen_request(citizen_id)
        return connector.envelope(connector.header_for("GetCitizen", CTX), payload)

    def read() -> Citizen:
        assert echoes_faithfully(header, verified.header, request_hash(signed))
        element = next(child for child in verified.body if isinstance(child.tag, str))
        return wire.read_get_citizen_response(element)

    citizen = read()
    assert citizen == CITIZEN

    def answer() -> object:
        return json_response(citizen, include=FIELDS)

    return {"build": build, "read": read, "answer": answer}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=1.0, help="per figure and round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--calls",
        type=int,
        default=None,
        help="run each stage this many times, untimed (for valgrind --tool=callgrind)",
    )
    args = parser.parse_args()
    timed = stages(Path(tempfile.mkdtemp(prefix="answer-bench-")))
    if args.calls is not None:
        for function in timed.values():  # driven by starmap: see the module docstring
            collections.deque(itertools.starmap(function, itertools.repeat((), args.calls)), 0)
        return
    figures: dict[str, list[float]] = {name: [] for name in timed}
    for _ in range(args.rounds):
        for name, function in timed.items():
            figures[name].append(per_call_us(function, args.seconds))
    best = {name: min(values) for name, values in figures.items()}
    print(
        " ".join(f"{name}={value:.2f}us" for name, value in best.items())
        + f" total={sum(best.values()):.2f}us  ({ROOT})"
    )


if __name__ == "__main__":
    main()
