"""The portal connector's mapping of the portal's answers, without a network."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pytest

from connectors.base import CallContext, UpstreamConfig
from connectors.errors import (
    AlreadyExists,
    ConnectorError,
    IllegalMove,
    InvalidRequest,
    NotFound,
    OutOfOrder,
    UpstreamRejected,
    UpstreamUnavailable,
)
from connectors.portal import BatchResult, ItemResult, PortalConnector, Procedure
from connectors.transport import FakeTransport, HttpResponse
from security.http_signatures import HttpSigner, HttpVerifier, TrustedKeyDirectory
from security.keys import load_party
from security.trust import TrustStore

CTX = CallContext.new("province-app")


async def _never(method: str, url: str, headers: Mapping[str, str], body: bytes) -> HttpResponse:
    raise AssertionError("no request expected")


@pytest.fixture
def portal(dev_keys: Path) -> PortalConnector:
    """A portal connector whose transport must not be used."""
    trust = TrustStore.from_pem_file(dev_keys / "ca" / "cert.pem")
    return PortalConnector(
        UpstreamConfig(name="portal", base_url="http://portal.test/portal"),
        signer=HttpSigner(load_party(dev_keys, "adapter")),
        verifier=HttpVerifier(TrustedKeyDirectory(dev_keys, trust), None),
        username="lienthong",
        password="x",
        agency_code="000.00.04.H04",
        transport=FakeTransport(_never),
    )


@pytest.mark.parametrize(
    ("code", "error", "fault"),
    [
        ("1", InvalidRequest, "INVALID_INPUT"),
        (2, NotFound, "NOT_FOUND"),
        ("3", AlreadyExists, "ALREADY_EXISTS"),
        ("4", IllegalMove, "ILLEGAL_MOVE"),
        ("5", OutOfOrder, "OUT_OF_ORDER"),
        ("6", UpstreamRejected, "BAD_CREDENTIALS"),
        ("7", UpstreamRejected, "BAD_SIGNATURE"),
        ("8", UpstreamRejected, "UNIT_MISMATCH"),
        ("9", UpstreamUnavailable, "UNAVAILABLE"),
        ("42", UpstreamRejected, "PORTAL_42"),
        (True, UpstreamRejected, "PORTAL_?"),
    ],
)
def test_error_codes_map_to_the_tree(
    portal: PortalConnector, code: object, error: type[ConnectorError], fault: str
) -> None:
    """Each portal error_code becomes its error class with a stable fault code."""
    exc = portal.error_for_code("DongBoHoSoMC", code, CTX, 200)
    assert type(exc) is error
    assert exc.fault_code == fault
    assert exc.message_id == CTX.message_id


def test_procedure_is_read_from_the_portal_item() -> None:
    """A LayThuTuc item maps to a Procedure; numbers may arrive as digit strings."""
    item = {
        "MaTTHC": "1.001193",
        "TenTTHC": "Đăng ký khai sinh",
        "MaLinhVuc": "TP.HT",
        "TenLinhVuc": "Hộ tịch",
        "ThoiHanGiaiQuyet": "1",
        "LePhi": 0,
    }
    procedure = Procedure.from_portal(item)
    assert (procedure.code, procedure.processing_days, procedure.fee_vnd) == ("1.001193", 1, 0)
    assert procedure.agency is None
    with pytest.raises(ValueError, match="lacks"):
        Procedure.from_portal({"MaTTHC": "1.001193"})


def test_batch_result_reports_failed_items() -> None:
    """A batch is ok only when every item is; failed lists the refused ones."""
    refused = ItemResult("c2", None, AlreadyExists("x", upstream="portal"))
    result = BatchResult((ItemResult("c1", None, None), refused))
    assert not result.ok
    assert result.failed == (refused,)
    assert BatchResult(()).ok


async def test_empty_batches_send_nothing(portal: PortalConnector) -> None:
    """Syncing no dossiers and pushing no events make no call at all."""
    assert (await portal.sync_dossiers([], is_updating=False, ctx=CTX)).items == ()
    assert (await portal.push_progress([], CTX)).items == ()


def test_batch_size_must_be_positive(dev_keys: Path) -> None:
    """A batch size of zero is a configuration error."""
    trust = TrustStore.from_pem_file(dev_keys / "ca" / "cert.pem")
    with pytest.raises(ValueError, match="batch_size"):
        PortalConnector(
            UpstreamConfig(name="portal", base_url="http://portal.test"),
            signer=HttpSigner(load_party(dev_keys, "adapter")),
            verifier=HttpVerifier(TrustedKeyDirectory(dev_keys, trust), None),
            username="u",
            password="p",
            agency_code="a",
            batch_size=0,
            transport=FakeTransport(_never),
        )
