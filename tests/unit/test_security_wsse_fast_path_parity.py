"""``security.wsse.fast_path`` gives the plain reading's answer, or declines: never another one.

Each case is a signed envelope, as signed or changed afterwards (and signed again where the
change should still verify): SignedInfo reordered, under another prefix or none, with
whitespace, a comment, InclusiveNamespaces, an extra element, a foreign algorithm, a tampered or
malformed digest, a reference that is no plain name; a signed part changed. On each, the fast
paths and the plain reading run over the same input and must agree on the outcome (the result,
or the error and its reason); ``verify_envelope`` with its fast paths and without must agree too.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
from collections.abc import Callable
from pathlib import Path

import pytest
from lxml import etree

from security import algorithms, wsse
from security.errors import SecurityError
from security.keys import Credentials, load_party
from security.trust import TrustStore
from security.wsse import fast_path, signed_info, structure
from security.wsse import verify as verify_module
from security.wsse.c14n import exclusive_c14n
from security.wsse.signed_info import prefix_list
from security.xml import parse_xml
from tests.support.security_samples import envelope_bytes

NOW = dt.datetime.now(dt.UTC)
NS = {"ds": wsse.DS_NS, "wsse": wsse.WSSE_NS, "wsu": wsse.WSU_NS, "s": wsse.SOAP11_NS}
Change = Callable[[etree._Element], etree._Element | None]


def _signed_info(root: etree._Element) -> etree._Element:
    found = root.find("s:Header/wsse:Security/ds:Signature/ds:SignedInfo", NS)
    assert found is not None
    return found


def _references(root: etree._Element) -> list[etree._Element]:
    return _signed_info(root).findall("ds:Reference", NS)


def _reorder(root: etree._Element) -> None:
    signed_info_element = _signed_info(root)
    references = _references(root)
    for reference in references:
        signed_info_element.remove(reference)
    signed_info_element.extend(reversed(references))


def _rename_prefix(prefix: str | None) -> Change:
    """SignedInfo (and all below) under the ds namespace as ``prefix`` (None: the default one).

    Done on the text: lxml would give a moved element the prefix its new parent declares.
    """

    def change(root: etree._Element) -> etree._Element:
        data = etree.tostring(root).decode()
        start, end = data.index("<ds:SignedInfo>"), data.index("</ds:SignedInfo>") + 16
        declaration = f"xmlns:{prefix}" if prefix else "xmlns"
        name = f"{prefix}:" if prefix else ""
        text = data[start:end].replace("<ds:", f"<{name}").replace("</ds:", f"</{name}")
        text = text.replace("SignedInfo>", f'SignedInfo {declaration}="{wsse.DS_NS}">', 1)
        return etree.fromstring(data[:start] + text + data[end:])

    return change


def _whitespace(root: etree._Element) -> None:
    for child in _signed_info(root).iter():
        child.tail = "\n  "


def _comment(root: etree._Element) -> None:
    _references(root)[0].addprevious(etree.Comment(" a comment "))


def _inclusive_namespaces(root: etree._Element) -> None:
    transform = _references(root)[0].find("ds:Transforms/ds:Transform", NS)
    assert transform is not None
    inclusive = etree.SubElement(transform, wsse.INCLUSIVE_NAMESPACES, nsmap={"ec": wsse.EXC_C14N})
    inclusive.set("PrefixList", "soapenv")
    reference = _references(root)[0]
    part = root.find(f".//*[@wsu:Id='{str(reference.get('URI'))[1:]}']", NS)
    value = reference.find("ds:DigestValue", NS)
    assert part is not None
    assert value is not None
    canonical = exclusive_c14n(part, ["soapenv"])
    value.text = base64.b64encode(hashlib.sha256(canonical).digest()).decode()


def _extra_element(root: etree._Element) -> None:
    etree.SubElement(_signed_info(root), f"{{{wsse.DS_NS}}}Object")


def _sha1_digest(root: etree._Element) -> None:
    method = _references(root)[0].find("ds:DigestMethod", NS)
    assert method is not None
    method.set("Algorithm", "http://www.w3.org/2000/09/xmldsig#sha1")


def _digest(change: Callable[[str], str]) -> Change:
    def apply(root: etree._Element) -> None:
        value = _references(root)[-1].find("ds:DigestValue", NS)
        assert value is not None
        value.text = change(value.text or "")

    return apply


def _body_id(new_id: str) -> Change:
    """The Body's wsu:Id and its reference renamed consistently, its digest recomputed."""

    def change(root: etree._Element) -> None:
        body = root.find("s:Body", NS)
        assert body is not None
        old = body.get(wsse.WSU_ID)
        body.set(wsse.WSU_ID, new_id)
        reference = _signed_info(root).find(f"ds:Reference[@URI='#{old}']", NS)
        assert reference is not None
        reference.set("URI", "#" + new_id)
        value = reference.find("ds:DigestValue", NS)
        assert value is not None
        canonical = etree.tostring(body, method="c14n", exclusive=True)
        value.text = base64.b64encode(hashlib.sha256(canonical).digest()).decode()

    return change


def _change_body(root: etree._Element) -> None:
    body = root.find("s:Body", NS)
    assert body is not None
    etree.SubElement(body, "x")


def _duplicate_id(root: etree._Element) -> None:
    security = root.find("s:Header/wsse:Security", NS)
    timestamp = root.find("s:Header/wsse:Security/wsu:Timestamp", NS)
    assert security is not None
    assert timestamp is not None
    security.set(wsse.WSU_ID, str(timestamp.get(wsse.WSU_ID)))


