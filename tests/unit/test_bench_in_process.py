"""The in-process benches run to the end on the code as it is (tiny runs; no timing asserted).

They fake parts of the adapter (a verifier, a signer, the population database); a change to an
interface they stand in for must fail here, not on the next person who measures. The adapter
bench's checks outside the floor (``bench/adapter_checks.py``) must time the adapter's own
checks: the same functions, given hostile inputs, refuse them.
"""

from __future__ import annotations

import copy
import dataclasses
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
from security.http_signatures import HttpVerifier, RequestView
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


def _signed_by_adapter(
    verifier: HttpVerifier,
    url: str,
    request_headers: dict[str, str],
    status: int,
    headers: list[tuple[str, str]],
    body: bytes,
) -> bool:
    """Whether the answer to ``GET url`` carries the adapter's signature, bound to the request."""
    request = RequestView("GET", url, request_headers)
    return (
        verifier.verify_response(status, headers, body, request=request, expected_keyid="adapter")
        == "adapter"
    )


# ------------------------------------------------------------------ bench/adapter_checks.py


def _load_adapter_checks() -> ModuleType:
    """``bench/adapter_checks.py`` as a module (the bench folder is not a package; the
    modules beside it are found on ``sys.path``, as when it runs as a script)."""
    if str(BENCH) not in sys.path:
        sys.path.insert(0, str(BENCH))
    import adapter_checks

    return adapter_checks


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
    from security.http_signatures import HttpSigner, HttpVerifier, TrustedKeyDirectory
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
            assert _signed_by_adapter(verifier, url, headers, status, answer_headers, body)
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


# ------------------------------------------------------------------ bench/adapter_clocked.py


