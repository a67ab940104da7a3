"""The in-process benches run to the end on the code as it is (tiny runs; no timing asserted).

They fake parts of the adapter (a verifier, a signer, the population database); a change to an
interface they stand in for must fail here, not on the next person who measures. The adapter
bench's checks outside the floor (``bench/adapter_checks.py``) must time the adapter's own
checks: the same functions, given hostile inputs, refuse them.
"""

from __future__ import annotations

import copy
import dataclasses
import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from adapter_api.errors import Forbidden, TooManyRequests, Unauthenticated
from connectors.errors import CircuitOpen
from schemas.errors import SchemaError
from schemas.files import XROAD_NS
from security.pki import init_dev_pki

BENCH = Path(__file__).resolve().parents[2] / "bench"

RUNS = {
    "lookup_route_bench.py": ["--calls", "20", "--rounds", "1"],
    "lookup_route_bench.py --plain": ["--calls", "20", "--rounds", "1", "--plain"],
    "front_bench.py": ["--calls", "20", "--rounds", "1"],
    "answer_bench.py": ["--seconds", "0.01", "--rounds", "1"],
    "log_writes_bench.py": ["--lookups", "40", "--in-flight", "4"],
    "adapter_checks.py": ["--calls", "5", "--rounds", "1"],
}


