"""The registered API clients: who may call, with which key, for which operations and sectors.

A client is identified by its signing key: its ``id`` is the RFC 9421 ``keyid`` (the party name of
docs/design.md). The clients file (JSON or TOML) lists them::

    [[clients]]
    id = "province-app"
    role = "province"                       # province | ministry | integrator | operator
    certificate = "keys/province-app/cert.pem"   # path (relative to the file), or
    # certificate_pem = "-----BEGIN CERTIFICATE-----..."  or  public_key_pem = "..."
    operations = ["citizens.read", "..."]  # optional: the role's defaults otherwise
    organisation = "UBND tỉnh ..."          # optional: shown in the access log
    sectors = ["TP.HT", "TP.CT"]          # a ministry: the sectors whose dossiers it sees
    citizen_fields = ["citizen_id", "full_name"]  # optional: the role's defaults otherwise
    standing_purposes = ["bhxh-dong-bo"]  # optional: purposes that allow watching citizens
    rate_limits = { "*" = "6000/60", "citizens.verify" = "60/60" }  # optional: calls/seconds
    verify_daily_budget = 5               # optional: verify calls per citizen per day

``rate_limits`` maps an operation (or ``*``, every other one) to ``"CALLS/SECONDS"``; an
operation it does not name gets the adapter's default (settings ``rate_limit_requests`` per
``rate_limit_window_seconds``), as does a client without it; likewise ``verify_daily_budget``
(settings ``verify_daily_budget``).
    webhook_urls = ["https://hooks.example.gov.vn/lienthong"]  # optional: the only URLs its
                                          # webhook subscriptions may name (exact match)

A certificate must chain to the trust store; a bare public key is trusted as registered.
Sandbox mode registers ``province-app``, ``ministry`` and ``integrator`` from the dev PKI.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from push.errors import PushConfigError
from push.webhooks.urls import check_allow_list_entry
from security.errors import KeyLoadError
from security.keys import PublicKey, load_certificate


class ClientConfigError(ValueError):
    """Raised when the clients file is unreadable or describes a client wrongly."""


@dataclass(frozen=True)
class RateLimit:
    """At most ``calls`` calls per fixed window of ``seconds`` seconds."""

    calls: int
    seconds: int

    @classmethod
    def parse(cls, text: object, *, where: str = "rate limit") -> RateLimit:
        """``"CALLS/SECONDS"`` (``"600/60"``) as a :class:`RateLimit`."""
        calls, _, seconds = str(text).partition("/")
        try:
            limit = cls(int(calls), int(seconds))
        except ValueError:
            limit = cls(0, 0)
        if limit.calls < 1 or not 1 <= limit.seconds <= 86400:
            raise ClientConfigError(
                f"{where}: expected 'CALLS/SECONDS' (1 to 86400 s), not {text!r}"
            )
        return limit


class Role(StrEnum):
    """What kind of caller a client is; decides its default operations."""

    PROVINCE = "province"
    MINISTRY = "ministry"
    INTEGRATOR = "integrator"
    OPERATOR = "operator"


class Operation(StrEnum):
    """One thing a client may be allowed to do (the allow-list's vocabulary)."""

    CITIZENS_READ = "citizens.read"
    CITIZENS_VERIFY = "citizens.verify"
    BUSINESSES_READ = "businesses.read"
    DOSSIERS_WRITE = "dossiers.write"
    DOSSIERS_READ = "dossiers.read"
    ACCESS_LOG_READ = "access_log.read"
    SERVICES_READ = "services.read"
    WATCH_WRITE = "watch.write"
    CHANGES_READ = "changes.read"
    REPORTS_READ = "reports.read"
    APOLOGIES_WRITE = "apologies.write"
    SUBSCRIPTIONS_WRITE = "subscriptions.write"
    NOTICES_WRITE = "notices.write"


#: The citizen fields of the canonical model, in the order a response lists them.
CITIZEN_FIELDS: tuple[str, ...] = (
    "citizen_id",
    "full_name",
    "date_of_birth",
    "sex",
    "place_of_origin",
    "permanent_address",
    "current_address",
    "nationality",
    "ethnicity",
)
_MINIMAL_CITIZEN_FIELDS = frozenset({"citizen_id", "full_name", "date_of_birth", "sex"})

DEFAULT_OPERATIONS: Mapping[Role, frozenset[Operation]] = {
    Role.PROVINCE: frozenset(Operation),
    Role.MINISTRY: frozenset(
        {
            Operation.DOSSIERS_READ,
            Operation.SERVICES_READ,
            Operation.CHANGES_READ,
            Operation.REPORTS_READ,
            Operation.SUBSCRIPTIONS_WRITE,
        }
    ),
    Role.INTEGRATOR: frozenset(
        {
            Operation.CITIZENS_VERIFY,
            Operation.BUSINESSES_READ,
            Operation.DOSSIERS_READ,
            Operation.SERVICES_READ,
        }
    ),
    Role.OPERATOR: frozenset(
        {Operation.SERVICES_READ, Operation.ACCESS_LOG_READ, Operation.DOSSIERS_READ}
    ),
}
DEFAULT_CITIZEN_FIELDS: Mapping[Role, frozenset[str]] = {
    Role.PROVINCE: frozenset(CITIZEN_FIELDS),
    Role.MINISTRY: _MINIMAL_CITIZEN_FIELDS,
    Role.INTEGRATOR: _MINIMAL_CITIZEN_FIELDS,
    Role.OPERATOR: _MINIMAL_CITIZEN_FIELDS,
}


@dataclass(frozen=True)
class ApiClient:
    """One registered caller.

    ``sectors`` is ``None`` for a client that sees every sector; a ministry has a set (maybe
    empty). Exactly one of ``certificate`` and ``public_key`` is set.
    """

    client_id: str
    role: Role
    operations: frozenset[Operation]
    citizen_fields: frozenset[str]
    sectors: frozenset[str] | None = None
    organisation: str = ""
    certificate: x509.Certificate | None = field(default=None, repr=False, compare=False)
    public_key: PublicKey | None = field(default=None, repr=False, compare=False)
    #: purposes granted to this client that allow it to watch a citizen without naming a dossier
    standing_purposes: frozenset[str] = frozenset()
    #: its own rate limits by operation value (or ``*``); the adapter's default otherwise
    rate_limits: Mapping[str, RateLimit] = field(default_factory=dict, compare=False)
    #: verify calls it may make per citizen per day; the adapter's default when ``None``
    verify_daily_budget: int | None = None
    #: the URLs its webhook subscriptions may name, compared character for character
    webhook_urls: frozenset[str] = frozenset()

    def may(self, operation: Operation) -> bool:
        """Whether the allow-list grants ``operation``."""
        return operation in self.operations

    def sees_sector(self, sector: str | None) -> bool:
        """Whether a dossier of ``sector`` is visible to this client."""
        return self.sectors is None or (sector is not None and sector in self.sectors)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready view (no key material)."""
        return {
            "id": self.client_id,
            "role": self.role.value,
            "organisation": self.organisation,
            "operations": sorted(op.value for op in self.operations),
            "sectors": sorted(self.sectors) if self.sectors is not None else None,
            "citizen_fields": [name for name in CITIZEN_FIELDS if name in self.citizen_fields],
            "standing_purposes": sorted(self.standing_purposes),
            "webhook_urls": sorted(self.webhook_urls),
        }


class ClientRegistry:
    """The registered clients by id; built once at start-up, read on every request."""

    def __init__(self, clients: Iterable[ApiClient]) -> None:
        self._clients: dict[str, ApiClient] = {}
        for client in clients:
            if client.client_id in self._clients:
                raise ClientConfigError(f"client {client.client_id!r} is registered twice")
            self._clients[client.client_id] = client

    def get(self, client_id: str) -> ApiClient | None:
        """The client with this id (keyid), or ``None``."""
        return self._clients.get(client_id)

    def __contains__(self, client_id: object) -> bool:
        return client_id in self._clients

    def __iter__(self) -> Any:
        return iter(self._clients.values())

    def __len__(self) -> int:
        return len(self._clients)


def make_client(
    client_id: str,
    role: Role | str,
    *,
    certificate: x509.Certificate | None = None,
    public_key: PublicKey | None = None,
    operations: Iterable[str] | None = None,
    sectors: Iterable[str] | None = None,
    citizen_fields: Iterable[str] | None = None,
    organisation: str | None = None,
    standing_purposes: Iterable[str] | None = None,
    rate_limits: Mapping[str, object] | None = None,
    verify_daily_budget: int | None = None,
    webhook_urls: Iterable[str] | None = None,
) -> ApiClient:
    """An :class:`ApiClient` with the role's defaults filled in; checks every name."""
    try:
        role = Role(role)
    except ValueError as exc:
        raise ClientConfigError(f"client {client_id!r}: unknown role {role!r}") from exc
    if (certificate is None) == (public_key is None):
        raise ClientConfigError(f"client {client_id!r}: give a certificate or a public key")
    ops = DEFAULT_OPERATIONS[role] if operations is None else _operations(client_id, operations)
    fields = (
        DEFAULT_CITIZEN_FIELDS[role]
        if citizen_fields is None
        else _citizen_fields(client_id, citizen_fields)
    )
    sector_set: frozenset[str] | None
    if role is Role.MINISTRY:
        sector_set = frozenset(sectors or ())
    else:
        sector_set = None if sectors is None else frozenset(sectors)
    if organisation is None:
        organisation = _organisation_of(certificate) or client_id
    return ApiClient(
        client_id,
        role,
        ops,
        fields,
        sector_set,
        organisation,
        certificate,
        public_key,
        standing_purposes=frozenset(standing_purposes or ()),
        rate_limits=_rate_limits(client_id, rate_limits),
        verify_daily_budget=_budget(client_id, verify_daily_budget),
        webhook_urls=_webhook_urls(client_id, webhook_urls or ()),
    )


def _rate_limits(client_id: str, limits: Mapping[str, object] | None) -> dict[str, RateLimit]:
    if limits is None:
        return {}
    if not isinstance(limits, Mapping):
        raise ClientConfigError(f"client {client_id!r}: rate_limits maps operations to limits")
    parsed = {}
    for name, text in limits.items():
        if name != "*":
            _operations(client_id, [name])
        parsed[name] = RateLimit.parse(text, where=f"client {client_id!r}: rate limit of {name}")
    return parsed


def _budget(client_id: str, budget: object) -> int | None:
    if budget is None:
        return None
    if not isinstance(budget, int) or isinstance(budget, bool) or budget < 1:
        raise ClientConfigError(f"client {client_id!r}: verify_daily_budget must be a count >= 1")
    return budget


def _webhook_urls(client_id: str, urls: Iterable[str]) -> frozenset[str]:
    """The allow-list, each entry an absolute http(s) URL without user info or fragment."""
    checked = set()
    for url in urls:
        try:
            checked.add(check_allow_list_entry(str(url)))
        except PushConfigError as exc:
            raise ClientConfigError(f"client {client_id!r}: {exc}") from exc
    return frozenset(checked)


def _organisation_of(certificate: x509.Certificate | None) -> str:
    if certificate is None:
        return ""
    names = certificate.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    if not names:
        return ""
    value = names[0].value
    return value if isinstance(value, str) else value.decode("utf-8", "replace")


def _operations(client_id: str, names: Iterable[str]) -> frozenset[Operation]:
    result = set()
    for name in names:
        try:
            result.add(Operation(name))
        except ValueError as exc:
            raise ClientConfigError(f"client {client_id!r}: unknown operation {name!r}") from exc
    return frozenset(result)


def _citizen_fields(client_id: str, names: Iterable[str]) -> frozenset[str]:
    fields = frozenset(names)
    unknown = fields - set(CITIZEN_FIELDS)
    if unknown:
        raise ClientConfigError(f"client {client_id!r}: unknown citizen fields {sorted(unknown)}")
    return fields


def _public_key_from_pem(client_id: str, pem: str) -> PublicKey:
    try:
        key = serialization.load_pem_public_key(pem.encode("ascii"))
    except ValueError as exc:
        raise ClientConfigError(f"client {client_id!r}: unreadable public key") from exc
    if not isinstance(key, ec.EllipticCurvePublicKey | rsa.RSAPublicKey):
        raise ClientConfigError(f"client {client_id!r}: only ECDSA and RSA keys are supported")
    return key


def _client_from_entry(entry: Mapping[str, Any], base_dir: Path) -> ApiClient:
    client_id = entry.get("id")
    if not isinstance(client_id, str) or not client_id:
        raise ClientConfigError("every client needs an 'id' (its keyid)")
    certificate: x509.Certificate | None = None
    public_key: PublicKey | None = None
    try:
        if "certificate" in entry:
            certificate = load_certificate(base_dir / str(entry["certificate"]))
        elif "certificate_pem" in entry:
            certificate = x509.load_pem_x509_certificate(str(entry["certificate_pem"]).encode())
        elif "public_key_pem" in entry:
            public_key = _public_key_from_pem(client_id, str(entry["public_key_pem"]))
    except ClientConfigError:
        raise
    except (ValueError, OSError, KeyLoadError) as exc:
        raise ClientConfigError(f"client {client_id!r}: unreadable certificate") from exc
    return make_client(
        client_id,
        str(entry.get("role", "")),
        certificate=certificate,
        public_key=public_key,
        operations=entry.get("operations"),
        sectors=entry.get("sectors"),
        citizen_fields=entry.get("citizen_fields"),
        organisation=entry.get("organisation"),
        standing_purposes=entry.get("standing_purposes"),
        rate_limits=entry.get("rate_limits"),
        verify_daily_budget=entry.get("verify_daily_budget"),
        webhook_urls=entry.get("webhook_urls"),
    )


def load_clients(path: Path | str) -> ClientRegistry:
    """Read a clients file (``.toml`` or ``.json``); certificate paths are relative to it."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ClientConfigError(f"cannot read the clients file {path}") from exc
    try:
        data: Any = tomllib.loads(raw.decode()) if path.suffix == ".toml" else json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ClientConfigError(f"the clients file {path} is not valid {path.suffix[1:]}") from exc
    entries = data.get("clients") if isinstance(data, dict) else data
    if not isinstance(entries, list):
        raise ClientConfigError(f"{path}: expected a list of clients under 'clients'")
    return ClientRegistry(_client_from_entry(entry, path.parent) for entry in entries)


#: The sandbox ministry's sectors: the Ministry of Justice's (``MaLinhVuc`` of the portal mock).
SANDBOX_MINISTRY_SECTORS: tuple[str, ...] = ("TP.HT", "TP.CT", "TP.LLTP")


def sandbox_clients(
    keys_dir: Path | str,
    *,
    ministry_sectors: Iterable[str] = SANDBOX_MINISTRY_SECTORS,
    ministry_webhook_urls: Iterable[str] = (),
) -> ClientRegistry:
    """``province-app``, ``ministry`` and ``integrator`` from the dev PKI.

    ``ministry_webhook_urls`` is the sandbox ministry's webhook allow-list (the mock receiver).
    """
    keys_dir = Path(keys_dir)

    def cert(party: str) -> x509.Certificate:
        return load_certificate(keys_dir / party / "cert.pem")

    return ClientRegistry(
        [
            make_client("province-app", Role.PROVINCE, certificate=cert("province-app")),
            make_client(
                "ministry",
                Role.MINISTRY,
                certificate=cert("ministry"),
                sectors=ministry_sectors,
                webhook_urls=ministry_webhook_urls,
            ),
            make_client("integrator", Role.INTEGRATOR, certificate=cert("integrator")),
        ]
    )


__all__ = [
    "CITIZEN_FIELDS",
    "DEFAULT_CITIZEN_FIELDS",
    "DEFAULT_OPERATIONS",
    "SANDBOX_MINISTRY_SECTORS",
    "ApiClient",
    "ClientConfigError",
    "ClientRegistry",
    "Operation",
    "RateLimit",
    "Role",
    "load_clients",
    "make_client",
    "sandbox_clients",
]