@pytest.mark.parametrize("detail", [False, True], ids=["clock", "detailed-clock"])
async def test_clocked_adapter_answers_and_its_stages_add_up(
    keys: Path, tmp_path: Path, detail: bool
) -> None:
    """The adapter served through the stage clock answers a signed lookup as the adapter does
    (its answer's signature verifies, bound to the request; a tampered request is refused), and
    the clock's readings over the lookups charge every stage something (``route_middleware`` too
    when detailed), the wrapped stages no more than the event loop thread's CPU, and all stages
    together the process's CPU."""
    import json

    from connectors.http_client import ConnectionPool
    from security.http_signatures import HttpSigner, HttpVerifier, TrustedKeyDirectory
    from security.keys import load_party
    from security.trust import TrustStore

    if str(BENCH) not in sys.path:
        sys.path.insert(0, str(BENCH))
    from adapter_bench import adapter_environment, purpose_dossier
    from adapter_clocked import (
        CLOCK_PATH,
        DETAIL,
        DETAIL_STAGES,
        PART_PREFIX,
        ROUTE_PARTS,
        STAGES,
        stages_per_lookup,
    )
    from harness import free_port, start_child

    mock_port, adapter_port = free_port(), free_port()
    mock_url = f"http://127.0.0.1:{mock_port}"
    data = tmp_path / "data"
    data.mkdir()
    mock = start_child(
        str(BENCH / "adapter_bench.py"), ["--serve-mock", str(mock_port), str(keys)], mock_port
    )
    adapter = None
    client = ConnectionPool(max_connections=4, connect_timeout=5.0)
    try:
        adapter = start_child(
            str(BENCH / "adapter_clocked.py"),
            [str(adapter_port)],
            adapter_port,
            env={
                **adapter_environment(data, keys, mock_url, 1, "", False),
                DETAIL: "1" if detail else "0",
            },
        )
        base = f"http://127.0.0.1:{adapter_port}"
        trust = TrustStore.from_pem_file(keys / "ca" / "cert.pem")
        signer = HttpSigner(load_party(keys, "province-app"), ttl=60)
        verifier = HttpVerifier(TrustedKeyDirectory(keys, trust), None)
        _, _, listing = await client.request(
            "GET", f"{mock_url}/_admin/population/citizens?limit=1", {}, None
        )
        citizen = json.loads(listing)["citizens"][0]["citizen_id"]
        issue = "000.00.04.H04-261126-0001"
        dossier = purpose_dossier(citizen)
        url = f"{base}/v1/dossiers/{issue}"
        body = json.dumps(dossier).encode()
        headers = {"content-type": "application/json"}
        headers.update(signer.sign_request("PUT", url, headers, body))
        status, _, _ = await client.request("PUT", url, headers, body)
        assert status in (200, 201), status

        async def clock() -> dict[str, Any]:
            status, _, content = await client.request("GET", base + CLOCK_PATH, {}, None)
            assert status == 200, status
            return dict(json.loads(content))

        def signed_lookup() -> tuple[str, dict[str, str]]:
            url = f"{base}/v1/citizens/{citizen}"
            headers = {"X-User-Id": "VN001090000001", "X-Issue": issue}
            headers.update(signer.sign_request("GET", url, headers, b""))
            return url, headers

        before = await clock()
        lookups = 5
        for _ in range(lookups):
            url, headers = signed_lookup()
            status, answer_headers, content = await client.request("GET", url, headers, None)
            assert status == 200, content[:300]
            assert _signed_by_adapter(verifier, url, headers, status, answer_headers, content)
            assert json.loads(content)["citizen_id"] == citizen
        after = await clock()
        url, headers = signed_lookup()
        tampered = {**headers, "X-Issue": "000.00.04.H04-261126-0002"}  # not what was signed
        status, _, _ = await client.request("GET", url, tampered, None)
        assert status == 401

        figures = stages_per_lookup(before, after, lookups)
        stages = DETAIL_STAGES if detail else STAGES
        assert [stage for stage in DETAIL_STAGES if stage in figures] == list(stages)
        for stage in stages:
            assert figures[stage] > 0.0, (stage, figures)
        loop = (after["event_loop_seconds"] - before["event_loop_seconds"]) / lookups * 1000
        wrapped = sum(figures[stage] for stage in stages[:-1]) - figures["log_writes_driver"]
        assert wrapped <= loop
        assert sum(figures[stage] for stage in stages) <= figures["process"] * (1 + 1e-9)
        assert after["entries"] > before["entries"] + lookups * 6  # six wrapped calls at least
        if detail:  # every part of route_middleware charged, together route_middleware
            parts = {part for part, *_ in ROUTE_PARTS}
            assert {key for key in figures if key.startswith(PART_PREFIX)} == {
                PART_PREFIX + part for part in (*parts, "own")
            }
            for part in parts:
                assert figures[PART_PREFIX + part] > 0.0, (part, figures)
                assert figures[f"calls:{part}"] > 0.0, (part, figures)
            assert figures["route_middleware"] == pytest.approx(
                sum(figures[PART_PREFIX + part] for part in (*parts, "own"))
            )
            assert figures["gc"] >= 0.0
        else:
            assert not any(key.startswith(PART_PREFIX) for key in figures)
            assert "gc" not in figures
    finally:
        client.close()
        for process in (adapter, mock):
            if process is not None:
                process.terminate()
                process.wait(timeout=20)


def _load_adapter_clocked() -> ModuleType:
    if str(BENCH) not in sys.path:
        sys.path.insert(0, str(BENCH))
    import adapter_clocked

    return adapter_clocked


class _FakeClock:
    """A thread clock that moves only when the test says CPU was spent."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def spend(self, seconds: float) -> None:
        self.now += seconds


def test_stage_clock_charges_nested_stages_once() -> None:
    """A stage called inside another is charged its own time only; the outer stage its own; the
    caller's time outside both nothing; what a wrapped function calls unwrapped counts with it."""
    clocked = _load_adapter_clocked()
    fake = _FakeClock()
    clock = clocked.StageClock(fake)

    def unwrapped_helper() -> None:
        fake.spend(0.5)

    def inner() -> str:
        fake.spend(2.0)
        unwrapped_helper()
        return "inner"

    timed_inner = clock.wrap(inner, "rfc9421")

    def outer() -> str:
        fake.spend(1.0)
        answer = str(timed_inner())
        fake.spend(4.0)
        return answer

    timed_outer = clock.wrap(outer, "log_writes")
    fake.spend(8.0)  # outside any stage
    assert timed_outer() == "inner"
    fake.spend(16.0)
    assert clock.seconds == {
        "rfc9421": 2.5,
        "ws_security": 0.0,
        "log_writes": 5.0,
        "answer_reading": 0.0,
        "route_middleware": 0.0,
        "server_loop_client": 0.0,
    }
    assert clock.entries == 2


