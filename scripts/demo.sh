#!/usr/bin/env bash
# Fresh machine -> demo: setup, record the Fashion-MNIST demo dynamics, fit, then serve notebooks/quickstart.ipynb
# in JupyterLab on 127.0.0.1 (prints the URL). With --headless, execute the notebook instead and report success.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. .venv/bin/activate
exec ttvis demo "$@"
