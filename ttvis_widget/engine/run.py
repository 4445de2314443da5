"""``VisRun``: the result of ``fit`` -- per-epoch 2-D embeddings, the fitted projector, territories -- and its
folder cache ``<output_dir>/runs/<method>-<hash>/``.

Folder layout (every file written atomically)::

    manifest.json            method, params, epochs, data fingerprint, library versions, timings,
                             bounds, "complete": true once every epoch is done
    embedding_<e>.npy        float32 [N, 2]
    models/...               weights (torch state_dicts, load with weights_only=True) or PCA arrays
    state/...                resumable training state (removed parts are simply recomputed)
    borders/epoch_<e>.npz    border points (representation space) used in training / made on demand
    territory/epoch_<e>_<R>.npz / .png
"""
from __future__ import annotations

import hashlib
import json
import platform
from pathlib import Path

import numpy as np

from ..store.atomic import ResultWriteError, atomic_write_bytes, atomic_write_json
from .checkpoints import Checkpoints

#: analyses of a run that rooms above the engine provide (name -> function(run, **kw)): they register
#: themselves (register_analysis) when imported, so the engine never imports them
ANALYSES: dict = {}

RUN_FORMAT = "ttvis-run"
RUN_FORMAT_VERSION = 1
BOUNDS_PAD = 0.05  # fraction of the extent added on each side of the global box


def library_versions() -> dict:
    import importlib.metadata as md

    out = {"python": platform.python_version()}
    for name in ("ttvis_widget", "torch", "numpy", "scipy", "scikit-learn", "umap-learn", "pynndescent"):
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            out[name] = None
    return out