@pytest.mark.parametrize("run", sorted(RUNS))
def test_bench_runs_to_the_end(run: str) -> None:
    script = run.split()[0]
    done = subprocess.run(
        [sys.executable, str(BENCH / script), *RUNS[run]],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert any(char.isdigit() for char in done.stdout), done.stdout[-2000:]


# ------------------------------------------------------------------ bench/adapter_checks.py


def _load_adapter_checks() -> ModuleType:
    """``bench/adapter_checks.py`` as a module (the bench folder is not a package)."""
    spec = importlib.util.spec_from_file_location("adapter_checks", BENCH / "adapter_checks.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("adapter_checks", module)
    spec.loader.exec_module(module)
    return module


bench_checks = _load_adapter_checks()
OTHER_CITIZEN = "001085000123"


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("keys")
    init_dev_pki(folder)
    return folder


def _lookup() -> Any:
    return bench_checks.Lookup(
        "http://127.0.0.1:8000",
        bench_checks.CITIZEN.citizen_id,
        "VN001090000001",
        "000.00.04.H04-261126-0001",
    )


@pytest.fixture
async def checks(keys: Path) -> Any:
    return await bench_checks.lookup_checks(keys, _lookup())


async def test_adapter_checks_measure_each_check(checks: Any) -> None:
    """Every check has a positive figure in ms per lookup; the total is their sum."""
    figures = await bench_checks.measure(checks, calls=20, rounds=1)
    assert list(figures) == [*bench_checks.CHECKS, "total"]
    for name, value in figures.items():
        assert isinstance(value, float), name
        assert 0.0 < value < 1000.0, (name, value)
    assert figures["total"] == pytest.approx(sum(figures[n] for n in bench_checks.CHECKS))
    assert checks.stored.reads == 1  # the directory's cache answered after the first lookup
    assert checks.requests_counted() == 20.0  # the metrics counted every lookup measured


async def test_adapter_checks_stop_on_a_check_that_accepts_nothing(checks: Any) -> None:
    """A verdict other than the valid lookup's stops the measurement: a check that stopped
    checking (or refuses the bench's lookup) is not timed as if it worked."""
    checks.header = dataclasses.replace(checks.header, issue="000.00.04.H04-261126-0002")
    with pytest.raises(AssertionError, match="echo"):
        await bench_checks.measure(checks, calls=2, rounds=1)


async def test_adapter_checks_refuse_hostile_inputs(checks: Any) -> None:
    """The timed functions are the adapter's checks: each refuses what the adapter refuses."""
    lookup, headers = checks.lookup, checks.headers
    repeated = [*headers, (b"x-issue", lookup.issue.encode())]
    assert checks.lookup_inputs((lookup.citizen_id, repeated)) is None
    assert checks.lookup_inputs(("001085000", headers)) is None

    refusal, _ = checks.request_guard(checks.scope([*headers, (b"x-user-id", b"VN001090000002")]))
    assert refusal is not None
    assert refusal.code == "repeated_header"
    slashed = {**checks.scope(), "raw_path": b"/v1/citizens/00%2F1"}
    refusal, _ = checks.request_guard(slashed)
    assert refusal is not None
    assert refusal.code == "encoded_slash"

    sane = checks.scope([*headers, (b"x-request-id", b"trace-42")])
    assert checks.request_id((sane, {"headers": []})) == "trace-42"
    odd = checks.scope([*headers, (b"x-request-id", b"two words")])
    assert checks.request_id((odd, {"headers": []})) != "two words"

    stranger = checks.scope()
    stranger["state"]["client_id"] = "stranger"
    with pytest.raises(Unauthenticated):
        checks.admission((stranger, {"headers": []}))

    with pytest.raises(Forbidden) as refused:
        await checks.purpose((OTHER_CITIZEN, checks.scope()))
    assert refused.value.code == "purpose_mismatch"
    assert checks.access_log.entries[-1].outcome == "refused"

    with pytest.raises(SchemaError):
        checks.request_build("00108500012")

    tampered = copy.deepcopy(checks.reply_header)
    issue = tampered.find(f"{{{XROAD_NS}}}issue")
    issue.text = "000.00.04.H04-261126-0002"
    assert checks.echo(tampered) is False
    assert checks.echo(checks.reply_header) is True

    malformed = copy.deepcopy(checks.reply_body)
    malformed[0][0].text = "0010850001"
    with pytest.raises(SchemaError):
        checks.read_answer(malformed)


async def test_adapter_checks_count_and_break(keys: Path, tmp_path: Path) -> None:
    """The rate counter counts each admission (429 over the client's limit) and an open
    breaker stops the call before its attempt."""
    clients = tmp_path / "clients.toml"
    clients.write_text(
        bench_checks.clients_file_text(keys).replace("1000000000/60", "2/60"), encoding="utf-8"
    )
    checks = await bench_checks.lookup_checks(keys, _lookup(), clients_file=clients)
    for _ in range(2):
        checks.admission((checks.scope(), {"headers": []}))
    with pytest.raises(TooManyRequests):
        checks.admission((checks.scope(), {"headers": []}))

    breaker = checks.connector.resilience.breaker
    for _ in range(breaker.settings.failure_threshold):
        breaker.on_failure()
    with pytest.raises(CircuitOpen):
        await checks.resilience(checks.reply_body)


# ------------------------------------------------------------------ bench/floor_server.py


async def test_integrated_floor_verifies_signs_and_logs(keys: Path, tmp_path: Path) -> None:
    """The integrated floor does the work it is timed for: it refuses a request whose signature
    was tampered with, its answers carry a signature the client verifies (bound to the request),
    the population's answer comes back as it came, and each answered lookup has its two rows in
    the SQLite file."""
    import json
    import sqlite3

    from connectors.http_client import ConnectionPool
    from security.http_signatures import HttpSigner, HttpVerifier, RequestView, TrustedKeyDirectory
    from security.keys import load_party
    from security.trust import TrustStore
    from security.wsse import verify_envelope

    if str(BENCH) not in sys.path:
        sys.path.insert(0, str(BENCH))
    from harness import free_port, start_child

    mock_port, floor_port = free_port(), free_port()
    mock_url = f"http://127.0.0.1:{mock_port}"
    database = tmp_path / "floor.db"
    mock = start_child(
        str(BENCH / "adapter_bench.py"), ["--serve-mock", str(mock_port), str(keys)], mock_port
    )
    floor = None
    client = ConnectionPool(max_connections=4, connect_timeout=5.0)
    try:
        floor = start_child(
            str(BENCH / "floor_server.py"),
            [str(floor_port), f"{mock_url}/population/soap", str(keys), str(database)],
            floor_port,
        )
        _, _, listing = await client.request(
            "GET", f"{mock_url}/_admin/population/citizens?limit=3", {}, None
        )
        citizens = [c["citizen_id"] for c in json.loads(listing)["citizens"]]
        trust = TrustStore.from_pem_file(keys / "ca" / "cert.pem")
        signer = HttpSigner(load_party(keys, "province-app"), ttl=60)
        verifier = HttpVerifier(TrustedKeyDirectory(keys, trust), None)
        base = f"http://127.0.0.1:{floor_port}"

        def signed(citizen: str) -> tuple[str, dict[str, str]]:
            url = f"{base}/v1/citizens/{citizen}"
            headers = {"X-User-Id": "VN001090000001", "X-Issue": "000.00.04.H04-261126-0001"}
            headers.update(signer.sign_request("GET", url, headers, b""))
            return url, headers

        for citizen in citizens:
            url, headers = signed(citizen)
            status, answer_headers, body = await client.request("GET", url, headers, None)
            assert status == 200, body[:300]
            assert (
                verifier.verify_response(
                    status,
                    answer_headers,
                    body,
                    request=RequestView("GET", url, headers),
                    expected_keyid="adapter",
                )
                == "adapter"
            )
            answered = verify_envelope(bytes(body), trust, expected_party="population")
            assert answered is not None
            assert citizen.encode() in body
            # the same signed request again: the replay cache refuses it
            again, _, _ = await client.request("GET", url, headers, None)
            assert again == 401

        url, headers = signed(citizens[0])
        tampered = {**headers, "X-Issue": "000.00.04.H04-261126-0002"}  # not what was signed
        status, _, body = await client.request("GET", url, tampered, None)
        assert status == 401
        assert body == b""
        other_url = url.replace(citizens[0], citizens[1])  # the signature names another path
        status, _, _ = await client.request("GET", other_url, headers, None)
        assert status == 401
        status, _, _ = await client.request("GET", url, headers, None)  # as signed: answered
        assert status == 200

        _, _, counters = await client.request("GET", f"{base}/_floor/log", {}, None)
        log = json.loads(counters)
        assert log["lookups"] == len(citizens) + 1
        assert 1 <= log["transactions"] <= log["lookups"]
        for spent in ("cpu_seconds", "rfc9421_cpu_seconds", "ws_security_cpu_seconds"):
            assert log[spent] > 0.0, spent
        with sqlite3.connect(database) as connection:
            records = connection.execute("SELECT seq, issue FROM message_log").fetchall()
            accesses = connection.execute("SELECT count(*) FROM access_log").fetchone()
            head = connection.execute("SELECT seq FROM message_log_head").fetchone()
        assert sorted(seq for seq, _ in records) == list(range(1, len(citizens) + 2))
        assert {issue for _, issue in records} == {"000.00.04.H04-261126-0001"}
        assert accesses == (len(citizens) + 1,)
        assert head == (len(citizens) + 1,)
    finally:
        client.close()
        for process in (floor, mock):
            if process is not None:
                process.terminate()
                process.wait(timeout=20)