async def test_route_parts_are_outermost_only_stages() -> None:
    """A part (``outermost``) is charged like a stage, exclusively of the stages and parts it
    calls; entered inside itself it calls through (charged and counted once); a coroutine part
    only while it runs. A detailed clock counts its entries per stage."""
    import asyncio

    clocked = _load_adapter_clocked()
    fake = _FakeClock()
    clock = clocked.DetailedStageClock(fake)

    def sign() -> None:
        fake.spend(8.0)

    timed_sign = clock.wrap(sign, "rfc9421")

    def inner_part(depth: int) -> None:
        fake.spend(1.0)
        if depth:
            timed_inner(depth - 1)  # the part inside itself
        else:
            timed_sign()

    timed_inner = clock.wrap(inner_part, "metrics", outermost=True)
    waiting = asyncio.Event()

    async def outer_part() -> None:
        fake.spend(2.0)
        timed_inner(2)
        await waiting.wait()
        fake.spend(4.0)

    timed_outer = clock.wrap(outer_part, "front", outermost=True)
    assert asyncio.iscoroutinefunction(timed_outer)
    task = asyncio.create_task(timed_outer())
    await asyncio.sleep(0)
    fake.spend(100.0)  # another task's while the part waits
    waiting.set()
    await task
    assert clock.seconds["front"] == 6.0
    assert clock.seconds["metrics"] == 3.0
    assert clock.seconds["rfc9421"] == 8.0
    assert clock.part_entries == {"metrics": 1, "front": 1}
    assert clock.stage_entries["metrics"] == 1
    assert clock.stage_entries["front"] == 2  # its two steps
    assert clock.stage_entries["rfc9421"] == 1
    plain = clocked.StageClock(fake)
    plain.wrap(sign, "rfc9421")()
    assert not hasattr(plain, "stage_entries")


def test_route_parts_can_be_chosen() -> None:
    """Only the parts named are wrapped (the others' functions stay the originals); a name that
    is no part is refused."""
    clocked = _load_adapter_clocked()
    clock = clocked.DetailedStageClock()
    chosen = frozenset({"resilience"})
    replaced = clocked.install_parts(clock, chosen)
    try:
        assert {wrapper.__name__ for wrapper in replaced.values()} == {"call"}
        assert set(clock.part_entries) == {"resilience"}
    finally:
        for original, wrapper in replaced.items():
            for part, module_name, owner_name, names in clocked.ROUTE_PARTS:
                if part in chosen and owner_name is not None:
                    owner = getattr(sys.modules[module_name], owner_name)
                    for name in names:
                        if vars(owner).get(name) is wrapper:
                            setattr(owner, name, original)
    from connectors.resilience import Resilience

    assert not hasattr(Resilience.call, "__wrapped__")
    with pytest.raises(ValueError, match="no such parts"):
        clocked.install_parts(clock, frozenset({"nothing"}))


def test_gc_clock_times_collections_on_its_thread() -> None:
    """The garbage collector's clock adds each collection's time on its thread, counts it by
    generation, and ignores other threads."""
    import threading

    clocked = _load_adapter_clocked()
    fake = _FakeClock()
    gc_clock = clocked.GcClock(threading.get_ident(), fake)
    gc_clock("start", {"generation": 0, "collected": 0})
    fake.spend(0.5)
    gc_clock("stop", {"generation": 0, "collected": 7})
    gc_clock("start", {"generation": 2, "collected": 0})
    fake.spend(0.25)
    gc_clock("stop", {"generation": 2, "collected": 1})
    other = threading.Thread(target=gc_clock, args=("stop", {"generation": 1, "collected": 9}))
    other.start()
    other.join()
    assert gc_clock.readings() == {"seconds": 0.75, "collections": [1, 0, 1], "collected": 8}


