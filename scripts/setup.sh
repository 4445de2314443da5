#!/usr/bin/env bash
# Set up a fresh Debian machine for ttvis_widget: system packages, .venv, torch==2.13.0 first, the package
# with test extras, and the JavaScript bundle. Idempotent: quick when everything is already there.
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
  echo "setup: pip install -e .[test]"
  pip install -q -e ".[test]"
  touch "$stamp"
fi

if [ ! -d js/node_modules ] || [ js/package-lock.json -nt js/node_modules ]; then
  echo "setup: npm ci (js/)"
  (cd js && npm ci --no-audit --no-fund --loglevel=error)
fi
echo "setup: building the widget bundle"
(cd js && npm run --silent build)
echo "setup: done (activate with: . $ROOT/.venv/bin/activate)"
