#!/usr/bin/env bash
# Install everything geo-outreach needs on Debian/Ubuntu: the system packages that are missing
# (PostgreSQL + PostGIS + pgRouting, acl, python venv; with --test also Chromium for the browser
# tests) and the Python package in ./.venv. Safe to run again: it installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

want_test=0
[ "${1:-}" = "--test" ] && want_test=1

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "[setup] run as root or install sudo" >&2; exit 1; }
  SUDO="sudo"
fi
apt_install() {
  # env passes the setting through sudo, which would otherwise drop it (and tzdata would ask).
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@"
}
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "ok installed"; }

# PostGIS and pgRouting must sit in the same PostgreSQL version's extension folder.
pg_ready=0
for dir in /usr/share/postgresql/*/extension; do
  [ -f "$dir/postgis.control" ] && [ -f "$dir/pgrouting.control" ] && pg_ready=1
done

missing=()
# age: the embedded cluster's archive_command encrypts WAL segments with it (issue 16).
for pkg in acl age; do installed "$pkg" || missing+=("$pkg"); done
python3 -c 'import ensurepip, venv' 2>/dev/null || missing+=(python3-venv)
if [ "$want_test" -eq 1 ] && ! command -v chromium >/dev/null; then missing+=(chromium); fi
# npm installs the field app's pinned browser libraries (below).
command -v npm >/dev/null || missing+=(nodejs npm)

if [ "$pg_ready" -eq 0 ] || [ "${#missing[@]}" -gt 0 ]; then
  echo "[setup] apt-get update"
  $SUDO apt-get update -q
  if [ "$pg_ready" -eq 0 ]; then
    # Debian 12's PostgreSQL 15 by default; elsewhere the distribution's own version.
    PG_VERSION="${GEO_OUTREACH_PG_VERSION:-15}"
    if ! apt-cache show "postgresql-${PG_VERSION}-postgis-3" >/dev/null 2>&1; then
      PG_VERSION=$(apt-cache depends postgresql 2>/dev/null \
        | sed -n 's/.*Depends: postgresql-\([0-9][0-9]*\)$/\1/p' | head -n 1)
    fi
    [ -n "$PG_VERSION" ] || { echo "[setup] no PostgreSQL package found by apt" >&2; exit 1; }
    missing+=("postgresql-${PG_VERSION}-postgis-3" "postgresql-${PG_VERSION}-pgrouting")
  fi
  echo "[setup] installing system packages: ${missing[*]}"
  apt_install "${missing[@]}"
else
  echo "[setup] system packages present"
fi
if [ "$want_test" -eq 1 ] && ! command -v wrk >/dev/null; then
  # Only benchmarks/api.py uses it: nice to have, never a reason to stop.
  apt_install wrk >/dev/null 2>&1 || echo "[setup] wrk not installed (only the API benchmark needs it)"
fi

if [ ! -x .venv/bin/python ]; then
  echo "[setup] creating .venv"
  python3 -m venv .venv
fi
if [ .venv/.installed -nt pyproject.toml ]; then
  echo "[setup] Python packages up to date (.venv)"
else
  echo "[setup] installing geo-outreach and its Python dependencies into .venv (log: .venv/pip.log)"
  # pip's own chatter goes to the log; on failure the log is shown.
  if ! { .venv/bin/python -m pip install --upgrade pip \
         && .venv/bin/python -m pip install -e '.[dev]'; } >.venv/pip.log 2>&1; then
    tail -n 40 .venv/pip.log >&2
    echo "[setup] pip install failed; full log in .venv/pip.log" >&2
    exit 1
  fi
  touch .venv/.installed
fi
# The field app's browser libraries (Leaflet, idb, Workbox; axe-core for its tests), pinned in
# package-lock.json and served by the app from node_modules: never from a CDN.
if [ package-lock.json -nt node_modules/.package-lock.json ] || [ ! -d node_modules ]; then
  echo "[setup] installing the field app's libraries (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error
else
  echo "[setup] field app libraries up to date (node_modules)"
fi
echo "[setup] done"
