"""The yearly report as JSON and as a page, internal or for partners."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["reports"])
