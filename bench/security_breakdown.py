"""Where WS-Security sign + verify's time goes against its floor, step by step; its instructions.

``python bench/security_bench.py --breakdown`` (or this file) times each step of
``sign_envelope`` (from an lxml element, as the connectors sign) and of ``verify_envelope``
(from the signed bytes), calling the package's own step functions on the same 5 KB envelope as
``bench/security_bench.py``. Beside each step it times the libxml2 and ECDSA calls the floor
makes for that step (``security_floor.floor_flow``: the same calls in one flow, no Python in
between), so the third column is the step's own Python work. The steps' sum is printed against
the end-to-end figures (a step timed alone runs with warm caches, so the sum comes out lower:
the Python between the C calls also costs the C calls their cached state).

``python bench/security_bench.py --callgrind`` re-runs this file under valgrind and prints the
instructions per sign + verify for ours and for the floor: counts that do not depend on the
machine's load. It runs::

    valgrind --tool=callgrind --toggle-collect=starmap_next --dump-before=itertools_starmap \\
        --callgrind-out-file=DIR/callgrind.out \\
        .venv/bin/python bench/security_breakdown.py --calls N

``--calls N`` signs and verifies N fresh trees through one ``itertools.starmap`` and runs the
floor over N more through a second one: only what runs inside ``starmap`` is counted, each
stage dumped to its own file (``.2`` ours, the final dump the floor); divide by N.
``PYTHONHASHSEED=0`` keeps the counts the same from run to run. ``--root DIR`` counts the package
of another checkout (``--callgrind --root /path/to/main`` for a "before" figure).
``--simulate`` (with ``--callgrind``) adds callgrind's cache and branch-predictor simulation:
L1 misses and mispredicted branches per sign + verify, ours and the floor's (what makes the
Python between the C calls cost more time than its share of instructions).
``--callgrind-steps [N]`` counts each step of the breakdown and the floor's calls for it the same
way (``--step-calls N`` under valgrind): the Python work of each step in instructions.
``--whole`` prints only the end-to-end figures, as one JSON line (``bench/security_compiled.py``
runs it on a copy of the package compiled by mypyc, given as ``--root``).
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import hashlib
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from lxml import etree

ROOT = Path(__file__).resolve().parent.parent
# ``--root DIR``: the package code of another checkout (the fixture and the floor stay this one's)
CODE = Path(sys.argv[sys.argv.index("--root") + 1]).resolve() if "--root" in sys.argv else ROOT
sys.path.insert(0, str(CODE))

from security import algorithms  # noqa: E402
from security.keys import Credentials, load_party  # noqa: E402
from security.pki import init_dev_pki  # noqa: E402
from security.trust import TrustStore  # noqa: E402
from security.wsse import WSU_NS, sign_envelope, verify_envelope  # noqa: E402
from security.wsse import sign as signing  # noqa: E402
from security.wsse import structure as structure  # noqa: E402
from security.wsse import timestamp as timestamp  # noqa: E402
from security.wsse import token as token  # noqa: E402
from security.wsse import verify as verify_module  # noqa: E402
from security.wsse.c14n import exclusive_c14n  # noqa: E402
from security.wsse.fast_path import signed_as_written  # noqa: E402
from security.wsse.names import (  # noqa: E402
    DEFAULT_MAX_SKEW,
    DEFAULT_MAX_VALIDITY,
    DEFAULT_TTL,
    ECDSA_SHA256,
    EXC_C14N,
    SIGNATURE_METHODS,
)
from security.wsse.signed_info import checked_algorithm, prefix_list  # noqa: E402
from security.xml import DEFAULT_LIMITS, parse_xml  # noqa: E402

ENVELOPE = ROOT / "tests" / "fixtures" / "security" / "envelope_5k.xml"
ROUNDS = 7
NUMBER = 400
CALLGRIND_CALLS = 200
_ECDSA = ec.ECDSA(hashes.SHA256())
_C14N = frozenset((EXC_C14N,))


class Step(NamedTuple):
    side: str
    name: str
    ours: Callable[[], object]
    floor: Callable[[], object] | None  # the floor's libxml2 / ECDSA calls for this step


class Setup(NamedTuple):
    credentials: Credentials
    trust: TrustStore
    declared: bytes  # the unsigned envelope as a connector builds it (wsu declared on the root)
    signed: bytes


def setup(folder: Path) -> Setup:
    init_dev_pki(folder)
    credentials = load_party(folder, "adapter")
    trust = TrustStore.from_pem_file(folder / "ca" / "cert.pem")
    envelope = ENVELOPE.read_bytes()
    declared = envelope.replace(
        b"<soapenv:Envelope ", b'<soapenv:Envelope xmlns:wsu="' + WSU_NS.encode() + b'" ', 1
    )
    return Setup(credentials, trust, declared, sign_envelope(envelope, credentials))


def _c14n(element: etree._Element) -> bytes:
    return etree.tostring(element, method="c14n", exclusive=True)


def _sign_steps(s: Setup) -> list[Step]:
    credentials, key = s.credentials, s.credentials.key
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    root = etree.fromstring(s.declared)
    header, parts = signing.signing_parts(root)
    created = dt.datetime.now(dt.UTC)
    stem = os.urandom(6).hex()
    part_ids, canonical_parts = signing.identify_parts(parts, stem)
    timestamp_content = signing.timestamp_text(created, DEFAULT_TTL, stem)
    canonical = signing.signed_info_text(
        ECDSA_SHA256, stem, list(part_ids), list(canonical_parts), timestamp_content
    )
    value = algorithms.sign(key, algorithms.ECDSA_P256_SHA256, canonical)
    security = signing.security_header(credentials, stem, timestamp_content, canonical, value)
    sha256, ids = hashlib.sha256, [part_id.decode() for part_id in part_ids]
    all_canonical = [*canonical_parts, timestamp_content]

    def set_and_c14n() -> None:
        for part_id, part in zip(ids, parts, strict=True):
            part.set(signing.WSU_ID, part_id)
            _c14n(part)

    def setup_values() -> None:
        signing._scheme_of(credentials)
        (None or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
        os.urandom(6).hex()

    return [
        Step("sign", "shape: Header, Body, X-Road", lambda: signing.signing_parts(root), None),
        Step("sign", "scheme, clock, id stem", setup_values, None),
        Step(
            "sign",
            "ids set + C14N of the parts",
            lambda: signing.identify_parts(parts, stem),
            set_and_c14n,
        ),
        Step(
            "sign",
            "Timestamp text",
            lambda: signing.timestamp_text(created, DEFAULT_TTL, stem),
            None,
        ),
        Step(
            "sign",
            "SignedInfo text (digests)",
            lambda: signing.signed_info_text(
                ECDSA_SHA256, stem, list(part_ids), list(canonical_parts), timestamp_content
            ),
            lambda: [sha256(part).digest() for part in all_canonical],
        ),
        Step(
            "sign",
            "ECDSA sign (raw r||s)",
            lambda: algorithms.sign(key, algorithms.ECDSA_P256_SHA256, canonical),
            lambda: key.sign(canonical, _ECDSA),
        ),
        Step(
            "sign",
            "Security header text",
            lambda: signing.security_header(credentials, stem, timestamp_content, canonical, value),
            None,
        ),
        Step(
            "sign",
            "serialize + splice",
            lambda: signing.serialize(root, header, stem, security),
            lambda: etree.tostring(root, encoding="utf-8"),
        ),
    ]


def _verify_steps(s: Setup) -> list[Step]:
    key = s.credentials.key
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    public = key.public_key()
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    too_deep = etree.XPath("boolean(/" + "*/" * DEFAULT_LIMITS.max_depth + "*)")
    signed, trust = s.signed, s.trust
    root = parse_xml(signed)
    _, body, xroad, security = structure.envelope_parts(root)
    ts, signature, tokens = structure.security_parts(security)
    signed_info, signature_value, key_info, c14n_method = structure.signature_parts(signature)
    canonical = exclusive_c14n(signed_info, prefix_list(c14n_method))
    signed_parts = (*xroad, ts, body)
    ids = structure.document_ids(root)
    when = dt.datetime.now(dt.UTC)
    value = token.decode_base64(signature_value.text, "signature value")
    r, s_ = int.from_bytes(value[:32], "big"), int.from_bytes(value[32:], "big")
    der = encode_dss_signature(r, s_)
    sha256 = hashlib.sha256

    def shape() -> None:
        structure.envelope_parts(root)
        structure.security_parts(security)
        structure.signature_parts(signature)
        checked_algorithm(c14n_method, _C14N, "canonicalization")

    def floor_parse() -> None:
        too_deep(etree.fromstring(signed, parser))

    def certificate() -> None:
        _, signer = token.signer_certificate(key_info, tokens, ids, trust, when)
        scheme = SIGNATURE_METHODS[ECDSA_SHA256]
        assert signer.public_key is not None
        assert scheme in signer.schemes

    def signature_check() -> None:
        decoded = token.decode_base64(signature_value.text, "signature value")
        assert algorithms.verify(public, algorithms.ECDSA_P256_SHA256, decoded, canonical)

    return [
        Step("verify", "parse_xml (limits, DTD, depth)", lambda: parse_xml(signed), floor_parse),
        Step("verify", "shape: envelope, Security, Signature", shape, None),
        Step(
            "verify",
            "SignedInfo C14N",
            lambda: exclusive_c14n(signed_info, prefix_list(c14n_method)),
            lambda: _c14n(signed_info),
        ),
        Step("verify", "ids: unique in the document", lambda: structure.document_ids(root), None),
        Step(
            "verify",
            "SignedInfo against the parts",
            lambda: signed_as_written(canonical, signed_parts, ids),
            lambda: [sha256(_c14n(part)).digest() for part in signed_parts],
        ),
        Step(
            "verify",
            "Timestamp",
            lambda: timestamp.check_timestamp(
                ts,
                dt.datetime.now(dt.UTC).astimezone(dt.UTC),
                DEFAULT_MAX_SKEW,
                DEFAULT_MAX_VALIDITY,
            ),
            None,
        ),
        Step("verify", "certificate, party, scheme", certificate, None),
        Step(
            "verify",
            "ECDSA verify (raw r||s)",
            signature_check,
            lambda: public.verify(der, canonical, _ECDSA),
        ),
    ]


def _per_call(function: Callable[[], object], number: int) -> float:
    start = time.process_time()
    for _ in range(number):
        function()
    return (time.process_time() - start) / number * 1e6


def _whole(s: Setup) -> dict[str, float]:
    """End to end, best of rounds, each on fresh elements: sign alone, sign + verify of each
    message in turn (as ``security_bench.py`` times it), the floor's flow; verify = the
    difference."""
    from security_floor import floor_flow

    key = s.credentials.key
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    floor = floor_flow(key, s.signed)
    credentials, trust = s.credentials, s.trust

    def both(tree: etree._Element) -> None:
        verify_envelope(sign_envelope(tree, credentials), trust)

    def sign(tree: etree._Element) -> None:
        sign_envelope(tree, credentials)

    best = {"sign": float("inf"), "both": float("inf"), "floor": float("inf")}
    for _ in range(ROUNDS):
        for name, run in (("sign", sign), ("both", both), ("floor", floor)):
            trees = [etree.fromstring(s.declared) for _ in range(NUMBER)]
            start = time.process_time()
            for tree in trees:
                run(tree)
            best[name] = min(best[name], (time.process_time() - start) / NUMBER * 1e6)
    best["verify"] = best["both"] - best["sign"]
    return best


def breakdown() -> None:
    """Print the table: per step, ours, the floor's calls for it, and the difference (Python)."""
    with tempfile.TemporaryDirectory() as folder:
        s = setup(Path(folder))
        steps = [*_sign_steps(s), *_verify_steps(s)]
        best: dict[tuple[str, str], list[float]] = {}
        for _ in range(ROUNDS):
            for step in steps:
                ours = _per_call(step.ours, NUMBER)
                floor = _per_call(step.floor, NUMBER) if step.floor is not None else 0.0
                found = best.setdefault((step.side, step.name), [ours, floor])
                found[0], found[1] = min(found[0], ours), min(found[1], floor)
        whole = _whole(s)
    print(f"{'side':7}{'step':40}{'ours µs':>9}{'floor µs':>10}{'Python µs':>11}")
    for side in ("sign", "verify"):
        total = [0.0, 0.0]
        for (step_side, name), (ours, floor) in best.items():
            if step_side == side:
                total[0] += ours
                total[1] += floor
                print(f"{side:7}{name:40}{ours:9.1f}{floor:10.1f}{ours - floor:11.1f}")
        print(
            f"{side:7}{'sum of the steps':40}{total[0]:9.1f}{total[1]:10.1f}"
            f"{total[0] - total[1]:11.1f}   (end to end: {whole[side]:.1f})"
        )
    ours = whole["both"]
    print(
        f"end to end: ours sign + verify {ours:.1f} µs (sign alone {whole['sign']:.1f}); floor "
        f"{whole['floor']:.1f} µs; ratio {ours / whole['floor']:.2f}"
    )