async def test_stage_clock_times_a_coroutine_only_while_it_runs() -> None:
    """A wrapped coroutine is charged for its steps, not for what other tasks spend while it
    waits; an exception raised inside it comes out unchanged, its stage charged all the same."""
    import asyncio

    clocked = _load_adapter_clocked()
    fake = _FakeClock()
    clock = clocked.StageClock(fake)
    waiting = asyncio.Event()

    async def lookup() -> str:
        fake.spend(1.0)
        await waiting.wait()
        fake.spend(2.0)
        return "done"

    async def failing() -> None:
        fake.spend(0.25)
        await asyncio.sleep(0)
        raise ValueError("refused")

    timed = clock.wrap(lookup, "ws_security")
    assert asyncio.iscoroutinefunction(timed)
    task = asyncio.create_task(timed())
    await asyncio.sleep(0)
    fake.spend(100.0)  # another task's CPU while the lookup waits
    waiting.set()
    assert await task == "done"
    assert clock.seconds["ws_security"] == 3.0
    with pytest.raises(ValueError, match="refused"):
        await clock.wrap(failing, "answer_reading")()
    assert clock.seconds["answer_reading"] == 0.25
    assert clock.seconds["rfc9421"] == clock.seconds["log_writes"] == 0.0


def test_stage_figures_split_the_process_cpu() -> None:
    """``stages_per_lookup``: the wrapped stages as read, the driver threads' CPU (the process's
    less the event loop's) in the log writes, the rest of the loop's as server_loop_client; all of
    them together are the process's CPU."""
    clocked = _load_adapter_clocked()
    zero = {
        "stages": dict.fromkeys(clocked.WRAPPED_STAGES, 0.0),
        "event_loop_seconds": 0.0,
        "process_seconds": 0.0,
        "entries": 0,
        "coroutines": 0,
        "entry_cost_seconds": 1e-6,
        "coroutine_cost_seconds": 1e-6,
    }
    after = {
        **zero,
        "stages": {
            **zero["stages"],
            "rfc9421": 0.2,
            "ws_security": 0.5,
            "log_writes": 0.1,
            "answer_reading": 0.05,
        },
        "event_loop_seconds": 1.25,
        "process_seconds": 1.5,
        "entries": 10_000,
        "coroutines": 1000,
    }
    figures = clocked.stages_per_lookup(zero, after, 1000)
    assert figures["log_writes_driver"] == pytest.approx(0.25)
    assert figures["log_writes"] == pytest.approx(0.35)
    assert figures["server_loop_client"] == pytest.approx(0.4)
    assert sum(figures[stage] for stage in clocked.STAGES) == pytest.approx(1.5)
    assert figures["clock_overhead"] == pytest.approx(0.011)
    assert "route_middleware" not in figures
    detailed = {
        **after,
        "detail": True,
        "stages": {**after["stages"], "route_middleware": 0.15, "server_loop_client": 0.05},
    }
    figures = clocked.stages_per_lookup(zero, detailed, 1000)
    assert figures["route_middleware"] == pytest.approx(0.15)
    assert figures["server_loop_client"] == pytest.approx(0.25)  # its wrapped part in the rest
    assert sum(figures[stage] for stage in clocked.DETAIL_STAGES) == pytest.approx(1.5)
    assert not any(key.startswith(clocked.PART_PREFIX) for key in figures)
    with_parts = {
        **detailed,
        "stages": {**detailed["stages"], "purpose": 0.04, "metrics": 0.02},
        "part_entries": {"purpose": 1000, "metrics": 5000},
        "stage_entries": {"route_middleware": 1000, "purpose": 1000, "metrics": 5000},
        "part_entry_cost_seconds": 1e-6,
        "gc": {"seconds": 0.003, "collections": [40, 4, 1], "collected": 500},
    }
    zero_gc = {**zero, "gc": {"seconds": 0.0, "collections": [0, 0, 0], "collected": 0}}
    figures = clocked.stages_per_lookup(zero_gc, with_parts, 1000)
    assert figures["route_middleware"] == pytest.approx(0.21)  # its own and its parts
    assert figures[clocked.PART_PREFIX + "own"] == pytest.approx(0.15)
    assert figures[clocked.PART_PREFIX + "purpose"] == pytest.approx(0.04)
    assert figures["calls:metrics"] == pytest.approx(5.0)
    assert figures["entries:purpose"] == pytest.approx(1.0)
    assert figures["server_loop_client"] == pytest.approx(0.19)
    assert sum(figures[stage] for stage in clocked.DETAIL_STAGES) == pytest.approx(1.5)
    assert figures["gc"] == pytest.approx(0.003)
    assert figures["gc_collections"] == pytest.approx(0.045)
