"""Where it runs, Python side: the widget needs nothing of JupyterLab, so hosts that load no JupyterLab
extension (VS Code, Colab) can show it. Checked in a fresh interpreter, without a browser; a stand-in for
Colab's ``google.colab.output`` module shows that anywidget's Colab support reaches our widget."""
import json
import subprocess
import sys

from ttvis_widget import fit

PROBE = r"""
import json, sys, types
calls = []
colab_output = types.ModuleType("google.colab.output")  # what Colab's runtime provides
colab_output.enable_custom_widget_manager = lambda: calls.append("enabled")
colab_output._widgets = types.SimpleNamespace(_installed_url="https://colab.example/widget-manager.js")
google = types.ModuleType("google"); google.colab = types.ModuleType("google.colab")
google.colab.output = colab_output
sys.modules.update({"google": google, "google.colab": google.colab, "google.colab.output": colab_output})

import anywidget
from ttvis_widget import TimeTravelWidget
w = TimeTravelWidget(sys.argv[1], method="pca", cache_dir=sys.argv[2])
data, meta = w._repr_mimebundle_()
jupyter_only = sorted({m.split(".")[0] for m in sys.modules}
                      & {"jupyterlab", "jupyterlab_server", "notebook", "nbclassic", "jupyter_server"})
print(json.dumps({
    "jupyter_only": jupyter_only, "colab_calls": calls, "meta": meta, "mimes": sorted(data),
    "own_repr": TimeTravelWidget._repr_mimebundle_ is not anywidget.AnyWidget._repr_mimebundle_,
    "esm_inline": len(w._esm) > 10_000 and "export" in w._esm and "://" not in w._esm[:200],
}))
"""


def test_widget_needs_nothing_of_jupyterlab_and_keeps_anywidgets_colab_support(digits_path, tmp_path):
    fit(digits_path, method="pca", cache_dir=tmp_path, progress=False)  # the probe loads it from the cache
    r = subprocess.run([sys.executable, "-c", PROBE, str(digits_path), str(tmp_path)], capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    got = json.loads(r.stdout.strip().splitlines()[-1])
    assert got["jupyter_only"] == []  # no JupyterLab / Notebook / server module imported by the widget
    assert got["colab_calls"] == ["enabled"]  # anywidget turned on Colab's custom widget manager, once
    assert got["meta"]["application/vnd.jupyter.widget-view+json"]["colab"]["custom_widget_manager"]["url"]
    assert "application/vnd.jupyter.widget-view+json" in got["mimes"] and not got["own_repr"]
    assert got["esm_inline"]  # the front end is the trait's content, not a URL a server extension must serve
