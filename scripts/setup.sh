#!/usr/bin/env bash
# Install everything geo-outreach needs on Debian/Ubuntu: the system packages that are missing
# (PostgreSQL + PostGIS + pgRouting, acl, python venv) and the Python package in ./.venv.
# Safe to run again: it installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

PG_VERSION="${GEO_OUTREACH_PG_VERSION:-15}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

packages=(acl chromium wrk)
python3 -c 'import ensurepip, venv' 2>/dev/null || packages+=(python3-venv)
missing=()
for pkg in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing+=("$pkg")
done
if ! ls /usr/share/postgresql/*/extension/postgis.control >/dev/null 2>&1 \
   || ! ls /usr/share/postgresql/*/extension/pgrouting.control >/dev/null 2>&1; then
  missing+=("postgresql-${PG_VERSION}-postgis-3" "postgresql-${PG_VERSION}-pgrouting")
fi
if [ "${#missing[@]}" -gt 0 ]; then
  echo "[setup] installing system packages: ${missing[*]}"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
else
  echo "[setup] system packages present"
fi

if [ ! -x .venv/bin/python ]; then
  echo "[setup] creating .venv"
  python3 -m venv .venv
fi
echo "[setup] installing geo-outreach and its Python dependencies into .venv (log: .venv/pip.log)"
# pip's own chatter goes to the log; on failure the log is shown.
if ! { .venv/bin/python -m pip install --upgrade pip \
       && .venv/bin/python -m pip install -e '.[dev]'; } >.venv/pip.log 2>&1; then
  tail -n 40 .venv/pip.log >&2
  echo "[setup] pip install failed; full log in .venv/pip.log" >&2
  exit 1
fi
echo "[setup] done"
