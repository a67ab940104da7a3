"""The adapter's one settings object (pydantic-settings, environment prefix ``LIENTHONG_``).

Everything the process needs is here and passed down explicitly by :mod:`lienthong.bootstrap`;
nothing else reads the environment. Sandbox mode (the default) fills in what a laptop lacks:
development keys under ``keys_dir``, SQLite under ``data_dir``, the mock national endpoints on
``mock_port`` and the sandbox API clients.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
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
