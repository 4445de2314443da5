#!/usr/bin/env bash
# The engine on a GPU, in one command: the GPU target of benchmarks/RESULTS.md (60k x 512 per epoch) and the
# demo's figures, for a lent GPU machine that has PyTorch but not this project's environment and no network.
#
#   bash benchmarks/gpu_check.sh prepare        # here, once: what the GPU machine lacks, into ignored folders
#   bash benchmarks/gpu_check.sh large [OUTDIR]  # there: record 60k x 512 (3 epochs), fit DVI + TimeVis + UMAP
#   bash benchmarks/gpu_check.sh large-auto [OUTDIR]  # there: the same data, DVI + TimeVis with steps_scale=auto
#   bash benchmarks/gpu_check.sh demo [OUTDIR]   # there: record the 12k x 128 demo (10 epochs), the same fits
#   bash benchmarks/gpu_check.sh cuda [OUTDIR]   # there: a 3-epoch DVI and TimeVis on digits (a smoke test)
#   bash benchmarks/gpu_check.sh tests [OUTDIR]  # there: the engine's unit tests, which then run on CUDA
#                                                #   ("auto"); the few that assume a CPU say device="cpu"
#
# "prepare" downloads the pure-Python wheels of umap-learn and pynndescent (numba, scikit-learn, scipy and
# tqdm are in the GPU image) into .whl/ and copies the Fashion-MNIST IDX files into .fashion/; both are
# ignored by git (.git/info/exclude) and travel with the command as carried paths (about 31 MB). The fits
# run through benchmarks/fit_speed.py (its table, plus each epoch's own time: the first one carries CUDA's
# start-up); the recordings are made with the CNN on the GPU (demo-data --device cuda), so they differ from
# the CPU-made demo in rounding, not in size.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
what=${1:-large}
out=${2:-${OUT:-/tmp/gpu_check}}
dev=${DEVICE:-cuda}  # DEVICE=cpu: a dry run of the same commands on a machine without a GPU

if [ "$what" = prepare ]; then
  mkdir -p .git/info
  for d in /.whl/ /.fashion/; do grep -qx "$d" .git/info/exclude 2>/dev/null || echo "$d" >> .git/info/exclude; done
  mkdir -p .whl .fashion
  "$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation py \
    -d .whl umap-learn==0.5.12 pynndescent==0.7.0
  cp /usr/share/datasets/fashion-mnist/*-ubyte.gz .fashion/
  du -sh .whl .fashion
  echo "carry: .whl .fashion"
  exit 0
fi

export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
if compgen -G ".whl/*.whl" >/dev/null; then
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
  export PYTHONPATH="$PYTHONPATH:/tmp/site"
fi
[ -d .fashion ] && export TTVIS_FASHION_DIR="$PWD/.fashion"
mkdir -p "$out"
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
  "$PY" -c 'import torch; print("torch", torch.__version__, "cuda", torch.cuda.is_available())'; } | tee "$out/machine.txt"

methods=dvi,timevis,umap
# no umap-learn: no "x UMAP" column. On a fresh machine numba compiles umap-learn's loops in the first epoch
# (its JIT is timed apart, yet that epoch still took 12.9 s against 3.2-4.6 s after it on the demo, CPU), so
# read the warm figure in fit_speed's per-epoch line ("after the first"); a digits warm-up did not help.
"$PY" -c 'import umap' 2>/dev/null || methods=dvi,timevis
case "$what" in
  large)
    "$PY" -m ttvis_widget demo-data --out /tmp/fm60k --n-train 50000 --n-test 10000 --epochs 3 --rep-dim 512 --device "$dev"
    "$PY" benchmarks/fit_speed.py --data /tmp/fm60k --epochs 3 --methods "$methods" --no-bracket | tee "$out/fit_60k.txt" ;;
  large-auto)  # DVI and TimeVis with steps_scale="auto" (5x the steps at 60k); the recording is reused
    "$PY" -m ttvis_widget demo-data --out /tmp/fm60k --n-train 50000 --n-test 10000 --epochs 3 --rep-dim 512 --device "$dev"
    "$PY" benchmarks/fit_speed.py --data /tmp/fm60k --epochs 3 --methods dvi,timevis --no-bracket \
      --params '{"dvi": {"steps_scale": "auto"}, "timevis": {"steps_scale": "auto"}}' | tee "$out/fit_60k_auto.txt" ;;
  demo)
    "$PY" -m ttvis_widget demo-data --out /tmp/fm12k --epochs 10 --device "$dev"
    "$PY" benchmarks/fit_speed.py --data /tmp/fm12k --epochs 10 --methods "$methods" --no-bracket | tee "$out/fit_demo.txt" ;;
  cuda)
    DEVICE=$dev "$PY" - <<'EOF' 2>&1 | tee "$out/cuda_smoke.txt"
import os, tempfile, time
import numpy as np
import ttvis_widget
from ttvis_widget.demo.digits import make_digits_dynamics
from ttvis_widget.engine import fit

tmp = tempfile.mkdtemp()
dyn = ttvis_widget.load(make_digits_dynamics(tmp + "/digits", epochs=3, progress=False))
for method in ("dvi", "timevis"):
    t0 = time.perf_counter()
    run = fit(dyn, method=method, cache_dir=tmp, progress=False, device=os.environ["DEVICE"])
    e = dyn.epochs[-1]
    X = dyn.representation(e)
    ppr = float((dyn.head(e)(run.inverse(e, run.embedding(e))).argmax(1) == dyn.head(e)(X).argmax(1)).mean())
    terr = run.territory(e)
    print(f"{method} on {run.manifest['device']}: {time.perf_counter() - t0:.1f} s, finite "
          f"{all(np.isfinite(run.embedding(x)).all() for x in dyn.epochs)}, PPR {ppr:.3f}, territory {terr is not None}")
EOF
    ;;
  tests)
    "$PY" -m pytest -q -p no:cacheprovider tests/test_engine.py tests/test_engine_parts.py tests/test_engine_seed.py \
      tests/test_engine_pipeline.py tests/test_metrics.py 2>&1 | tee "$out/pytest_engine.txt" ;;
  *) echo "usage: $0 prepare | cuda | tests | large | large-auto | demo [OUTDIR]" >&2; exit 2 ;;
esac
