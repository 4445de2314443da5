"""``evaluate_run(run)``: every faithfulness metric of a :class:`VisRun`, per epoch, cached in the run folder.

Key glossary (k ∈ ``ks``; "train" = training samples, "all" = train ∪ test, "test" = test samples only):

==========================  ==========================================================================
``nn{k}_exact_train/_all``  exact kNN, self excluded, overlap / k: a **fraction** (= DynaVis NPR)
``nn{k}_exact_seen/_unseen`` the same (over all samples' lists) for the samples a ``fit_sample`` run was fitted
                            on / placed by its encoder alone (``n_seen``; absent for runs fitted on all)
``nn{k}_paper_train/_all``  the papers' NN@k: NNDescent lists including the point itself, a **count**
                            in [~1, k] (the papers' "test" value is ``_all``)
``bnn{k}_train``            BNN@k, training set vs the run's border set B (count in [0, k])
``bnn{k}_all``              train ∪ test vs B (DVI-era "test")
``bnn{k}_test``             test set vs an independent border set B′ from training samples (FSE-era "test")
``ppr_train/_test``         prediction preserving rate of the inverse (agreement with the model)
``vis_error_*``             number of mismatches N·(1 − PPR) (on the subsample when subsampled)
``recon_dist_*``            mean ‖h − dec(enc(h))‖
``conf_diff_*``             mean |softmax(g(h))_ŷ − softmax(g(ĥ))_ŷ|
``trust{k}`` / ``cont{k}``  exact trustworthiness / continuity on a seeded subsample of train ∪ test
``tnn{k}_train/_test``      temporal NN at this reference epoch, s = t excluded (count in [0, k])
``tr_train/_test``          Spearman over all evaluated temporal epochs (s = t excluded)
``tlr_train/_test``         the same within the stage (of 3) that contains the epoch
==========================  ==========================================================================

The last row has ``"row": "run"``: DVI's temporal correlation (``temporal_dvi{k}_{train,all}_{mean,std}``,
expected negative), stage means of tlr/tr, and the settings. ``subsample`` in a row records every subsample
(size, population, seed). Values that do not apply (no inverse, no head, no test split) are ``None``.
"""
from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Sequence

import numpy as np

from ..engine import registry
from .borders import independent_border_set
from .inverse import inverse_metrics
from .knn import exact_knn, exact_knn_with_subset, nndescent_knn
from .neighbors import bnn_from_lists, nn_exact_from_lists, overlap_counts
from .temporal import dvi_temporal, epoch_distances, stages, temporal_rankings
from .trust import subsample_index, trust_continuity

METRICS_FILE = "metrics.json"
FORMAT_VERSION = 1


def _jsonable(x):
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return _jsonable(x.tolist())
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, (float, np.floating)):
        x = float(x)
        return None if not math.isfinite(x) else x
    if isinstance(x, (str, int, bool)) or x is None:
        return x
    return str(x)


def _try(fn, *args):
    """Call an optional VisRun capability; None when the method does not provide it."""
    try:
        return fn(*args)
    except (NotImplementedError, AttributeError):
        return None


def _run_identity(run) -> dict:
    return {"method": getattr(run, "method", None), "params": getattr(run, "params", None),
            "epochs": list(getattr(run, "epochs", []))}


def _inverse_n(run, inverse_max_n):
    """"auto": every sample for a method whose inverse is fast (the registry's facts), else 1,000."""
    if inverse_max_n == "auto":
        facts = registry.facts(str(getattr(run, "method", "")))
        return None if facts is not None and facts["fast_inverse"] else 1000
    return inverse_max_n


