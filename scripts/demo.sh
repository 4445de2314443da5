#!/usr/bin/env bash
# Fresh machine -> demo: setup, then `ttvis demo`: check what it needs, record the Fashion-MNIST demo dynamics,
# fit, then serve the quickstart notebook (shipped in the package; copied into demo_data/) in JupyterLab on
# 127.0.0.1 (prints the URL). With --headless, execute the notebook instead and report success.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. .venv/bin/activate
exec ttvis demo "$@"
