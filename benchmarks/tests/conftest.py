"""The benchmark readers' tests need only the shared data folder (no database)."""

from __future__ import annotations

from pathlib import Path

import pytest

from geo_outreach.core.settings import Settings


@pytest.fixture(scope="session")
def data_dir() -> Path:
    path = Settings().data_dir
    assert (path / "vrp" / "BKS.json").exists(), f"shared data missing at {path}"
    return path