class _Knn:
    """Exact self-excluded neighbour lists per (space, epoch): (train ∪ test lists, train-only lists), kmax
    columns, computed in one pass; shared by NN@k and the DVI temporal correlation."""

    def __init__(self, kmax: int, tr_idx: np.ndarray, n: int):
        self.kmax = kmax
        self.tr_idx = tr_idx
        self.whole = len(tr_idx) == n
        self.cache: dict = {}

    def get(self, space: str, epoch: int, x: np.ndarray):
        key = (space, epoch)
        if key not in self.cache:
            if self.whole:
                lists = exact_knn(x, min(self.kmax, len(x) - 1))
                self.cache[key] = (lists, lists)
            else:
                a, t = exact_knn_with_subset(x, min(self.kmax, len(self.tr_idx) - 1), self.tr_idx)
                self.cache[key] = (a.astype(np.int32), t.astype(np.int32))
        return self.cache[key]

    def drop(self, space: str, epoch: int):
        self.cache.pop((space, epoch), None)


def evaluate_run(run, epochs: Sequence[int] | None = None, ks: Sequence[int] = (10, 15, 20), seed: int = 0, *,
                 paper_form: bool = True, bnn: bool = True, inverse: bool = True, trust: bool = True,
                 trust_max_n: int | None = 2000, temporal: bool = True,
                 temporal_epochs: Sequence[int] | None = None, temporal_ks: Sequence[int] = (3, 5, 7),
                 dvi_k: int = 15, inverse_max_n: int | str | None = "auto", border_ratio: float = 0.1,
                 cache: bool = True, recompute: bool = False, progress: bool = False) -> list[dict]:
    """Faithfulness metrics of ``run`` (a VisRun): one dict per evaluated epoch, then one run-level dict.

    ``epochs``: epochs for the per-epoch metrics (default: all of ``run.epochs``); ``temporal_epochs``: the
    sequence for the temporal metrics (default: all of ``run.epochs``). ``ks``: neighbourhood sizes for NN/BNN/
    trustworthiness. ``seed`` seeds NNDescent, every subsample and the independent border set B′.
    ``trust_max_n`` / ``inverse_max_n``: subsample sizes for trustworthiness (quadratic memory) and for the
    inverse metrics ("auto": all samples for methods with a fast inverse, 1000 otherwise).
    The table is cached as ``run.path / "metrics.json"`` and recomputed when any setting differs
    (or ``recompute=True``). See the module docstring for the keys.
    """
    run_epochs = [int(e) for e in run.epochs]
    epochs = run_epochs if epochs is None else [int(e) for e in epochs]
    for e in epochs:
        if e not in run_epochs:
            raise KeyError(f"epoch {e} is not in the run; its epochs are {run_epochs}")
    t_epochs = run_epochs if temporal_epochs is None else sorted(int(e) for e in temporal_epochs)
    ks = [int(k) for k in ks]
    settings = {"format": FORMAT_VERSION, "run": _run_identity(run), "epochs": epochs, "ks": ks, "seed": int(seed),
                "paper_form": paper_form, "bnn": bnn, "inverse": inverse, "trust": trust, "trust_max_n": trust_max_n,
                "temporal": temporal, "temporal_epochs": t_epochs, "temporal_ks": list(temporal_ks), "dvi_k": dvi_k,
                "inverse_max_n": _inverse_n(run, inverse_max_n), "border_ratio": border_ratio}
    settings = json.loads(json.dumps(_jsonable(settings)))
    path = getattr(run, "path", None)
    cache_file = Path(path) / METRICS_FILE if (cache and path is not None) else None
    if cache_file is not None and cache_file.exists() and not recompute:
        try:
            stored = json.loads(cache_file.read_text())
            if stored.get("settings") == settings:
                return stored["rows"]
        except (OSError, ValueError):
            pass

    rows = _compute(run, epochs, ks, int(seed), paper_form, bnn, inverse, trust, trust_max_n, temporal, t_epochs,
                    list(temporal_ks), dvi_k, settings["inverse_max_n"], border_ratio, progress)
    rows = _jsonable(rows)
    if cache_file is not None:
        from ..store.atomic import ResultWriteError, atomic_write_json

        try:
            atomic_write_json(cache_file, {"settings": settings, "rows": rows})
        except ResultWriteError:  # a run read in place from a folder that cannot be written: not cached
            pass
    return rows


