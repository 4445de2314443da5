"""``fit(path_or_dynamics, method=...) -> VisRun``: the run cache around the driver. A run's folder is found
by a key of its method, result-defining parameters, epochs and data; a finished run is loaded without
training, an unfinished one resumes (driver.drive) and its manifest records what happened."""
from __future__ import annotations

import tempfile
import time
import warnings
from datetime import datetime, timezone
from pathlib import Path

from ..store.cache_location import OUTPUT_DIRNAME
from . import registry, sampling
from .checkpoints import Checkpoints, RunLock
from .driver import FitStopped
from .run import (RUN_FORMAT, RUN_FORMAT_VERSION, VisRun, data_fingerprint, global_bounds, library_versions,
                  read_run_manifest, run_key, write_run_manifest)


def _select_epochs(dyn, epochs) -> list[int]:
    if epochs is None:
        return list(dyn.epochs)
    if isinstance(epochs, int):
        epochs = [epochs]
    out = sorted({int(e) for e in epochs})
    missing = [e for e in out if e not in dyn.epochs]
    if missing:
        raise ValueError(f"epochs {missing} were not recorded; recorded epochs: {dyn.epochs}")
    if not out:
        raise ValueError("no epochs selected")
    return out


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class RunPlan:
    """Where a fit's results live and what it fits, before anything is written: ``dynamics``, ``method``
    (canonical name), ``epochs``, ``estimator`` (the method object), ``params`` (result-defining),
    ``fingerprint``, ``path`` (the run folder), ``store`` (its Checkpoints), ``fit_sample`` (K samples an
    epoch the method is fitted on, or None: all) and ``seed``."""

    def __init__(self, dynamics, method, epochs, estimator, params, fingerprint, path, fit_sample=None, seed=0):
        self.dynamics, self.method, self.epochs = dynamics, method, epochs
        self.estimator, self.params, self.fingerprint = estimator, params, fingerprint
        self.fit_sample, self.seed = fit_sample, seed
        self.path = Path(path)
        self.store = Checkpoints(self.path)

    def finished(self) -> list[int]:
        """Epochs whose embedding the run folder holds (written last for an epoch: final)."""
        return [e for e in self.epochs if self.store.has_embedding(e)]

    def complete(self) -> bool:
        man = read_run_manifest(self.path)
        return bool(man and man.get("complete")) and len(self.finished()) == len(self.epochs)

    def load(self) -> VisRun:
        """The finished run, without training (``complete()`` must hold)."""
        self.estimator.load(self.dynamics, self.epochs, self.store)
        return VisRun(self.method, self.params, self.epochs, self.dynamics, self.path, read_run_manifest(self.path),
                      self.estimator, self.store)


def plan(path_or_dynamics, method: str = "dvi", epochs=None, device: str = "auto", seed: int = 0, cache_dir=None,
         progress: bool = True, fit_sample="auto", **params) -> RunPlan:
    """What ``fit`` with these arguments would fit and where (validates everything; writes nothing)."""
    from .. import load

    dyn = load(path_or_dynamics)
    name = registry.canonical(method)
    eps = _select_epochs(dyn, epochs)
    est = registry.create(name, seed=seed, device=device, progress=progress, **params)
    cparams = est.cache_params()
    k = sampling.resolve(fit_sample, type(est), dyn.n_samples)
    if k is not None:  # only then: the keys of runs on all samples stay as they were
        cparams["fit_sample"] = k
    fp = data_fingerprint(dyn, eps)
    if cache_dir is not None:
        root = Path(cache_dir)
    else:
        try:
            root = dyn.output_dir
        except RuntimeError:
            root = Path(tempfile.mkdtemp(prefix="ttvis-runs-"))
            warnings.warn(f"in-memory dynamics without cache_dir: the run is stored in the temporary folder {root} "
                          "(pass cache_dir=... to keep it)", stacklevel=3)
    path = root / "runs" / f"{name}-{run_key(name, cparams, eps, fp)}"
    if cache_dir is None:
        path = _shipped_run(dyn, path)
    return RunPlan(dyn, name, eps, est, cparams, fp, path, fit_sample=k, seed=seed)


