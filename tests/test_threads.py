"""ttvis_widget picks numba's workqueue threading layer (see ttvis_widget/_threads.py) unless the user chose one."""
import os
import subprocess
import sys

import pytest

CODE = {
    "import_first": "import ttvis_widget, numba; print(numba.config.THREADING_LAYER)",
    "numba_first": "import numba; import ttvis_widget; print(numba.config.THREADING_LAYER)",
}


def _layer(code, env_layer=None):
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_THREADING_LAYER"}
    if env_layer:
        env["NUMBA_THREADING_LAYER"] = env_layer
    out = subprocess.run([sys.executable, "-c", CODE[code]], env=env, capture_output=True, text=True, check=True)
    return out.stdout.strip().splitlines()[-1]


@pytest.mark.parametrize("code", sorted(CODE))
def test_workqueue_is_chosen_by_default(code):
    assert _layer(code) == "workqueue"


@pytest.mark.parametrize("code", sorted(CODE))
def test_users_choice_is_kept(code):
    assert _layer(code, "omp") == "omp"
