"""Runtime settings, read from GEO_OUTREACH_* environment variables."""

from __future__ import annotations

from datetime import time
from functools import lru_cache
from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

# The repository checkout (parent of geo_outreach/); shared data lives beside it.
REPO_ROOT = Path(__file__).resolve().parents[2]
# Fine for development; production refuses to start with it.
DEFAULT_SECRET = "change-me"  # noqa: S105


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GEO_OUTREACH_", extra="ignore")

    environment: Literal["development", "test", "production"] = "development"
    # Unset: the project runs its own PostgreSQL + PostGIS cluster in pg_dir.
    database_url: str | None = None
    # Used for migrations only; defaults to database_url (must own the schema).
    admin_database_url: str | None = None
    # Issue 16: a streaming replica (hot standby) of that database for read-only work (public
    # pages, OGC API, maps, reports); writes and audit rows always go to the primary. A signed-in
    # caller is read there only once the replica has replayed the primary's position at the
    # start of the request (waiting at most read_wait_ms), else on the primary: a writer always
    # reads its own writes. Unset: everything on the one database.
    read_database_url: str | None = None
    read_wait_ms: int = Field(default=200, ge=0, le=10_000)
    pg_dir: Path = Path(".geo-outreach/pg")
    pg_port: int = Field(default=0, ge=0, le=65535, description="0 picks a free port once")
    pg_os_user: str = Field(default="postgres", description="OS user that runs the cluster as root")
    pg_bin_dir: Path | None = None
    data_dir: Path = REPO_ROOT.parent / "shared" / "data"
    # The city's OSM extract for routing; default: the Gdańsk extract in data_dir.
    osm_pbf: Path | None = None
    # Imports outside this lon/lat box are refused (Pomorskie around the Tricity by default).
    service_area: tuple[float, float, float, float] = (17.9, 54.0, 19.3, 54.9)
    timezone: str = "Europe/Warsaw"
    demo_seed: int = 2025
    demo_year: int = 2025
    secret_key: str = DEFAULT_SECRET
    # API (issue 5): token lifetime (a shift), login rate limit and hard request limits.
    token_ttl_minutes: int = Field(default=600, ge=5, le=7 * 24 * 60)
    # Field app (issue 11): a browser session ends after this long unused, or this long after
    # login whatever happens; the phone forgets its copy of the data after app_data_ttl_hours.
    session_idle_minutes: int = Field(default=60, ge=1, le=24 * 60)
    session_absolute_hours: int = Field(default=12, ge=1, le=7 * 24)
    app_data_ttl_hours: int = Field(default=12, ge=1, le=7 * 24)
    login_max_failures: int = Field(default=5, ge=1, description="per account, address and window")
    login_window_seconds: int = Field(default=900, ge=10)
    # Proxies whose X-Forwarded-For is believed (IPs or CIDRs, comma-separated); default none.
    trusted_proxies: Annotated[tuple[IPv4Network | IPv6Network, ...], NoDecode] = ()
    api_page_max: int = Field(default=1000, ge=1, le=100_000)
    api_bbox_max_deg2: float = Field(default=1.0, gt=0)
    api_body_max_bytes: int = Field(default=262_144, ge=1024)
    api_statement_timeout_ms: int = Field(default=5_000, ge=100)
    api_export_max: int = Field(default=200_000, ge=1)
    # How far ahead of the server clock a reported time may be (phones drift); issue 10.
    clock_skew_minutes: int = Field(default=10, ge=0, le=720)
    # Issue 10: links (self/next, OGC) are built from this, never from the request's Host.
    public_url: str = Field(
        default="http://127.0.0.1:8000",
        pattern=r"^https?://[^/?#\s]+(/[^?#\s]*)?$",
        description="the API's address as clients reach it",
    )
    # The public map pages are kept until their data changes; off = rebuilt per request.
    public_page_cache: bool = True
    # Issue 16: backups are encrypted with this passphrase (none is made without it), kept in
    # backup_dir (default beside the cluster), the newest backup_keep of them.
    backup_key: SecretStr | None = None
    backup_dir: Path | None = None
    backup_keep: int = Field(default=14, ge=1)
    # Issue 16: point-in-time recovery of the embedded cluster. On: `db start` archives every
    # finished WAL segment into archive_dir/wal (beside the backups); `db basebackup` takes the
    # base backups there that `db restore --to-time` replays from.
    wal_archive: bool = False
    # How many encrypted base backups `db basebackup` keeps (and the WAL from the oldest on).
    basebackup_keep: int = Field(default=7, ge=1)
    # Issue 16: retention. Sensitive visit notes are redacted (the visit and its counts stay);
    # login attempts, used idempotency keys and the audit log are deleted after these times.
    retention_note_months: int = Field(default=24, ge=1)
    retention_login_days: int = Field(default=90, ge=1)
    retention_idempotency_days: int = Field(default=7, ge=1)
    retention_audit_years: int = Field(default=5, ge=1)
    # Cold nights (issue 14): the forecast (Open-Meteo JSON, a file or an http(s) URL), the
    # levels, the hour the server checks it (-1: never), the teams a proposal plans for.
    forecast_url: str | None = None
    forecast_timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    winter_akcja_zima_below: float = -10.0
    winter_cold_below: float = 0.0
    winter_cold_wind_kmh: float = Field(default=20.0, ge=0)
    winter_cold_precipitation_mm: float = Field(default=0.5, ge=0)
    winter_check_hour: int = Field(default=14, ge=-1, le=23)
    winter_teams: int = Field(default=3, ge=1, le=50)
    winter_shift_start: time = time(20, 0)
    winter_shift_end: time = time(2, 0)
    winter_solver_seconds: float = Field(default=2.0, gt=0, le=600)
    # Coordinators' e-mail (smtplib, plain SMTP with STARTTLS when the server offers it).
    smtp_host: str | None = None
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_from: str = "geo-outreach@localhost"
    # Public alerts: per client address and minute, the radius that matches a known site.
    alert_rate_per_minute: int = Field(default=5, ge=1, le=10_000)
    alert_match_metres: float = Field(default=150.0, gt=0, le=5_000)
    alert_route_metres: float = Field(default=1_000.0, gt=0, le=20_000)
    alert_keep_days: int = Field(default=90, ge=1, le=3_650)

    @property
    def pbf(self) -> Path:
        """The OSM extract routing and street tiles are built from."""
        return self.osm_pbf or self.data_dir / "osm" / "gdansk-central.osm.pbf"

    @property
    def backups(self) -> Path:
        """Where `db backup` writes and keeps its time-stamped backups."""
        return self.backup_dir or self.pg_dir.parent / "backups"

    @property
    def archive_dir(self) -> Path:
        """WAL segments (wal/) and base backups (base/) for point-in-time recovery."""
        return self.backups.parent / "wal-archive"

    @property
    def cache_dir(self) -> Path:
        """Street networks and tiles, rebuilt only when the extract changes."""
        return self.pg_dir.parent / "cache"

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _networks(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        try:
            return tuple(ip_network(i.strip(), strict=False) for i in value.split(",") if i.strip())
        except ValueError as exc:
            msg = f"GEO_OUTREACH_TRUSTED_PROXIES must be IPs or CIDRs, comma-separated: {exc}"
            raise ValueError(msg) from None

    @model_validator(mode="after")
    def _refuse_default_secret(self) -> Settings:
        if self.environment != "development" and self.secret_key == DEFAULT_SECRET:
            msg = (
                "GEO_OUTREACH_SECRET_KEY must be set to a non-default value outside development "
                f"(GEO_OUTREACH_ENVIRONMENT={self.environment})"
            )
            raise ValueError(msg)
        minx, miny, maxx, maxy = self.service_area
        if not (minx < maxx and miny < maxy):
            msg = (
                "GEO_OUTREACH_SERVICE_AREA must be [minlon, minlat, maxlon, maxlat]; "
                f"got {self.service_area}"
            )
            raise ValueError(msg)
        return self


@lru_cache
def get_settings() -> Settings:
    return Settings()