def _shipped_run(dyn, path: Path) -> Path:
    """``path``, or the same run finished inside the content folder when the results go elsewhere because that
    folder cannot be written (a shared dataset shipped with its visualizations): read in place, nothing written
    there (a VisRun keeps what it computes later, territories and metrics, in memory when its folder refuses)."""
    content = getattr(dyn, "content_path", None)
    if content is None:
        return path
    shipped = Path(content) / OUTPUT_DIRNAME / "runs" / path.name
    if shipped == path or (read_run_manifest(path) or {}).get("complete"):
        return path
    return shipped if (read_run_manifest(shipped) or {}).get("complete") else path


def _lineage(plan_: RunPlan) -> dict:
    """What a run must share with another for one to extend the other: method, params, data sizes and the
    first epoch (data_fingerprint of the first epoch alone)."""
    first = data_fingerprint(plan_.dynamics, plan_.epochs[:1])
    return {"method": plan_.method, "params": plan_.params, "n_samples": first["n_samples"], "dim": first["dim"],
            "first_epoch": plan_.epochs[0], "first_sha1": first["sha1"]}


#: the files of a run folder that hold per-epoch results independent of the later epochs (a run extended by
#: new epochs takes them over); territories and metrics depend on the run's bounds / all its epochs: not taken
_EXTENDABLE = ("embedding_", "models", "state", "borders", "border_embedding")


def _seed_from_prefix(plan_: RunPlan, lineage: dict) -> list[int]:
    """A new run of epochs 1..k+m starts from a finished-or-stopped run of the same lineage whose epochs are a
    prefix of them (live recordings, a recording extended by more training): its per-epoch files are linked
    (hard links: every write is a rename, so neither run can change the other's files) and the driver restores
    them instead of refitting. Returns the epochs taken over."""
    if not plan_.estimator.per_epoch:
        return []  # a method that fits all epochs at once refits everything for new epochs
    best, best_done = None, []
    for man_path in sorted(plan_.path.parent.glob(f"{plan_.method}-*/manifest.json")):
        folder = man_path.parent
        if folder == plan_.path:
            continue
        man = read_run_manifest(folder)
        if not man or man.get("lineage") != lineage:
            continue
        eps = [int(e) for e in man.get("epochs", [])]
        if eps != plan_.epochs[:len(eps)]:
            continue
        ck = Checkpoints(folder)
        done = []
        for e in eps:  # a prefix of finished epochs (a stopped fit finished them in order)
            if not ck.has_embedding(e):
                break
            done.append(e)
        if len(done) > len(best_done):
            best, best_done = folder, done
    if best is None:
        return []
    import os
    import shutil

    keep_epochs = {str(e) for e in best_done}
    for src in best.rglob("*"):
        rel = src.relative_to(best)
        if not src.is_file() or not rel.parts[0].startswith(_EXTENDABLE) or src.name.startswith(".tmp"):
            continue
        if rel.parts[0].startswith("embedding_") and src.stem.split("_")[-1] not in keep_epochs:
            continue
        dst = plan_.path / rel
        if dst.exists():
            continue
        dst.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)
    return best_done


