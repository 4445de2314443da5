#!/usr/bin/env bash
# Fresh machine -> whole test suite (unit, engine, metrics, real-browser widget tests).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. .venv/bin/activate
mkdir -p artifacts
# two workers, one test file each at a time (a file's module fixtures, servers and browser stay in one
# process), the files holding slow tests first (tests/conftest.py orders them; xdist would otherwise start the
# files with the most tests first); TTVIS_TEST_WORKERS=0 runs everything in this process
exec python -m pytest -q -p no:cacheprovider -n "${TTVIS_TEST_WORKERS:-2}" --dist loadfile --no-loadscope-reorder "$@"
