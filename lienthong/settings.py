"""The adapter's one settings object (pydantic-settings, environment prefix ``LIENTHONG_``).

Everything the process needs is here and passed down explicitly by :mod:`lienthong.bootstrap`;
nothing else reads the environment. Sandbox mode (the default) fills in what a laptop lacks:
development keys under ``keys_dir``, SQLite under ``data_dir``, the mock national endpoints on
``mock_port`` and the sandbox API clients.
"""

from __future__ import annotations

from datetime import time
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATA_DIR = Path(".lienthong/data")
DEFAULT_KEYS_DIR = Path(".lienthong/keys")


class Settings(BaseSettings):
    """Settings of one adapter process; every field can be set as ``LIENTHONG_<FIELD>``."""

    model_config = SettingsConfigDict(env_prefix="LIENTHONG_", extra="ignore", frozen=True)

    sandbox: bool = Field(True, description="start the mock endpoints and use development keys")
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    data_dir: Path = DEFAULT_DATA_DIR
    keys_dir: Path = DEFAULT_KEYS_DIR
    database_url: str | None = Field(
        None, description="SQLAlchemy async URL; SQLite under data_dir when absent"
    )
    clients_file: Path | None = Field(
        None, description="JSON or TOML list of API clients; sandbox clients when absent"
    )
    party: str = Field("adapter", description="this adapter's party name (its keyid)")

    # Upstreams. Absent URLs point at the sandbox mock endpoints.
    mock_host: str = "127.0.0.1"
    mock_port: int = Field(8001, ge=0, le=65535)
    mock_seed: int = 42
    sandbox_mocks: bool = Field(
        True, description="in sandbox mode, serve the mock endpoints from this process"
    )
    population_url: str | None = None
    registry_url: str | None = None
    portal_url: str | None = None
    registry_client_id: str = "lienthong-sandbox"
    registry_client_secret: str = "sandbox-secret"  # noqa: S105 - the sandbox's documented secret
    portal_username: str = "lienthong"
    portal_password: str = "sandbox"  # noqa: S105 - the sandbox's documented password
    portal_agency: str = "000.00.04.H04"
    upstream_connect_timeout: float = Field(2.0, gt=0, description="seconds to connect")
    upstream_attempt_timeout: float = Field(5.0, gt=0, description="seconds per attempt")
    upstream_deadline: float = Field(10.0, gt=0, description="seconds per call, retries included")
    upstream_attempts: int = Field(3, ge=1, le=10, description="attempts of a transient failure")
    breaker_failure_threshold: int = Field(5, ge=1, description="failures that open a breaker")
    breaker_reset_seconds: float = Field(5.0, gt=0, description="open time before a probe")
    xroad_member_code: str = Field("H04", description="the province's X-Road member code")

    # Signatures.
    replay_cache_url: str | None = Field(
        None,
        description=(
            "Redis URL of the replay cache shared by adapters on several hosts "
            "(redis://127.0.0.1:6379/0); when absent, one process remembers nonces in memory "
            "and the workers of serve --workers N share a table in shared memory"
        ),
    )
    signature_ttl_seconds: int = Field(60, gt=0, le=300)
    max_skew_seconds: int = Field(60, ge=0)

    # Processes.
    workers: int = Field(1, ge=1, le=64, description="adapter processes sharing the port")
    replay_table_slots: int = Field(
        1 << 20,
        ge=1024,
        description=(
            "nonces the workers' shared replay table holds (several workers and no "
            "replay_cache_url); keep the nonces alive at once under half of it"
        ),
    )

    # Sync worker.
    run_worker: bool = Field(True, description="run the outbox worker inside the API process")
    worker_lanes: int = Field(2, ge=1, le=64)
    worker_max_attempts: int = Field(
        500, ge=1, description="failed deliveries of one item before it is a dead letter"
    )
    migrate_on_start: bool = Field(True, description="apply the store's migrations at start-up")
    db_pool_size: int = Field(10, ge=1, le=200)

    # Watched records (the refresh job).
    refresh_interval_seconds: float = Field(
        3600.0, ge=0, description="seconds between refreshes of watched records (0: never)"
    )
    refresh_population_rate: float = Field(10.0, gt=0, description="population reads per second")
    refresh_registry_rate: float = Field(10.0, gt=0, description="registry reads per second")
    refresh_official: str | None = Field(
        None, description="official (VN + CCCD) named in refresh lookups of watches without one"
    )

    # The front door: limits before reading, rate limits, TLS (README "Limits", "TLS").
    header_timeout_seconds: float = Field(
        10.0, gt=0, description="seconds a connection has to send a request's headers"
    )
    body_timeout_seconds: float = Field(
        30.0, gt=0, description="seconds a request's body has to arrive once its headers have"
    )
    max_request_line_bytes: int = Field(
        8192, ge=256, description="longest request line (method, target, version): else 414"
    )
    max_header_bytes: int = Field(
        32768, ge=1024, description="largest header block, request line included: else 431"
    )
    max_body_bytes: int = Field(
        1 << 18, ge=0, description="largest request body of a route without its own limit"
    )
    body_limits: dict[str, int] = Field(
        default_factory=lambda: {
            "GET *": 0,
            "DELETE *": 0,
            "POST /v1/citizens/verify": 16384,
            "PUT /v1/watch/*": 16384,
            "POST /v1/dossiers/*/events": 65536,
        },
        description="largest body per route, 'METHOD /path' (* within a path), first match wins",
    )
    max_bodies_in_flight: int = Field(
        256, ge=1, description="requests with a body open at once in one process"
    )
    max_bodies_in_flight_per_client: int = Field(
        64, ge=1, description="requests with a body open at once for one client in one process"
    )
    rate_limit_requests: int = Field(
        100_000,
        ge=1,
        description="calls per client and operation per window, unless the clients file says",
    )
    rate_limit_window_seconds: int = Field(60, ge=1, le=86400)
    verify_daily_budget: int = Field(
        5, ge=1, description="verify calls per citizen per client per day (Asia/Ho_Chi_Minh)"
    )
    rate_key_prefix: str = Field(
        "lienthong:rate:", description="prefix of the rate counters' keys in Redis"
    )
    rate_table_slots: int = Field(
        1 << 18,
        ge=1024,
        description="counters the workers' shared rate table holds (several workers, no Redis)",
    )
    tls: bool = Field(
        False, description="serve HTTPS; in sandbox with the development PKI's TLS certificate"
    )
    tls_cert_file: Path | None = Field(None, description="the server's certificate chain (PEM)")
    tls_key_file: Path | None = Field(None, description="the server's private key (PEM)")
    tls_client_ca_file: Path | None = Field(
        None, description="CA certificates (PEM) a client certificate must chain to; required"
    )

    @field_validator("body_limits")
    @classmethod
    def _body_limit_rules(cls, rules: dict[str, int]) -> dict[str, int]:
        for rule, limit in rules.items():
            method, _, path = rule.strip().partition(" ")
            if not method or not path.strip() or limit < 0:
                raise ValueError(f"a body limit is 'METHOD /path' to bytes >= 0, not {rule!r}")
        return rules

    @property
    def serves_tls(self) -> bool:
        """Whether ``serve`` terminates TLS (a certificate is set, or ``tls`` is)."""
        return self.tls or self.tls_cert_file is not None

    @property
    def resolved_tls_files(self) -> tuple[Path, Path] | None:
        """The TLS certificate and key: as set, or the sandbox's; ``None`` without TLS."""
        if self.tls_cert_file is not None and self.tls_key_file is not None:
            return self.tls_cert_file, self.tls_key_file
        if self.tls_cert_file is not None or self.tls_key_file is not None:
            raise ValueError("give both tls_cert_file and tls_key_file")
        if not self.tls:
            return None
        if not self.sandbox:
            raise ValueError("outside the sandbox, tls needs tls_cert_file and tls_key_file")
        return self.keys_dir / "adapter" / "tls-cert.pem", self.keys_dir / "adapter" / "tls-key.pem"

    # The front door: signed accountability, purpose binding (issue 14, items 2 and 3).
    public_authorities: list[str] | None = Field(
        None,
        description=(
            "the host[:port] values a signed request's @authority may name (the adapter's public "
            "names, e.g. behind a load balancer); default host:port, plus 127.0.0.1:port and "
            "localhost:port in sandbox"
        ),
    )
    purpose_grace_days: int = Field(
        30,
        ge=0,
        le=3650,
        description="days after a dossier closes during which it still justifies lookups",
    )

    @property
    def resolved_public_authorities(self) -> frozenset[str]:
        """The ``@authority`` values accepted, as RFC 9421 reads them (default ports dropped)."""
        names = list(self.public_authorities or [])
        if self.public_authorities is None:
            names.append(f"{self.host}:{self.port}")
            if self.sandbox:
                names += [f"127.0.0.1:{self.port}", f"localhost:{self.port}"]
        accepted: set[str] = set()
        for name in names:
            name = name.strip().lower()
            accepted.add(name)
            for default in (":80", ":443"):
                if name.endswith(default):
                    accepted.add(name.removesuffix(default))
        return frozenset(accepted)

    # Message log anchors (RFC 3161 time-stamps of the chain's head).
    log_anchor_tsa_url: str | None = Field(
        None,
        description=(
            "URL of the time-stamping authority (RFC 3161 over HTTP) that stamps the message "
            "log's head; in sandbox the mock's /tsa when unset; outside it, unset means no anchors"
        ),
    )
    log_anchor_tsa_ca: Path | None = Field(
        None,
        description="CA certificate(s) the TSA's certificate chains to (default: the key "
        "folder's ca/cert.pem)",
    )
    log_anchor_interval_seconds: float = Field(
        60.0, ge=0, description="seconds between anchors of the message log (0: never)"
    )

    # Logs and configuration (one settings object for every command).
    log_format: Literal["text", "json"] = Field(
        "text", description="log lines as text (key=value fields) or one JSON object per line"
    )
    log_level: str = Field("info", description="the lowest level logged (debug, info, warning …)")
    # Inter-agency chains (issue 19).
    chains_dir: Path | None = Field(
        None, description="folder of the province's chain definitions (TOML); shipped ones apply"
    )
    civil_status_url: str | None = Field(None, description="civil-status system's base URL")
    residence_url: str | None = Field(None, description="residence system's base URL")
    social_security_url: str | None = Field(None, description="social security system's base URL")
    chain_poll_seconds: float = Field(
        60.0, gt=0, description="seconds between asking an agency about an undecided step"
    )
    chain_lease_seconds: float = Field(60.0, gt=0, description="lease of a claimed chain step")
    chain_lanes: int = Field(1, ge=1, le=64, description="chain worker lanes")
    # Timeliness: working-day due dates, the on-time report, apologies (docs/timeliness.md).
    calendar_overrides_dir: Path | None = Field(
        None, description="folder of YEAR.toml calendar overrides (the shipped ones when absent)"
    )
    timeliness_cutoff: time = Field(
        time(15, 0), description="a dossier received after this time counts from the next day"
    )
    timeliness_count_paused: bool = Field(
        False, description="count time with the applicant (documents, fees) against the agency"
    )
    timeliness_at_risk_hours: float = Field(
        8.0,
        ge=0,
        le=400,
        description="office hours before the due time that make a dossier at risk",
    )
    apology_on_at_risk: bool = Field(False, description="draft apologies already when at risk")
    apology_extension_working_days: int = Field(
        5, ge=1, le=60, description="working days a drafted apology proposes to add"
    )
    timeliness_interval_seconds: float = Field(
        300.0,
        ge=0,
        description="seconds between procedure-deadline refreshes and apology drafts (0: never)",
    )
    timeliness_background: bool = Field(
        True,
        description="this process refreshes procedure deadlines from the portal and drafts "
        "apologies (serve --workers: worker 0); otherwise it only reloads the stored table",
    )
    apology_agency_name: str | None = Field(None, description="the agency named on apologies")
    apology_font: Path | None = Field(None, description="a TTF covering Vietnamese for apologies")
    # Push: webhooks to ministries, notices to citizens (ZNS, SMS brandname).
    push_enabled: bool = Field(True, description="run the push workers with the outbox worker")
    push_webhook_lanes: int = Field(2, ge=1, le=16, description="webhook claim loops")
    push_webhook_concurrency: int = Field(64, ge=1, le=1024, description="requests in flight")
    push_webhook_timeout: float = Field(10.0, gt=0, description="seconds per webhook delivery")
    push_webhook_attempts: int = Field(12, ge=1, le=100, description="attempts before dead")
    push_webhook_lease_seconds: float = Field(60.0, gt=0, description="seconds a claim is held")
    push_notice_templates: Path | None = Field(
        None, description="TOML notice templates (the shipped ones when absent)"
    )
    push_quiet_hours: str = Field(
        "21:00-07:00", description="local HH:MM-HH:MM when no notice is sent ('' for none)"
    )
    push_notice_attempts: int = Field(8, ge=1, le=100, description="attempts before dead")
    push_zns_url: str | None = Field(None, description="ZNS send URL (the sandbox mock's)")
    push_zns_access_token: str = "sandbox-zns-token"  # noqa: S105 - the sandbox's token
    push_sms_url: str | None = Field(None, description="SMS brandname URL (the sandbox mock's)")
    push_sms_api_key: str = "sandbox-sms-key"
    push_sms_secret_key: str = "sandbox-sms-secret"  # noqa: S105 - the sandbox's secret
    push_sms_brandname: str = "LIENTHONG"
    # Operator console.
    console_enabled: bool = Field(True, description="serve the operator console at /console")
    console_idle_minutes: int = Field(
        15, ge=1, le=720, description="minutes without a request that end a console session"
    )
    console_lockout_attempts: int = Field(
        5, ge=1, le=100, description="failed logins in a row that lock an operator out"
    )
    console_lockout_minutes: int = Field(15, ge=1, description="how long a lockout lasts")
    console_secure_cookies: bool = Field(
        True,
        description=(
            "mark console cookies Secure (browsers keep them over HTTPS, and over plain HTTP "
            "only for localhost); turn off only behind a proxy that strips TLS on one host"
        ),
    )

    @property
    def mock_base_url(self) -> str:
        """The base URL of the sandbox mock endpoints."""
        return f"http://{self.mock_host}:{self.mock_port}"

    @property
    def resolved_database_url(self) -> str:
        """``database_url``, or a SQLite file under ``data_dir`` when it is not set."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'lienthong.db').resolve()}"

    @property
    def resolved_population_url(self) -> str:
        """The population service's SOAP endpoint."""
        return self.population_url or f"{self.mock_base_url}/population/soap"

    @property
    def resolved_registry_url(self) -> str:
        """The business registry's base URL."""
        return self.registry_url or f"{self.mock_base_url}/registry"

    @property
    def resolved_portal_url(self) -> str:
        """The national portal's base URL."""
        return self.portal_url or f"{self.mock_base_url}/portal"


__all__ = ["DEFAULT_DATA_DIR", "DEFAULT_KEYS_DIR", "Settings"]
