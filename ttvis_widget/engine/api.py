"""``fit(path_or_dynamics, method=...) -> VisRun``: the run cache around the driver. A run's folder is found
by a key of its method, result-defining parameters, epochs and data; a finished run is loaded without
training, an unfinished one resumes (driver.drive) and its manifest records what happened."""
from __future__ import annotations

import tempfile
import time
import warnings
from datetime import datetime, timezone
from pathlib import Path

from . import registry, sampling
from .checkpoints import Checkpoints
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


def fit(path_or_dynamics, method: str = "dvi", epochs=None, device: str = "auto", seed: int = 0,
        cache_dir=None, progress: bool = True, callback=None, stop=None, fit_sample="auto", **params) -> VisRun:
    """Fit (or load from cache) a visualization of the training dynamics.

    ``method``: one of ``registry.names()`` ("dvi", "timevis", "umap", "aligned-umap", "pca", ...);
    ``params`` go to the method class (an unknown name or value is a ValueError). Results live in
    ``<dynamics.output_dir>/runs/<method>-<hash>/`` (``cache_dir/runs/...`` when given); the hash covers the
    method, its result-defining params (seed included, device not), the epochs and a fingerprint of the data.
    A finished run is loaded without training; an interrupted one resumes. ``callback(epoch, embedding,
    info)`` is called after each finished epoch. ``stop`` (e.g. a threading.Event): once set, the fit ends at
    the next epoch boundary with ``FitStopped``, its finished epochs saved; fitting again resumes.
    ``fit_sample``: fit a method that can project new points on K samples an epoch and place all N with its
    encoder (an int K; None: all samples; "auto": K = 50,000 above 200,000 samples, with a notice); the run
    records the samples it saw (``VisRun.fit_index``). See engine/sampling.py.
    """
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
                          "(pass cache_dir=... to keep it)", stacklevel=2)
    path = root / "runs" / f"{name}-{run_key(name, cparams, eps, fp)}"
    ck = Checkpoints(path)

    man = read_run_manifest(path)
    if man is not None and man.get("complete") and all(ck.has_embedding(e) for e in eps):
        est.load(dyn, eps, ck)
        return VisRun(name, cparams, eps, dyn, path, man, est, ck)

    path.mkdir(parents=True, exist_ok=True)
    fit_dyn = dyn
    if k is not None:
        ck, fit_dyn = sampling.sampled_store(path, est, dyn, k, seed, eps)
    resumed = [e for e in eps if ck.has_embedding(e)]
    man = {"format": RUN_FORMAT, "version": RUN_FORMAT_VERSION, "method": name, "params": cparams, "epochs": eps,
           "data": fp, "versions": library_versions(), "device": None, "complete": False, "started": _now(),
           "resumed_epochs": resumed}
    if k is not None:
        man["fit_sample"] = {"k": k, "n": int(dyn.n_samples), "indices": sampling.SAMPLE_FILE}
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
        est.fit(fit_dyn, eps, checkpoints=ck, on_epoch=_on_epoch, stop=stop)
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
    return VisRun(name, cparams, eps, dyn, path, man, est, ck)