def whole() -> None:
    """One JSON line: µs per sign + verify, ours and the floor's, their ratio, and whether the
    package's verifier runs compiled (an extension module) rather than as bytecode."""
    with tempfile.TemporaryDirectory() as folder:
        best = _whole(setup(Path(folder)))
    found = {
        "ours_us": round(best["both"], 1),
        "floor_us": round(best["floor"], 1),
        "ratio": round(best["both"] / best["floor"], 3),
        "compiled": not str(verify_module.__file__).endswith(".py"),
    }
    print(json.dumps(found))


def _count(calls: int) -> None:
    """Under callgrind: N sign + verify, then N floor flows, each driven by its own starmap."""
    from security_floor import floor_flow

    with tempfile.TemporaryDirectory() as folder:
        s = setup(Path(folder))
        key = s.credentials.key
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        floor = floor_flow(key, s.signed)

        def ours(tree: etree._Element) -> None:
            verify_envelope(sign_envelope(tree, s.credentials), s.trust)

        for _ in range(3):  # warm the caches (certificate, patterns) as a running server has
            ours(etree.fromstring(s.declared))
            floor(etree.fromstring(s.declared))
        ours_trees = [(etree.fromstring(s.declared),) for _ in range(calls)]
        floor_trees = [(etree.fromstring(s.declared),) for _ in range(calls)]
        collections.deque(itertools.starmap(ours, ours_trees), 0)
        collections.deque(itertools.starmap(floor, floor_trees), 0)


