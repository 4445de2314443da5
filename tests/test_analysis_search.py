"""Neighbours (high-D vs 2-D) and similar samples against a brute-force numpy reference, argument checks, and
the per-epoch index cache (reuse, memory bound, release with its owner)."""
import gc

import numpy as np
import pytest

from ttvis_widget import ArrayDynamics
from ttvis_widget.analysis import (AnalysisError, EpochNotRecordedError, cache_info, clear_cache, neighbors,
                                   set_cache_limit, similar)

N, D = 300, 16


class PlaneRun:
    """The part of a VisRun that neighbours read: epochs and 2-D positions."""

    def __init__(self, xy: dict):
        self._xy = xy
        self.epochs = sorted(xy)

    def embedding(self, epoch):
        return self._xy[epoch]


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(3)
    reps = {e: rng.normal(size=(N, D)).astype(np.float32) for e in (1, 2)}
    reps[2][7] = reps[2][5]  # an exact duplicate: a neighbour at distance 0, never dropped as "self"
    xy = {e: rng.uniform(size=(N, 2)).astype(np.float32) for e in (1, 2)}
    return ArrayDynamics(reps, labels=rng.integers(0, 3, N)), PlaneRun(xy)


def brute(x, q, k, exclude=(), metric="euclidean"):
    """Reference: float64, every distance, ties broken by index."""
    x, q = np.asarray(x, np.float64), np.asarray(q, np.float64)
    if metric == "euclidean":
        score = np.sqrt(((x - q) ** 2).sum(1))
    else:
        score = -(x @ q) / (np.linalg.norm(x, axis=1) * np.linalg.norm(q))
    score[list(exclude)] = np.inf
    order = np.lexsort((np.arange(len(x)), score))[:k]
    return order, (score[order] if metric == "euclidean" else -score[order])


@pytest.mark.parametrize("epoch,index", [(1, 0), (2, 5), (2, 7), (2, 299)])
def test_neighbors_match_brute_force(data, epoch, index):
    dyn, run = data
    nb = neighbors(dyn, run, epoch, index, k=15)
    x = dyn.representation(epoch)
    ref, ref_d = brute(x, x[index], 15, exclude=[index])
    np.testing.assert_array_equal(nb.high, ref)
    np.testing.assert_allclose(nb.high_distance, ref_d, rtol=1e-5, atol=1e-5)
    xy = run.embedding(epoch)
    low, low_d = brute(xy, xy[index], 15, exclude=[index])
    np.testing.assert_array_equal(nb.low, low)
    np.testing.assert_allclose(nb.low_distance, low_d, rtol=1e-5, atol=1e-6)
    assert index not in nb.high and index not in nb.low
    assert set(nb.kept) == set(ref) & set(low) and set(nb.lost) == set(ref) - set(low)
    assert set(nb.gained) == set(low) - set(ref)
    assert len(nb.kept) + len(nb.lost) == 15 == len(nb.kept) + len(nb.gained)
    assert nb.preserved == len(nb.kept) / 15


def test_duplicate_is_a_neighbour_at_distance_zero(data):
    dyn, run = data
    nb = neighbors(dyn, run, 2, 5, k=3)
    assert nb.high[0] == 7 and nb.high_distance[0] == pytest.approx(0, abs=1e-3)


def test_neighbors_kept_when_the_plane_keeps_them():
    """A 2-D layout that is the first two coordinates of 2-D data keeps every neighbour."""
    rng = np.random.default_rng(4)
    x = np.zeros((100, 8), np.float32)
    x[:, :2] = rng.uniform(size=(100, 2))
    dyn = ArrayDynamics({1: x})
    nb = neighbors(dyn, PlaneRun({1: x[:, :2].copy()}), 1, 10, k=8)
    np.testing.assert_array_equal(nb.high, nb.low)
    assert nb.preserved == 1.0 and nb.gained.size == 0 and nb.lost.size == 0


def test_neighbors_with_a_fitted_pca_run(tmp_path):
    from ttvis_widget import fit

    rng = np.random.default_rng(5)
    dyn = ArrayDynamics({e: rng.normal(size=(200, 12)).astype(np.float32) for e in (1, 2)})
    run = fit(dyn, method="pca", cache_dir=tmp_path, progress=False)
    nb = neighbors(dyn, run, 2, 3, k=10)
    low, _ = brute(run.embedding(2), run.embedding(2)[3], 10, exclude=[3])
    np.testing.assert_array_equal(nb.low, low)


