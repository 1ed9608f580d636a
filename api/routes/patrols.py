"""Patrols in the office console: status, actual track, progress, members."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["patrols"])