def _compute(run, epochs, ks, seed, paper_form, do_bnn, do_inverse, do_trust, trust_max_n, do_temporal, t_epochs,
             temporal_ks, dvi_k, inverse_max_n, border_ratio, progress):
    dyn = run.dynamics
    split = np.asarray(dyn.split)
    tr_idx = np.flatnonzero(split == 0)
    te_idx = np.flatnonzero(split == 1)
    has_test = len(te_idx) > 0
    kmax = max(ks + ([dvi_k] if do_temporal else []))
    knn = _Knn(kmax, tr_idx, len(split))
    has_inverse = bool(getattr(run, "has_inverse", False)) and do_inverse
    fit_index = getattr(run, "fit_index", None)
    seen = None
    if fit_index is not None:
        seen = np.zeros(len(split), bool)
        seen[fit_index] = True
    rows = []
    border_source = None
    _say(progress, f"scoring {len(epochs)} epochs of the {getattr(run, 'method', '?')} run")
    if paper_form:
        _say(progress, "compiling pynndescent's numba code (once per process, ~30-40 s on 2 cores) ...")
        _say(progress, f"compiled in {_warm_nndescent(seed):.1f} s")

    for i, e in enumerate(epochs, 1):
        t0 = time.perf_counter()
        secs = {}
        H = np.array(dyn.representation(e), np.float32)  # writable: numba compiles read-only arrays apart (~40 s)
        L = np.asarray(run.embedding(e), np.float32)
        row = {"row": "epoch", "epoch": e, "n_train": int(len(tr_idx)), "n_test": int(len(te_idx))}
        sub = {}

        # ---- NN@k, exact ---------------------------------------------------------------------------
        t = time.perf_counter()
        kh_all, kh_tr = knn.get("H", e, H)
        kl_all, kl_tr = knn.get("L", e, L)
        for k in ks:
            row[f"nn{k}_exact_train"] = nn_exact_from_lists(kh_tr, kl_tr, k)
            row[f"nn{k}_exact_all"] = nn_exact_from_lists(kh_all, kl_all, k)
        if seen is not None:  # fitted on a sample (fit_sample): the samples it saw vs those its encoder placed
            row["n_seen"] = int(seen.sum())
            for k in ks:
                row[f"nn{k}_exact_seen"] = nn_exact_from_lists(kh_all[seen], kl_all[seen], k)
                row[f"nn{k}_exact_unseen"] = (nn_exact_from_lists(kh_all[~seen], kl_all[~seen], k)
                                              if (~seen).any() else None)
        knn.drop("L", e)
        secs["nn_exact"] = time.perf_counter() - t

        # ---- NN@k, the papers' form ------------------------------------------------------------------
        if paper_form:
            t = time.perf_counter()
            for k in ks:
                row[f"nn{k}_paper_train"] = float(overlap_counts(nndescent_knn(H[tr_idx], k, seed),
                                                                 nndescent_knn(L[tr_idx], k, seed)).mean())
                row[f"nn{k}_paper_all"] = (float(overlap_counts(nndescent_knn(H, k, seed),
                                                                nndescent_knn(L, k, seed)).mean())
                                           if has_test else row[f"nn{k}_paper_train"])
            secs["nn_paper"] = time.perf_counter() - t

        head = dyn.head(e) if hasattr(dyn, "head") else None
        logits = head(H) if head is not None else None

        # ---- BNN@k -----------------------------------------------------------------------------------
        if do_bnn:
            t = time.perf_counter()
            B = _try(run.border_points, e)
            B_low = None
            if B is not None and len(B):  # a method may provide the 2-D positions of its own border set
                B_low = _try(run.border_embedding, e) if hasattr(run, "border_embedding") else None
                if B_low is None:
                    B_low = _try(run.transform, e, B)
            row["n_border"] = None if B is None else int(len(B))
            for k in ks:
                row[f"bnn{k}_train"] = row[f"bnn{k}_all"] = row[f"bnn{k}_test"] = None
            if B_low is not None and len(B) >= max(ks):
                B = np.asarray(B, np.float32)
                B_low = np.asarray(B_low, np.float32)
                bh, bl = exact_knn(H, max(ks), B), exact_knn(L, max(ks), B_low)
                bh_tr, bl_tr = bh[tr_idx], bl[tr_idx]
                for k in ks:
                    row[f"bnn{k}_train"] = bnn_from_lists(bh_tr, bl_tr, k)
                    row[f"bnn{k}_all"] = bnn_from_lists(bh, bl, k)
            if has_test and head is not None:
                n_b = max(max(ks), int(round(border_ratio * len(tr_idx))))
                Bt, border_source = independent_border_set(H[tr_idx], head, n_b, seed + 1_000_003,
                                                           logits=logits[tr_idx])
                Bt_low = _try(run.transform, e, Bt) if len(Bt) else None
                row["n_border_test"] = int(len(Bt))
                if Bt_low is not None and len(Bt) >= max(ks):
                    bh = exact_knn(H[te_idx], max(ks), Bt)
                    bl = exact_knn(L[te_idx], max(ks), np.asarray(Bt_low, np.float32))
                    for k in ks:
                        row[f"bnn{k}_test"] = bnn_from_lists(bh, bl, k)
            secs["bnn"] = time.perf_counter() - t

        # ---- inverse: PPR, reconstruction, confidence ------------------------------------------------------
        for part in ("train", "test"):
            for name in ("ppr", "vis_error", "recon_dist", "conf_diff"):
                row[f"{name}_{part}"] = None
        if has_inverse:
            t = time.perf_counter()
            for part, idx in (("train", tr_idx), ("test", te_idx)):
                if len(idx) == 0:
                    continue
                s_idx = subsample_index(len(idx), inverse_max_n, seed)
                if s_idx is not None:
                    sub[f"inverse_{part}"] = {"n": int(len(s_idx)), "of": int(len(idx)), "seed": seed}
                    idx = idx[s_idx]
                recon = np.asarray(run.inverse(e, L[idx]), np.float32)
                if head is not None:
                    m = inverse_metrics(H[idx], recon, head, logits=logits[idx])
                else:
                    from .inverse import reconstruction_distance

                    m = {"ppr": None, "vis_error": None, "conf_diff": None,
                         "recon_dist": reconstruction_distance(H[idx], recon)}
                for name, v in m.items():
                    row[f"{name}_{part}"] = v
            secs["inverse"] = time.perf_counter() - t

        # ---- trustworthiness / continuity ------------------------------------------------------------
        if do_trust:
            t = time.perf_counter()
            tc = trust_continuity(H, L, ks=ks, max_n=trust_max_n, seed=seed)
            if tc.pop("subsample") is not None:
                sub["trust"] = {"n": int(min(trust_max_n, len(H))), "of": int(len(H)), "seed": seed}
            row.update(tc)
            secs["trust"] = time.perf_counter() - t

        row["subsample"] = sub or None
        row["seconds"] = time.perf_counter() - t0
        row["seconds_parts"] = secs
        rows.append(row)
        _say(progress, f"epoch {e} ({i}/{len(epochs)}): {row['seconds']:.2f} s")

    run_row = {"row": "run", "epoch": None, "method": getattr(run, "method", None),
               "border_test_source": border_source,
               "nndescent": "pynndescent, n_trees = 5 + round(sqrt(N)/20), n_iters = max(5, round(log2 N)), "
                            "max_candidates = 60, n_neighbors = k, self-inclusive",
               "tnn_excludes_self": True, "tr_includes_self": True,
               "dvi_temporal_knn": "exact, self-excluded high-dim lists (the papers: self-inclusive NNDescent)"}
    if do_temporal and len(t_epochs) >= 2:
        _say(progress, f"temporal metrics over {len(t_epochs)} epochs ...")
        t = time.perf_counter()
        _temporal(run, dyn, t_epochs, tr_idx, te_idx, temporal_ks, dvi_k, knn, rows, run_row)
        run_row["seconds_temporal"] = time.perf_counter() - t
    rows.append(run_row)
    return rows


