#!/usr/bin/env bash
# Set up a fresh Debian machine for ttvis_widget: system packages, .venv, torch==2.13.0 first, the package
# (editable) with its test and dev extras, and the JavaScript bundle. Idempotent: quick when everything is there.
# One build definition for the bundle: js/package.json's "build" script, run by the package's build hook
# (hatch-jupyter-builder, pyproject.toml) during `pip install`, and by this script when pip has nothing to do.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
need_apt=()
[ -x /usr/bin/chromium ] || need_apt+=(chromium)
[ -e /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] || need_apt+=(dataset-fashion-mnist)
command -v node >/dev/null 2>&1 || need_apt+=(nodejs npm)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "setup: apt-get install ${need_apt[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv"
  "$PY" -m venv .venv
fi
. .venv/bin/activate
export PIP_DISABLE_PIP_VERSION_CHECK=1
if ! python -c "import torch, sys; sys.exit(0 if torch.__version__.startswith('2.13.0') else 1)" 2>/dev/null; then
  echo "setup: pip install torch==2.13.0 (CPU wheel)"
  pip install -q torch==2.13.0
fi
stamp=.venv/.ttvis-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "setup: pip install -e .[test,dev] (its build hook runs npm install + npm run build in js/)"
  pip install -q -e ".[test,dev]"
  touch "$stamp" js/node_modules  # npm install rewrote package-lock.json (same content): no npm ci next time
else
  if [ ! -d js/node_modules ] || [ js/package-lock.json -nt js/node_modules ]; then
    echo "setup: npm ci (js/)"
    (cd js && npm ci --no-audit --no-fund --loglevel=error)
  fi
  echo "setup: building the widget bundle (npm run build)"
  (cd js && npm run --silent build)
fi
echo "setup: done (activate with: . $ROOT/.venv/bin/activate)"
