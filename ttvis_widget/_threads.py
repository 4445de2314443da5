"""Keep numba's and torch's OpenMP thread pools from fighting.

numba (pynndescent, umap-learn) and torch share the system libgomp here. Once numba's "omp" threading layer
has run a parallel region, every later ``torch.set_num_threads`` leaves torch's small ops several times slower,
which is what a notebook does when it computes metrics or UMAP before fitting DVI. numba's "workqueue" layer
has no such interaction and is as fast for pynndescent's kNN, so it is chosen unless the user chose a layer
(``NUMBA_THREADING_LAYER``) or numba has already started its pool. Figures: docs/methods/building-blocks.md,
"Threads and memory on a CPU".
"""
from __future__ import annotations

import os
import sys

LAYER_ENV = "NUMBA_THREADING_LAYER"


def prefer_workqueue() -> str | None:
    """Select numba's workqueue threading layer if nothing else has been chosen or started; returns the layer
    now configured (None when numba's choice is left alone)."""
    if os.environ.get(LAYER_ENV):
        return None
    numba = sys.modules.get("numba")
    if numba is None:
        os.environ[LAYER_ENV] = "workqueue"  # read by numba.config when numba is imported
        return "workqueue"
    try:
        numba.threading_layer()  # raises ValueError while no parallel region has run yet
        return None  # a pool is running: switching now is not possible
    except ValueError:
        numba.config.THREADING_LAYER = "workqueue"
        return "workqueue"