def _say(progress: bool, text: str) -> None:
    if progress:
        print(f"[metrics] {text}", flush=True)


def _warm_nndescent(seed: int) -> float:
    """Seconds to compile pynndescent's numba code on a small problem, so that it is a named step rather than
    a silent first epoch (milliseconds once compiled in this process)."""
    t = time.perf_counter()
    nndescent_knn(np.random.default_rng(seed).normal(size=(512, 8)).astype(np.float32), 15, seed)
    return time.perf_counter() - t


def _temporal(run, dyn, t_epochs, tr_idx, te_idx, temporal_ks, dvi_k, knn, rows, run_row):
    has_test = len(te_idx) > 0
    reps = [np.asarray(dyn.representation(e), np.float32) for e in t_epochs]
    embs = [np.asarray(run.embedding(e), np.float32) for e in t_epochs]
    # DVI: exact, self-excluded high-dim lists (the papers used self-inclusive NNDescent lists; Pearson is
    # insensitive to the constant self-match but the k − 1 vs k neighbours differ slightly).
    for part, idx in (("train", tr_idx), ("all", np.arange(len(reps[0])))):
        if part == "all" and not has_test:
            run_row[f"temporal_dvi{dvi_k}_all_mean"] = run_row[f"temporal_dvi{dvi_k}_train_mean"]
            run_row[f"temporal_dvi{dvi_k}_all_std"] = run_row[f"temporal_dvi{dvi_k}_train_std"]
            continue
        which = 1 if part == "train" else 0
        lists = [knn.get("H", e, reps[i])[which][:, :dvi_k] for i, e in enumerate(t_epochs)]
        r = dvi_temporal(lists, [x[idx] for x in embs])
        run_row[f"temporal_dvi{dvi_k}_{part}_mean"] = float(r.mean()) if len(r) else None
        run_row[f"temporal_dvi{dvi_k}_{part}_std"] = float(r.std()) if len(r) else None

    dh = epoch_distances(reps)
    dl = epoch_distances(embs)
    per = {}
    for part, idx in (("train", tr_idx), ("test", te_idx)):
        if len(idx) == 0:
            continue
        per[part] = temporal_rankings(None, None, ks=temporal_ks, dist_high=dh[:, :, idx], dist_low=dl[:, :, idx])
    st = stages(len(t_epochs))
    by_epoch = {e: i for i, e in enumerate(t_epochs)}
    for row in rows:
        i = by_epoch.get(row["epoch"])
        row["stage"] = None if i is None else int(st[i]) + 1
        for part in ("train", "test"):
            for key in [f"tnn{k}" for k in temporal_ks] + ["tr", "tlr"]:
                row[f"{key}_{part}"] = None if (i is None or part not in per) else per[part][key][i]
    run_row["temporal_epochs"] = list(t_epochs)
    run_row["stages"] = [[t_epochs[i] for i in np.flatnonzero(st == s)] for s in range(int(st.max()) + 1)]
    for part in per:
        for s in range(int(st.max()) + 1):
            run_row[f"tlr_{part}_stage{s + 1}"] = float(np.nanmean(per[part]["tlr"][st == s])) \
                if np.isfinite(per[part]["tlr"][st == s]).any() else None
        for key in ["tr", "tlr"] + [f"tnn{k}" for k in temporal_ks]:
            v = per[part][key]
            run_row[f"{key}_{part}_mean"] = float(np.nanmean(v)) if np.isfinite(v).any() else None