def _count_steps(calls: int) -> None:
    """Under callgrind: each step's own calls, then the floor's for it, each through a starmap."""
    with tempfile.TemporaryDirectory() as folder:
        s = setup(Path(folder))
        steps = [*_sign_steps(s), *_verify_steps(s)]
        for step in steps:  # warm, as a running server is
            for _ in range(3):
                step.ours()
                if step.floor is not None:
                    step.floor()
        for step in steps:
            collections.deque(itertools.starmap(step.ours, itertools.repeat((), calls)), 0)
            if step.floor is not None:
                collections.deque(itertools.starmap(step.floor, itertools.repeat((), calls)), 0)


def _collected(path: Path) -> dict[str, int]:
    """The dump's totals by event (Ir; with the simulation, cache misses and mispredictions)."""
    events: list[str] = []
    for line in path.read_text().splitlines():
        if line.startswith("events:"):
            events = line.split()[1:]
        elif line.startswith(("summary:", "totals:")):
            return dict(zip(events, map(int, line.split()[1:]), strict=False))
    raise ValueError(f"no instruction count in {path}")


def _under_callgrind(calls: int, mode: str, simulate: bool = False) -> list[dict[str, int]]:
    """Run this file's ``mode`` (``--calls`` or ``--step-calls``) under callgrind; the counts
    of its starmap stages, in order."""
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "callgrind.out"
        command = [
            "valgrind",
            "--tool=callgrind",
            *(["--cache-sim=yes", "--branch-sim=yes"] if simulate else []),
            "--toggle-collect=starmap_next",
            "--dump-before=itertools_starmap",
            f"--callgrind-out-file={out}",
            sys.executable,
            str(Path(__file__).resolve()),
            mode,
            str(calls),
            "--root",
            str(CODE),
        ]
        subprocess.run(
            command,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": "0"},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        # callgrind.out.1, .2, ... in the order dumped; the final dump (at exit) has no number
        dumps = sorted(
            Path(folder).glob("callgrind.out*"),
            key=lambda path: int(path.suffix[1:]) if path.suffix[1:].isdigit() else 1 << 30,
        )
        return [_collected(path) for path in dumps][1:]  # the first: before any starmap


#: what the simulation adds, per event: L1 instruction and data misses, mispredicted branches
_SIMULATED = {
    "L1 instruction misses": ("I1mr",),
    "L1 data misses": ("D1mr", "D1mw"),
    "conditional branches mispredicted": ("Bcm",),
    "indirect branches mispredicted": ("Bim",),
}


def callgrind(calls: int, simulate: bool = False) -> None:
    """Instructions per sign + verify, ours and the floor's, counted under callgrind; with
    ``simulate``, callgrind's cache and branch-predictor simulation too."""
    counts = _under_callgrind(calls, "--calls", simulate)
    if len(counts) != 2:
        raise SystemExit(f"expected two counted stages, found {len(counts)}")
    ours, floor = counts
    print(
        f"instructions per sign + verify ({calls} calls): ours {ours['Ir'] / calls / 1e6:.3f} M,"
        f" floor {floor['Ir'] / calls / 1e6:.3f} M, ratio {ours['Ir'] / floor['Ir']:.3f}"
    )
    if simulate:
        for label, events in _SIMULATED.items():
            mine = sum(ours[event] for event in events) / calls
            theirs = sum(floor[event] for event in events) / calls
            print(
                f"  {label}: ours {mine / 1e3:.1f} k, floor {theirs / 1e3:.1f} k, "
                f"ratio {mine / theirs:.2f}"
            )


def callgrind_steps(calls: int) -> None:
    """Instructions per step, ours and the floor's calls for it, counted under callgrind."""
    with tempfile.TemporaryDirectory() as folder:
        steps = [*_sign_steps(setup(Path(folder))), *_verify_steps(setup(Path(folder)))]
    counts = iter(_under_callgrind(calls, "--step-calls"))
    print(f"{'side':7}{'step':40}{'ours k':>9}{'floor k':>9}{'Python k':>10}  (instructions)")
    totals = {"sign": [0.0, 0.0], "verify": [0.0, 0.0]}
    for step in steps:
        ours = next(counts)["Ir"] / calls / 1e3
        floor = next(counts)["Ir"] / calls / 1e3 if step.floor is not None else 0.0
        totals[step.side][0] += ours
        totals[step.side][1] += floor
        print(f"{step.side:7}{step.name:40}{ours:9.1f}{floor:9.1f}{ours - floor:10.1f}")
    for side, (ours, floor) in totals.items():
        print(f"{side:7}{'sum of the steps':40}{ours:9.1f}{floor:9.1f}{ours - floor:10.1f}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, help="count mode (run under callgrind)")
    parser.add_argument(
        "--callgrind",
        nargs="?",
        type=int,
        const=CALLGRIND_CALLS,
        help=f"re-run under callgrind with this many calls (default {CALLGRIND_CALLS})",
    )
    parser.add_argument("--step-calls", type=int, help="count mode per step (under callgrind)")
    parser.add_argument(
        "--callgrind-steps",
        nargs="?",
        type=int,
        const=CALLGRIND_CALLS,
        help="instructions per step under callgrind (this checkout's steps)",
    )
    parser.add_argument(
        "--simulate",
        action="store_true",
        help="with --callgrind: cache and branch-predictor simulation too (slower)",
    )
    parser.add_argument("--root", type=Path, help="count another checkout's package")
    parser.add_argument("--whole", action="store_true", help="end to end only, one JSON line")
    args = parser.parse_args(argv)
    if args.whole:
        whole()
    elif args.calls is not None:
        _count(args.calls)
    elif args.step_calls is not None:
        _count_steps(args.step_calls)
    elif args.callgrind_steps is not None:
        callgrind_steps(args.callgrind_steps)
    elif args.callgrind is not None:
        callgrind(args.callgrind, args.simulate)
    else:
        breakdown()


if __name__ == "__main__":
    main()
