"""The SOS bus in the office console: duty log and timetable."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["sosbus"])
