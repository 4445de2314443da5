#!/usr/bin/env bash
# Fresh machine -> whole test suite (unit, engine, metrics, real-browser widget tests).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. .venv/bin/activate
mkdir -p artifacts
exec python -m pytest -q -p no:cacheprovider "$@"