def _flip(text: str) -> str:
    return ("B" if text[0] == "A" else "A") + text[1:]


# name -> (change, sign SignedInfo again afterwards)
CASES: dict[str, tuple[Change | None, bool]] = {
    "as signed": (None, False),
    "references reordered": (_reorder, True),
    "prefix dsig": (_rename_prefix("dsig"), True),
    "default namespace": (_rename_prefix(None), True),
    "whitespace": (_whitespace, True),
    "whitespace not signed again": (_whitespace, False),
    "comment": (_comment, True),
    "inclusive namespaces": (_inclusive_namespaces, True),
    "extra element": (_extra_element, True),
    "sha1 digest": (_sha1_digest, True),
    "digest tampered": (_digest(_flip), True),
    "digest tampered not signed again": (_digest(_flip), False),
    "digest too short": (_digest(lambda text: text[1:]), True),
    "digest not base64": (_digest(lambda text: "*" + text[1:]), True),
    "body id not a plain name": (_body_id("9-body"), True),
    "body id with a line feed": (_body_id("a\nb"), True),
    "body id renamed": (_body_id("body-1"), True),
    "body changed": (_change_body, False),
    "id repeated": (_duplicate_id, False),
}


@pytest.fixture(scope="module")
def signer(dev_keys: Path) -> Credentials:
    return load_party(dev_keys, "adapter")


@pytest.fixture(scope="module")
def trust(dev_keys: Path) -> TrustStore:
    return TrustStore.from_pem_file(dev_keys / "ca" / "cert.pem")


def _case(name: str, signer: Credentials) -> bytes:
    change, sign_again = CASES[name]
    root = etree.fromstring(wsse.sign_envelope(envelope_bytes(), signer, now=NOW))
    changed = change(root) if change is not None else None
    if changed is not None:
        root = changed
    if sign_again:
        canonical = exclusive_c14n(_signed_info(root), _inclusive_prefixes(root))
        value = _signed_info(root).getnext()
        assert value is not None
        value.text = base64.b64encode(
            algorithms.sign(signer.key, algorithms.ECDSA_P256_SHA256, canonical)
        ).decode()
    return etree.tostring(root)


def _inclusive_prefixes(root: etree._Element) -> list[str]:
    method = _signed_info(root)[0]
    return prefix_list(method)


def _outcome(run: Callable[[], object]) -> object:
    try:
        return run()
    except SecurityError as exc:
        return (type(exc).__name__, exc.reason)


def _canonical(root: etree._Element) -> tuple[etree._Element, bytes]:
    element = _signed_info(root)
    method = element[0] if len(element) else None
    prefixes = prefix_list(method) if method is not None else []
    return element, exclusive_c14n(element, prefixes)


@pytest.mark.parametrize("name", sorted(CASES))
def test_read_compact_agrees_with_the_plain_reader(name: str, signer: Credentials) -> None:
    """Where the compact reader reads SignedInfo, it reads what the plain reader reads."""
    root = etree.fromstring(_case(name, signer))
    element, canonical = _canonical(root)
    fast = fast_path.read_compact(canonical, element.prefix or "")
    plain = _outcome(lambda: signed_info.read_any_form(element, canonical))
    if fast is not None:
        assert fast == plain
    compact = {"as signed", "references reordered", "prefix dsig", "default namespace"}
    compact |= {"comment", "digest tampered", "body changed", "body id renamed", "id repeated"}
    assert (fast is not None) == (name in compact | {"digest tampered not signed again"})


def _plain_check(
    element: etree._Element,
    canonical: bytes,
    parts: tuple[etree._Element, ...],
    ids: dict[str, etree._Element],
) -> str:
    method, references = signed_info.read_any_form(element, canonical)
    signed_info.check_references(references, parts, ids)
    signed_info.check_digests(references, ids)
    return method


@pytest.mark.parametrize("name", sorted(set(CASES) - {"id repeated"}))
def test_signed_as_written_agrees_with_the_plain_checks(name: str, signer: Credentials) -> None:
    """Where the whole comparison accepts SignedInfo, reading it plainly accepts it too."""
    root = parse_xml(_case(name, signer))
    _, body, xroad, security = structure.envelope_parts(root)
    timestamp, _, _ = structure.security_parts(security)
    parts = (*xroad, timestamp, body)
    ids = structure.document_ids(root)
    element, canonical = _canonical(root)
    fast = fast_path.signed_as_written(canonical, parts, ids)
    plain = _outcome(lambda: _plain_check(element, canonical, parts, ids))
    if fast is not None:
        assert fast == plain == wsse.ECDSA_SHA256
    assert (fast is not None) == (name in {"as signed", "comment", "body id renamed"})


@pytest.mark.parametrize("name", sorted(CASES))
def test_verify_envelope_agrees_without_its_fast_paths(
    name: str, signer: Credentials, trust: TrustStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The whole verification: the same party, or the same error and reason, either way."""
    data = _case(name, signer)
    fast = _outcome(lambda: wsse.verify_envelope(data, trust, now=NOW).party)
    monkeypatch.setattr(verify_module, "signed_as_written", lambda *args: None)
    monkeypatch.setattr(verify_module, "read_compact", lambda *args: None)
    plain = _outcome(lambda: wsse.verify_envelope(data, trust, now=NOW).party)
    assert fast == plain
    accepted = {"as signed", "references reordered", "prefix dsig", "default namespace"}
    accepted |= {"whitespace", "comment", "inclusive namespaces", "body id renamed"}
    assert (fast == "adapter") == (name in accepted)
