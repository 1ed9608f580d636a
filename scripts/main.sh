#!/usr/bin/env bash
# The main job: install, start the embedded PostGIS, migrate, load the Gdańsk–Sopot demo,
# and write what later stages produce. Run it again: nothing is duplicated.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/geo-outreach up "$@"
