"""The HTTP API (FastAPI). Thin: routes call layers/ and geo_outreach/."""
