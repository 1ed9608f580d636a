"""Runtime settings, read from GEO_OUTREACH_* environment variables."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

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
    login_max_failures: int = Field(default=5, ge=1, description="per account and window")
    login_window_seconds: int = Field(default=900, ge=10)
    api_page_max: int = Field(default=1000, ge=1, le=100_000)
    api_bbox_max_deg2: float = Field(default=1.0, gt=0)
    api_body_max_bytes: int = Field(default=262_144, ge=1024)
    api_statement_timeout_ms: int = Field(default=5_000, ge=100)
    api_export_max: int = Field(default=200_000, ge=1)

    @property
    def pbf(self) -> Path:
        """The OSM extract routing and street tiles are built from."""
        return self.osm_pbf or self.data_dir / "osm" / "gdansk-central.osm.pbf"

    @property
    def cache_dir(self) -> Path:
        """Street networks and tiles, rebuilt only when the extract changes."""
        return self.pg_dir.parent / "cache"

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