def test_neighbors_argument_checks(data):
    dyn, run = data
    with pytest.raises(EpochNotRecordedError, match="epoch 3 was not recorded"):
        neighbors(dyn, run, 3, 0)
    with pytest.raises(EpochNotRecordedError, match="not part of the visualization run"):
        neighbors(dyn, PlaneRun({1: run.embedding(1)}), 2, 0)
    with pytest.raises(IndexError, match="out of range"):
        neighbors(dyn, run, 1, N)
    with pytest.raises(TypeError, match="integer sample index"):
        neighbors(dyn, run, 1, 1.0)
    with pytest.raises(ValueError, match="k=300"):
        neighbors(dyn, run, 1, 0, k=N)
    with pytest.raises(ValueError, match="positive"):
        neighbors(dyn, run, 1, 0, k=0)
    with pytest.raises(TypeError, match="VisRun"):
        neighbors(dyn, object(), 1, 0)
    with pytest.raises(AnalysisError, match=r"shape \(10, 2\)"):
        neighbors(dyn, PlaneRun({1: np.zeros((10, 2)), 2: np.zeros((10, 2))}), 1, 0)


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_similar_to_an_index_a_list_and_a_vector(data, metric):
    dyn, _ = data
    x = dyn.representation(1)
    idx, scores = similar(dyn, 1, 4, k=10, metric=metric)
    ref, ref_s = brute(x, x[4], 10, exclude=[4], metric=metric)
    np.testing.assert_array_equal(idx, ref)
    np.testing.assert_allclose(scores, ref_s, rtol=1e-5, atol=1e-5)
    assert idx.dtype == np.int64 and scores.dtype == np.float32

    group = [9, 2, 40]
    idx, scores = similar(dyn, 1, group, k=10, metric=metric)
    ref, ref_s = brute(x, x[group].astype(np.float64).mean(0), 10, exclude=group, metric=metric)
    np.testing.assert_array_equal(idx, ref)
    np.testing.assert_allclose(scores, ref_s, rtol=1e-5, atol=1e-5)

    v = np.random.default_rng(6).normal(size=D)
    idx, scores = similar(dyn, 1, v, k=10, metric=metric)
    ref, ref_s = brute(x, v, 10, metric=metric)
    np.testing.assert_array_equal(idx, ref)
    np.testing.assert_allclose(scores, ref_s, rtol=1e-5, atol=1e-5)


def test_similar_vector_of_a_sample_finds_it_first(data):
    dyn, _ = data
    v = dyn.representation(2)[11].astype(np.float64)
    idx, scores = similar(dyn, 2, v, k=3)
    assert idx[0] == 11 and scores[0] == pytest.approx(1.0, abs=1e-6)
    idx, scores = similar(dyn, 2, v, k=3, metric="euclidean")
    assert idx[0] == 11 and scores[0] == pytest.approx(0.0, abs=1e-3)


def test_cosine_of_zero_vectors():
    x = np.eye(4, dtype=np.float32)[[0, 0, 1, 2, 3]]
    x[4] = 0  # a zero representation: similarity 0 with everything
    dyn = ArrayDynamics({1: x})
    idx, scores = similar(dyn, 1, 0, k=4)
    assert idx[0] == 1 and scores[0] == pytest.approx(1.0)
    np.testing.assert_allclose(scores[1:], 0.0, atol=1e-7)
    with pytest.raises(ValueError, match="zero norm"):
        similar(dyn, 1, 4, k=2)
    assert similar(dyn, 1, 4, k=2, metric="euclidean")[0].size == 2


def test_similar_argument_checks(data):
    dyn, _ = data
    with pytest.raises(ValueError, match="metric"):
        similar(dyn, 1, 0, metric="manhattan")
    with pytest.raises(EpochNotRecordedError):
        similar(dyn, 9, 0)
    with pytest.raises(ValueError, match="16"):
        similar(dyn, 1, np.ones(3))
    with pytest.raises(ValueError, match="NaN"):
        similar(dyn, 1, np.full(D, np.nan))
    with pytest.raises(IndexError):
        similar(dyn, 1, [0, N])
    with pytest.raises(ValueError, match="non-empty"):
        similar(dyn, 1, [])
    with pytest.raises(TypeError):
        similar(dyn, 1, True)
    with pytest.raises(TypeError):
        similar(dyn, 1, "3")
    with pytest.raises(ValueError, match="k=298"):  # 300 samples, 3 in the query
        similar(dyn, 1, [0, 1, 2], k=N - 2)


def test_index_is_cached_bounded_and_released():
    from ttvis_widget.analysis import index as index_mod

    clear_cache()
    rng = np.random.default_rng(7)
    dyn = ArrayDynamics({e: rng.normal(size=(500, 32)).astype(np.float32) for e in (1, 2, 3)})
    first = index_mod.epoch_index(dyn, 1, "cpu")
    assert index_mod.epoch_index(dyn, 1, "cpu") is first  # built once, reused
    one = first.nbytes
    prev = set_cache_limit(2 * one + one // 2)
    try:
        for e in (1, 2, 3):
            similar(dyn, e, 0, device="cpu")
        info = cache_info()
        assert info["entries"] == 2 and info["bytes"] <= info["limit"]  # epoch 1's index was evicted
        assert index_mod.epoch_index(dyn, 3, "cpu") is index_mod.epoch_index(dyn, 3, "cpu")
        del dyn, first
        gc.collect()
        assert cache_info()["entries"] == 0  # gone with the dynamics they came from
    finally:
        set_cache_limit(prev)
    with pytest.raises(ValueError):
        set_cache_limit(-1)