def data_fingerprint(dynamics, epochs) -> dict:
    """Cheap identity of the data: sizes plus a hash of a strided subsample of the first and last epoch."""
    h = hashlib.sha1()
    n = dynamics.n_samples
    step = max(1, n // 2000)
    for e in (epochs[0], epochs[-1]):
        h.update(np.ascontiguousarray(dynamics.representation(e)[::step]).tobytes())
    return {"name": dynamics.name, "n_samples": int(n), "dim": int(dynamics.dim), "sha1": h.hexdigest()[:16]}


def run_key(method: str, params: dict, epochs, fingerprint: dict) -> str:
    blob = json.dumps({"method": method, "params": params, "epochs": [int(e) for e in epochs],
                       "data": {k: fingerprint[k] for k in ("n_samples", "dim", "sha1")}},
                      sort_keys=True, default=str)
    return hashlib.sha1(blob.encode()).hexdigest()[:12]


def read_run_manifest(path) -> dict | None:
    """The manifest of the run folder ``path``, or None when it has none or it cannot be read (the run is then
    fitted again). Not the training-dynamics manifest of a recording (store.ttvis_layout.read_manifest)."""
    p = Path(path) / "manifest.json"
    if not p.exists():
        return None
    try:
        return json.loads(p.read_text())
    except (OSError, ValueError):
        return None


def register_analysis(name: str, fn) -> None:
    """Provide the analysis ``name`` of a run as ``fn(run, **kw)`` (the metrics room registers "metrics", which
    ``VisRun.metrics`` calls)."""
    ANALYSES[name] = fn


def analysis(name: str):
    if name not in ANALYSES:
        raise RuntimeError(f"run.{name}() is provided by ttvis_widget.{name}, which is not imported: "
                           f"`import ttvis_widget.{name}` first (ttvis_widget.fit does it)")
    return ANALYSES[name]


def global_bounds(embeddings) -> tuple[float, float, float, float]:
    lo = np.full(2, np.inf)
    hi = np.full(2, -np.inf)
    for emb in embeddings:
        lo = np.minimum(lo, np.nanmin(emb, 0))
        hi = np.maximum(hi, np.nanmax(emb, 0))
    ext = np.maximum(hi - lo, 1e-6)
    pad = BOUNDS_PAD * ext
    return (float(lo[0] - pad[0]), float(lo[1] - pad[1]), float(hi[0] + pad[0]), float(hi[1] + pad[1]))


class VisRun:
    """A fitted visualization of one training run (see docs/CONTRACTS.md)."""

    def __init__(self, method: str, params: dict, epochs, dynamics, path, manifest: dict, projector,
                 checkpoints: Checkpoints | None = None):
        self.method = method
        self.params = dict(params)
        self.epochs = [int(e) for e in epochs]
        self.dynamics = dynamics
        self.path = Path(path)
        self.manifest = manifest
        self.projector = projector
        self._ck = checkpoints or Checkpoints(self.path)
        self._emb: dict[int, np.ndarray] = {}
        self._terr: dict = {}

    # embeddings ---------------------------------------------------------------------------------
    def _check_epoch(self, epoch) -> int:
        e = int(epoch)
        if e not in self.epochs:
            raise KeyError(f"epoch {epoch} is not part of this run; its epochs: {self.epochs}")
        return e

    def embedding(self, epoch) -> np.ndarray:
        e = self._check_epoch(epoch)
        if e not in self._emb:
            self._emb[e] = np.asarray(self._ck.load_embedding(e), dtype=np.float32)
        return self._emb[e]

    def embeddings(self) -> np.ndarray:
        return np.stack([self.embedding(e) for e in self.epochs], 0)

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        b = self.manifest.get("bounds")
        if b is None:
            b = global_bounds(self.embedding(e) for e in self.epochs)
            self.manifest["bounds"] = list(b)
        return tuple(float(v) for v in b)

    @property
    def fit_index(self) -> np.ndarray | None:
        """The samples the fit saw (int64, sorted) when it was fitted on a sample (``fit_sample``), else None:
        the rest were placed by the fitted encoder."""
        if not self.manifest.get("fit_sample"):
            return None
        return np.load(self.path / self.manifest["fit_sample"]["indices"], allow_pickle=False)

    # projection -----------------------------------------------------------------------------------
    @property
    def has_inverse(self) -> bool:
        return bool(getattr(self.projector, "has_inverse", False))

    def transform(self, epoch, reps) -> np.ndarray:
        e = self._check_epoch(epoch)
        return np.asarray(self.projector.transform(e, reps), np.float32)

    def inverse(self, epoch, xy) -> np.ndarray:
        e = self._check_epoch(epoch)
        if not self.has_inverse:
            from .registry import inverse_hint

            raise NotImplementedError(f"method {self.method!r} has no inverse projection (2-D -> representation); "
                                      f"fit with {inverse_hint()} to get one")
        return np.asarray(self.projector.inverse_transform(e, np.asarray(xy, np.float32)), np.float32)

    # territories ------------------------------------------------------------------------------------
    def territory(self, epoch, resolution: int | None = None):
        from .territory import DEFAULT_RESOLUTION, Territory, compute_territory

        e = self._check_epoch(epoch)
        r = int(resolution or DEFAULT_RESOLUTION)
        key = (e, r)
        if key in self._terr:
            return self._terr[key]
        f = self.path / "territory" / f"epoch_{e}_{r}.npz"
        terr = None
        if f.exists():
            try:
                terr = Territory.load(f, self.bounds)
            except Exception:  # noqa: BLE001 - a damaged cache file is recomputed
                terr = None
        if terr is None:
            terr = compute_territory(self, e, r)
            if terr is not None:
                try:
                    terr.save(f)
                    atomic_write_bytes(f.with_suffix(".png"), terr.png())
                except ResultWriteError:  # a run read in place from a folder that cannot be written: kept here
                    pass
        self._terr[key] = terr
        return terr

    # border points ------------------------------------------------------------------------------------
    def border_points(self, epoch) -> np.ndarray:
        """Border set of ``epoch`` (representation space): the one used in training, else generated now."""
        from .borders import generate_border_points

        e = self._check_epoch(epoch)
        name = f"borders/epoch_{e}"
        if self._ck.has_npz(name):
            return self._ck.load_npz(name)["points"].astype(np.float32)
        pts = generate_border_points(self.dynamics, e, seed=int(self.params.get("seed", 0)))
        if pts is None:
            return np.zeros((0, self.dynamics.dim), np.float32)
        self._ck.save_npz(name, {"points": pts})
        return pts

    def border_embedding(self, epoch) -> np.ndarray:
        """2-D positions of ``border_points(epoch)``: stored at fit time (UMAP: its ``transform``) or projected
        now by a parametric method. Raises NotImplementedError for methods that cannot place new points."""
        e = self._check_epoch(epoch)
        name = f"border_embedding/epoch_{e}"
        if self._ck.has_npz(name):
            return self._ck.load_npz(name)["xy"].astype(np.float32)
        pts = self.border_points(e)
        try:
            return self.transform(e, pts)
        except NotImplementedError as err:
            raise NotImplementedError(f"method {self.method!r} cannot place border points: {err}") from err

    # analyses ------------------------------------------------------------------------------------------
    def metrics(self, **kw):
        """The faithfulness metrics of this run: the metrics room's ``evaluate_run(run, **kw)``."""
        return analysis("metrics")(self, **kw)

    def __repr__(self) -> str:
        return (f"<VisRun {self.method} epochs={self.epochs[0]}..{self.epochs[-1]} ({len(self.epochs)}) "
                f"N={self.dynamics.n_samples} inverse={self.has_inverse} path={str(self.path)!r}>")


def write_run_manifest(path, manifest: dict) -> None:
    atomic_write_json(Path(path) / "manifest.json", manifest)
