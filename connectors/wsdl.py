"""Binding a WSDL with zeep once, at start-up, from the local copy under ``schemas/``.

zeep reads the WSDL and its XSD imports from files (a transport that refuses any network URL
makes sure nothing is fetched), and gives the operations' SOAPAction and request/response element
names. ``SoapContract.require`` checks that the operations a connector relies on are there with
the elements it builds and reads, so a changed WSDL fails at start-up, not on the first call.

zeep is kept for the contract (and for ``serialize``, measured in ``bench/connector_bench.py``);
the hot operations are built and read with lxml, and signatures are checked by
``security.wsse``, never by zeep.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import zeep
from lxml import etree
from zeep.transports import Transport as ZeepTransport


class WsdlContractError(RuntimeError):
    """Raised at start-up when the WSDL lacks an operation or element the connector relies on."""


class LocalOnlyTransport(ZeepTransport):
    """A zeep transport that loads documents from local files only (never the network)."""

    def load(self, url: str) -> bytes:
        scheme = urlparse(url).scheme
        if scheme in ("http", "https"):
            raise WsdlContractError("the WSDL refers to a remote document; only local files load")
        path = Path(url[len("file://") :] if scheme == "file" else url)
        return path.read_bytes()


@dataclass(frozen=True, slots=True)
class SoapOperation:
    """One document/literal operation: its SOAPAction and its body elements (Clark names)."""

    name: str
    soap_action: str
    request_element: str
    response_element: str


class SoapContract:
    """The operations of one WSDL service, bound by zeep from a local file."""

    def __init__(self, client: Any, operations: Mapping[str, SoapOperation]) -> None:
        self.client = client
        self.operations = dict(operations)

    @classmethod
    def from_wsdl(cls, path: Path | str) -> SoapContract:
        """Bind ``path`` (imports resolved beside it, nothing fetched) and read its operations."""
        settings = zeep.Settings(strict=True, forbid_dtd=True, forbid_entities=True)
        try:
            transport = LocalOnlyTransport()  # type: ignore[no-untyped-call]
            client = zeep.Client(  # type: ignore[no-untyped-call]
                str(path), transport=transport, settings=settings
            )
        except WsdlContractError:
            raise
        except Exception as exc:
            raise WsdlContractError(f"cannot bind the WSDL {Path(path).name}: {exc}") from exc
        operations: dict[str, SoapOperation] = {}
        for service in client.wsdl.services.values():
            for port in service.ports.values():
                for name, operation in port.binding._operations.items():
                    operations[name] = SoapOperation(
                        name=name,
                        soap_action=operation.soapaction or "",
                        request_element=_body_element(operation.input),
                        response_element=_body_element(operation.output),
                    )
        return cls(client, operations)

    def require(self, expected: Mapping[str, tuple[str, str]]) -> None:
        """Check each ``operation -> (request element, response element)`` is in the WSDL."""
        for name, (request, response) in expected.items():
            operation = self.operations.get(name)
            if operation is None:
                raise WsdlContractError(f"the WSDL has no operation {name}")
            if (operation.request_element, operation.response_element) != (request, response):
                raise WsdlContractError(f"the WSDL's {name} uses other body elements than expected")

    def operation(self, name: str) -> SoapOperation:
        """The operation called ``name``."""
        try:
            return self.operations[name]
        except KeyError:
            raise WsdlContractError(f"the WSDL has no operation {name}") from None

    def serialize(self, operation: str, **values: Any) -> etree._Element:
        """zeep's own envelope for ``operation`` (used to compare costs; not on the hot path)."""
        envelope: etree._Element = self.client.create_message(
            self.client.service, operation, **values
        )
        return envelope


def _body_element(message: Any) -> str:
    body = getattr(message, "body", None)
    qname = getattr(body, "qname", None)
    if qname is None:
        raise WsdlContractError("an operation's message has no document/literal body element")
    return str(qname)


__all__ = ["LocalOnlyTransport", "SoapContract", "SoapOperation", "WsdlContractError"]