def fit(path_or_dynamics, method: str = "dvi", epochs=None, device: str = "auto", seed: int = 0,
        cache_dir=None, progress: bool = True, callback=None, stop=None, waiting=None, fit_sample="auto",
        on_preview=None, **params) -> VisRun:
    """Fit (or load from cache) a visualization of the training dynamics.

    ``method``: one of ``registry.names()`` ("dvi", "timevis", "umap", "aligned-umap", "pca", ...);
    ``params`` go to the method class (an unknown name or value is a ValueError). Results live in
    ``<dynamics.output_dir>/runs/<method>-<hash>/`` (``cache_dir/runs/...`` when given); the hash covers the
    method, its result-defining params (seed included, device not), the epochs and a fingerprint of the data.
    A finished run is loaded without training; an interrupted one resumes; a run of more epochs than a cached
    one of the same method, params and data starts from that one's epochs (``_seed_from_prefix``).
    ``callback(epoch, embedding, info)`` is called after each finished epoch; ``on_preview(epoch, embedding)``
    before it with the epoch's provisional positions, where the method has them early (DVI: after its encoder,
    before its decoder; nothing is saved: driver.FitContext.preview; not with a ``fit_sample``, whose other
    samples are placed by the finished epoch's saved model). ``stop`` (e.g. a threading.Event):
    once set, the fit ends at the next epoch boundary with ``FitStopped``, its finished epochs saved; fitting
    again resumes. One fit per run folder at a time (``RunLock``): another holder (a second kernel, a second
    widget) is waited for, calling ``waiting()`` every 0.2 s meanwhile; then its result is loaded or resumed.
    ``fit_sample``: fit a method that can project new points on K samples an epoch and place all N with its
    encoder (an int K; None: all samples; "auto": K = 50,000 above 200,000 samples, with a notice); the run
    records the samples it saw (``VisRun.fit_index``). See engine/sampling.py.
    """
    p = path_or_dynamics if isinstance(path_or_dynamics, RunPlan) else plan(
        path_or_dynamics, method, epochs, device, seed, cache_dir, progress, fit_sample=fit_sample, **params)
    if p.complete():
        return p.load()
    lock = RunLock(p.path)
    if not lock.acquire(waiting=waiting, stop=stop):
        raise FitStopped([], list(p.epochs))
    try:
        return _fit_locked(p, progress, callback, stop, on_preview)
    finally:
        lock.release()


def _fit_locked(p: RunPlan, progress, callback, stop, on_preview=None) -> VisRun:
    if p.complete():  # the holder we waited for finished it
        return p.load()
    name, eps, est, ck, path = p.method, p.epochs, p.estimator, p.store, p.path
    lineage = _lineage(p)
    path.mkdir(parents=True, exist_ok=True)
    extended = [] if p.finished() else _seed_from_prefix(p, lineage)
    k, fit_dyn = p.fit_sample, p.dynamics
    if k is not None:
        ck, fit_dyn = sampling.sampled_store(path, est, p.dynamics, k, p.seed, eps)
    resumed = p.finished()
    man = {"format": RUN_FORMAT, "version": RUN_FORMAT_VERSION, "method": name, "params": p.params, "epochs": eps,
           "data": p.fingerprint, "lineage": lineage, "versions": library_versions(), "device": None,
           "complete": False, "started": _now(), "resumed_epochs": resumed}
    if extended:
        man["extended_from"] = extended
    if k is not None:
        man["fit_sample"] = {"k": k, "n": int(p.dynamics.n_samples), "indices": sampling.SAMPLE_FILE}
    write_run_manifest(path, man)

    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(eps), initial=len(resumed), desc=f"ttvis fit {name}", unit="epoch", leave=False)

    def _on_epoch(e, emb, info):
        if bar is not None:
            bar.update(1)
            bar.set_postfix_str(f"epoch {e}")
        if callback is not None:
            callback(e, emb if k is None else ck.full_embedding(e, emb), info)

    t0 = time.perf_counter()
    try:
        est.fit(fit_dyn, eps, checkpoints=ck, on_epoch=_on_epoch, stop=stop,
                on_preview=on_preview if k is None else None)
    except FitStopped as err:
        man.update({"stopped": _now(), "finished_epochs": err.done})
        write_run_manifest(path, man)
        raise
    finally:
        if bar is not None:
            bar.close()
    timings = dict(getattr(est, "timings_", {}))
    timings["total_s"] = time.perf_counter() - t0
    man.update({"complete": True, "finished": _now(), "timings": timings, "device": getattr(est, "device_", "cpu"),
                "bounds": list(global_bounds(ck.load_embedding(e) for e in eps))})
    write_run_manifest(path, man)
    return VisRun(name, p.params, eps, p.dynamics, path, man, est, ck)
