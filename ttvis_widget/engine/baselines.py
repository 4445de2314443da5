"""Non-parametric and classic baselines: per-epoch PCA (with an exact linear inverse), per-epoch UMAP and
AlignedUMAP (umap-learn; no inverse, so no territories). docs/methods/baselines.md.

PCA is fitted independently per epoch; the sign of each component is flipped to agree with the previous
epoch's layout so that animations do not mirror from one epoch to the next.
"""
from __future__ import annotations

import contextlib
import threading
import time

import numpy as np

from .base import Projector


class PCABaseline(Projector):
    name = "pca"
    has_inverse = True
    fast_inverse = True

    def __init__(self, seed: int = 0, device: str = "auto", progress: bool = False, align_signs: bool = True):
        """``align_signs``: flip each component to agree with the previous epoch's (else: the largest-magnitude
        loading positive)."""
        self._keep(locals())

    def _fit_epoch(self, X, prev_emb):
        X = np.asarray(X, np.float64)
        mean = X.mean(0)
        Xc = X - mean
        # top-2 right singular vectors (deterministic; randomized SVD is not needed at these sizes)
        cov = Xc.T @ Xc
        vals, vecs = np.linalg.eigh(cov)
        comps = vecs[:, ::-1][:, :2].T.copy()  # [2, D]
        emb = Xc @ comps.T
        if self.align_signs and prev_emb is not None:
            for c in range(2):
                if np.dot(emb[:, c], prev_emb[:, c]) < 0:
                    comps[c] *= -1
                    emb[:, c] *= -1
        else:  # deterministic sign: largest-magnitude loading positive
            for c in range(2):
                if comps[c][np.argmax(np.abs(comps[c]))] < 0:
                    comps[c] *= -1
                    emb[:, c] *= -1
        return mean.astype(np.float32), comps.astype(np.float32), emb.astype(np.float32)

    def begin(self, ctx):
        super().begin(ctx)
        self.params_ = {}
        self._prev = None

    def epoch_finished(self, store, epoch):
        return store.has_embedding(epoch) and store.has_npz(f"models/pca_{epoch}")

    def restore_epoch(self, ctx, e):
        z = ctx.store.load_npz(f"models/pca_{e}")
        self.params_[e] = (z["mean"], z["components"])
        self._prev = ctx.store.load_embedding(e)

    def fit_epoch(self, ctx, e):
        t0 = time.perf_counter()
        mean, comps, emb = self._fit_epoch(ctx.dynamics.representation(e), self._prev)
        dt = time.perf_counter() - t0
        self.params_[e] = (mean, comps)
        ctx.store.save_npz(f"models/pca_{e}", {"mean": mean, "components": comps})
        self._prev = emb
        ctx.epoch_done(e, emb, {"train_s": dt})

    def load(self, dynamics, epochs, checkpoints):
        super().load(dynamics, epochs, checkpoints)
        self.params_ = {}
        for e in self.epochs_:
            z = checkpoints.load_npz(f"models/pca_{e}")
            self.params_[e] = (z["mean"], z["components"])
        return self

    def transform(self, epoch, reps):
        mean, comps = self.params_[int(epoch)]
        return ((np.asarray(reps, np.float32) - mean) @ comps.T).astype(np.float32)

    def inverse_transform(self, epoch, xy):
        mean, comps = self.params_[int(epoch)]
        return (np.asarray(xy, np.float32) @ comps + mean).astype(np.float32)


_UMAP_WARM = False


def _umap_jit_warmup() -> float:
    """Run umap-learn once on a small problem so that numba compilation is timed apart (seconds).

    4,200 points: umap-learn finds neighbours by brute force below 4,096 points and with pynndescent above,
    so a smaller warm-up would leave pynndescent's compilation inside the first real epoch. The ``transform``
    compiles what placing border points uses. Once per process (0 afterwards), like knn.nndescent_warmup."""
    global _UMAP_WARM
    if _UMAP_WARM:  # compiled already in this process: nothing to time apart
        return 0.0
    t0 = time.perf_counter()
    import umap

    rng = np.random.default_rng(0)
    X = rng.normal(size=(4200, 8)).astype(np.float32)
    model = umap.UMAP(n_neighbors=15, n_epochs=5).fit(X)
    model.transform(X[:16])
    _UMAP_WARM = True
    return time.perf_counter() - t0


def _no_inverse(what: str):
    from .registry import inverse_hint

    return NotImplementedError(f"{what}; use {inverse_hint()} for territories and inverse projection")


