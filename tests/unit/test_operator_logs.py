"""Log lines an operator can use: the fields passed reach the output, personal data never."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from adapter_api.request_id import request_id_var
from connectors.base import BreakerSettings, CallContext, RetrySettings, Timeouts, UpstreamConfig
from connectors.errors import UpstreamTimeout
from connectors.exchange import MemoryRecorder
from connectors.population import PopulationConnector, population_contract
from connectors.transport import FakeTransport, HttpResponse
from connectors.upstream import outcome_of
from lienthong import logs
from security.keys import load_party
from security.trust import TrustStore

OFFICIAL = "VN001090000001"
CITIZEN_ID = "001190000007"
DOSSIER = "000.00.04.H04-261126-0007"
MESSAGE_ID = "9b3a3f0e-0000-4000-8000-000000000001"


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """The root logger's lines in a buffer (the handler ``configure_logging`` installs)."""
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    stream = io.StringIO()
    yield stream
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])


def _use(stream: io.StringIO, fmt: logs.LogFormat) -> None:
    logs.configure_logging("info", fmt)
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.StreamHandler) and type(handler).__name__ == "_Handler":
            handler.setStream(stream)


def _slow_connector(keys: Path, recorder: MemoryRecorder) -> PopulationConnector:
    async def never_answers(
        method: str, url: str, headers: Mapping[str, str], body: bytes
    ) -> HttpResponse:
        await asyncio.sleep(5)
        raise AssertionError("the time limit should have cut the attempt off")

    config = UpstreamConfig(
        name="population",
        base_url="http://population.test/population/soap",
        timeouts=Timeouts(connect=0.05, attempt=0.05),
        retry=RetrySettings(attempts=1, deadline=1.0),
        breaker=BreakerSettings(failure_threshold=50),
    )
    return PopulationConnector(
        config,
        credentials=load_party(keys, "adapter"),
        trust=TrustStore.from_pem_file(keys / "ca" / "cert.pem"),
        member_code="H04",
        contract=population_contract(),
        transport=FakeTransport(never_answers),
        recorder=recorder,
    )


@pytest.mark.parametrize("fmt", ["json", "text"])
async def test_a_timed_out_call_logs_its_fields_and_no_personal_data(
    dev_keys: Path, captured: io.StringIO, fmt: logs.LogFormat
) -> None:
    """A lookup cut off by its time limit: the line carries request id, upstream, operation,
    outcome ``timeout`` (not ``CancelledError``), duration, dossier code and message id; the
    official and the citizen looked up appear nowhere."""
    _use(captured, fmt)
    recorder = MemoryRecorder()
    connector = _slow_connector(dev_keys, recorder)
    token = request_id_var.set("req-16")
    try:
        with pytest.raises(UpstreamTimeout):
            await connector.get_citizen(
                CITIZEN_ID, CallContext(MESSAGE_ID, "province-app", OFFICIAL, DOSSIER)
            )
    finally:
        request_id_var.reset(token)
        await connector.aclose()
    assert [exchange.outcome for exchange in recorder.exchanges] == ["timeout"]
    output = captured.getvalue()
    assert OFFICIAL not in output
    assert CITIZEN_ID not in output
    line = next(line for line in output.splitlines() if "upstream call failed" in line)
    if fmt == "json":
        fields = json.loads(line)
        assert fields["request_id"] == "req-16"
        assert (fields["upstream"], fields["operation"]) == ("population", "GetCitizen")
        assert fields["outcome"] == "timeout"
        assert (fields["dossier_code"], fields["message_id"]) == (DOSSIER, MESSAGE_ID)
        assert fields["duration_ms"] >= 40
        assert fields["level"] == "INFO"
    else:
        assert "[req-16]" in line
        for part in (
            "upstream=population",
            "operation=GetCitizen",
            "outcome=timeout",
            f"dossier_code={DOSSIER}",
            f"message_id={MESSAGE_ID}",
            "duration_ms=",
        ):
            assert part in line


def test_fields_outside_the_list_never_reach_the_output(captured: io.StringIO) -> None:
    """A field some code passes that could hold personal data (user_id, name) is left out."""
    _use(captured, "json")
    logging.getLogger("lienthong.test").warning(
        "dead letter",
        extra={"dossier_code": DOSSIER, "user_id": OFFICIAL, "full_name": "Nguyễn Văn An"},
    )
    document = json.loads(captured.getvalue().strip())
    assert document["dossier_code"] == DOSSIER
    assert document["message"] == "dead letter"
    assert "user_id" not in document
    assert "full_name" not in document
    assert OFFICIAL not in captured.getvalue()


def test_an_attempt_cancelled_before_its_limit_is_not_a_timeout() -> None:
    """Cancelled early (the process stopping) is ``cancelled``; after the limit, ``timeout``."""
    assert outcome_of(asyncio.CancelledError(), timed_out=True) == "timeout"
    assert outcome_of(asyncio.CancelledError(), timed_out=False) == "cancelled"
    assert outcome_of(TimeoutError()) == "timeout"


def test_a_dead_letter_is_a_warning_that_names_its_dossier(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A delivery given up on is logged at WARNING with the dossier code and its item."""
    import datetime as dt

    from store.outbox import Claim, DeliveryKind, OutboxItem, Outcome
    from sync.worker import _log_dead_letters

    now = dt.datetime.now(dt.UTC)
    item = OutboxItem(7, DOSSIER, DeliveryKind.PUSH_PROGRESS, {}, f"{DOSSIER}#1", 499, now, now)
    claim = Claim(DOSSIER, "token", now, True, (item,))
    with caplog.at_level(logging.INFO, logger="lienthong.sync"):
        _log_dead_letters(
            [
                Outcome(claim, failed=7, error="UpstreamRejected [1]: refused"),
                Outcome(claim, failed=7, error="retry", retry_at=now),
            ]
        )
    [record] = caplog.records
    assert record.levelno == logging.WARNING
    assert record.dossier_code == DOSSIER  # type: ignore[attr-defined]
    assert record.item_id == 7  # type: ignore[attr-defined]
    assert "UpstreamRejected" in record.getMessage()
