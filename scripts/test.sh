#!/usr/bin/env bash
# Install everything and run the checks: ruff, import contracts, mypy, and the tests against a real PostGIS
# that the test session starts itself.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test || exit $?
echo "[test] ruff"
.venv/bin/ruff check . || exit 1
echo "[test] import contracts (lint-imports)"
.venv/bin/lint-imports --no-cache || exit 1
echo "[test] mypy"
.venv/bin/mypy geo_outreach layers api maps || exit 1
echo "[test] pytest"
.venv/bin/python -m pytest -q -p no:cacheprovider "$@"
status=$?
if [ "$status" -eq 5 ]; then
  echo "[test] pytest collected no tests: that is a failure here" >&2
  exit 1
fi
exit "$status"