class UMAPBaseline(Projector):
    """Independent umap-learn UMAP per epoch (n_neighbors 15, min_dist 0.1, Euclidean); no inverse."""

    name = "umap"
    has_inverse = False

    def __init__(self, seed: int = 0, device: str = "auto", progress: bool = False, n_neighbors: int = 15,
                 min_dist: float = 0.1, n_epochs: int | None = None, deterministic: bool = False,
                 embed_borders: bool = True):
        """``n_epochs``: umap-learn's (None: its default); ``deterministic``: random_state=seed (umap-learn then
        runs single-threaded); ``embed_borders``: also place the border set with UMAP's ``transform`` (for
        BNN@k) when a head is recorded."""
        self._keep(locals())

    @contextlib.contextmanager
    def fitting(self, ctx):
        if ctx.todo:
            self.timings_["jit_s"] = _umap_jit_warmup()
        yield

    def fit_epoch(self, ctx, e):
        import umap

        t0 = time.perf_counter()
        kw = dict(random_state=self.seed) if self.deterministic else {}
        model = umap.UMAP(n_neighbors=self.n_neighbors, min_dist=self.min_dist, n_epochs=self.n_epochs, **kw)
        emb = model.fit_transform(ctx.dynamics.representation(e)).astype(np.float32)
        dt = time.perf_counter() - t0
        if self.embed_borders:
            self._embed_borders(model, ctx.dynamics, e, ctx.store)
        ctx.epoch_done(e, emb, {"train_s": dt})

    def _embed_borders(self, model, dynamics, e, ck):
        """Place this epoch's border set with the fitted UMAP's ``transform`` (as the papers placed new points),
        so that BNN@k can be scored for UMAP too. Stored next to the embedding; the model itself is not kept."""
        from .borders import generate_border_points

        name = f"borders/epoch_{e}"
        if ck.has_npz(name):
            pts = ck.load_npz(name)["points"].astype(np.float32)
        else:
            pts = generate_border_points(dynamics, e, seed=self.seed)
            if pts is None or not len(pts):
                return
            ck.save_npz(name, {"points": pts})
        ck.save_npz(f"border_embedding/epoch_{e}", {"xy": model.transform(pts).astype(np.float32)})

    def inverse_transform(self, epoch, xy):
        raise _no_inverse("per-epoch UMAP has no inverse projection here (umap-learn's inverse_transform takes "
                          "tens of minutes per 10k points)")


_AU_LOCK = threading.Lock()


@contextlib.contextmanager
def _aligned_umap_progress(n_epochs: int):
    """A bar over AlignedUMAP's per-epoch UMAP fits, then its joint alignment named: umap-learn reports neither
    (its ``verbose`` prints ~30 lines per epoch) and the fit's own bar sits at 0 until all epochs are done. The
    bar ticks from a subclass of the UMAP class that umap.aligned_umap builds each epoch's model from, put in
    its place for one fit (under a lock, so two AlignedUMAP fits never see each other's)."""
    import umap.aligned_umap as au

    base = getattr(au, "UMAP", None)
    if not n_epochs or not isinstance(base, type):
        yield
        return
    from tqdm.auto import tqdm

    with _AU_LOCK:
        bar = tqdm(total=n_epochs, desc="aligned-umap: UMAP of each epoch", unit="epoch", leave=False)

        class _Ticking(base):
            def fit(self, *args, **kwargs):
                out = super().fit(*args, **kwargs)
                bar.update(1)
                if bar.n >= n_epochs:
                    bar.set_description("aligned-umap: aligning all epochs jointly")
                return out

        au.UMAP = _Ticking
        try:
            yield
        finally:
            au.UMAP = base
            bar.close()


class AlignedUMAPBaseline(Projector):
    """umap-learn AlignedUMAP over all epochs, identity relations between consecutive epochs; no inverse."""

    name = "aligned-umap"
    has_inverse = False
    per_epoch = False

    def __init__(self, seed: int = 0, device: str = "auto", progress: bool = False, n_neighbors: int = 15,
                 min_dist: float = 0.1, alignment_regularisation: float = 1e-2, alignment_window_size: int = 3,
                 n_epochs: int | None = None):
        """umap-learn's AlignedUMAP parameters (``n_epochs`` None: its default)."""
        self._keep(locals())

    def fit_all(self, ctx):
        self.timings_["jit_s"] = _umap_jit_warmup()
        import umap

        t0 = time.perf_counter()
        n = ctx.dynamics.n_samples
        relations = [{i: i for i in range(n)} for _ in range(len(self.epochs_) - 1)]
        kw = {} if self.n_epochs is None else {"n_epochs": self.n_epochs}
        model = umap.AlignedUMAP(n_neighbors=self.n_neighbors, min_dist=self.min_dist,
                                 alignment_regularisation=self.alignment_regularisation,
                                 alignment_window_size=self.alignment_window_size, random_state=self.seed, **kw)
        reps = [ctx.dynamics.representation(e) for e in self.epochs_]
        if len(reps) == 1:  # AlignedUMAP needs two slices; fit one plain UMAP
            embs = [umap.UMAP(n_neighbors=self.n_neighbors, min_dist=self.min_dist,
                              random_state=self.seed).fit_transform(reps[0])]
        else:
            with _aligned_umap_progress(len(reps) if self.progress else 0):
                model.fit(reps, relations=relations)
            embs = model.embeddings_
        dt = time.perf_counter() - t0
        self.timings_["train_s"] = dt
        for e, emb in zip(self.epochs_, embs):
            ctx.epoch_done(e, np.asarray(emb, np.float32), {"train_s": dt / len(self.epochs_), "shared": True})

    def inverse_transform(self, epoch, xy):
        raise _no_inverse("AlignedUMAP has no inverse projection (non-parametric)")
