"""Faithfulness metrics (ttvis_widget.metrics): tiny cases with answers known by hand, plus evaluate_run on a
real PCA run of the digits dynamics. No numba here: the papers' NNDescent form is tested in test_numba.py."""
import json

import numpy as np
import pytest

from ttvis_widget.metrics import (bnn, confidence_difference, continuity, dvi_temporal, evaluate_run, exact_knn,
                                  inverse_metrics, nn_exact, overlap_counts, ppr, reconstruction_distance,
                                  stages, temporal_rankings, trust_continuity, trustworthiness)
from ttvis_widget.store.head import MLPHead

# 1-D points (padded to 2-D): two clusters; the low-dim copy swaps the positions of samples 2 and 5.
LINE_H = np.array([[0, 0], [1, 0], [3, 0], [10, 0], [11, 0], [13, 0]], np.float32)
LINE_L = np.array([[0, 0], [1, 0], [13, 0], [10, 0], [11, 0], [3, 0]], np.float32)
# exact 2-NN (self excluded), counted by hand:
#   high: 0:{1,2} 1:{0,2} 2:{1,0} 3:{4,5} 4:{3,5} 5:{4,3}
#   low:  0:{1,5} 1:{0,5} 2:{4,3} 3:{4,2} 4:{3,2} 5:{1,0}
#   overlaps 1,1,0,1,1,0 -> 4 / (6 * 2) = 1/3


def test_exact_knn_by_hand_and_against_sklearn():
    assert [set(r) for r in exact_knn(LINE_H, 2)] == [{1, 2}, {0, 2}, {1, 0}, {4, 5}, {3, 5}, {4, 3}]
    assert [set(r) for r in exact_knn(LINE_L, 2)] == [{1, 5}, {0, 5}, {4, 3}, {4, 2}, {3, 2}, {1, 0}]
    from sklearn.neighbors import NearestNeighbors

    rng = np.random.default_rng(0)
    x = rng.normal(size=(700, 16)).astype(np.float32)
    ref = NearestNeighbors(n_neighbors=6).fit(x).kneighbors(x)[1][:, 1:]
    np.testing.assert_array_equal(exact_knn(x, 5, chunk=128), ref)
    q = rng.normal(size=(50, 16)).astype(np.float32)
    np.testing.assert_array_equal(exact_knn(q, 4, x), NearestNeighbors(n_neighbors=4).fit(x).kneighbors(q)[1])
    # duplicates: self is removed by index, its twin stays a neighbour
    d = np.array([[0, 0], [0, 0], [5, 5]], np.float32)
    assert exact_knn(d, 1)[:2, 0].tolist() == [1, 0]


def test_nn_exact_scaled_random_and_hand_case():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(400, 2)).astype(np.float32)
    assert nn_exact(x, 3.0 * x, 10) == 1.0  # an embedding equal to the data, scaled
    hi = rng.normal(size=(2000, 10)).astype(np.float32)
    lo = rng.normal(size=(2000, 2)).astype(np.float32)
    chance = 10 / 1999
    assert abs(nn_exact(hi, lo, 10) - chance) < 0.003  # random embedding: about k / (N - 1)
    assert nn_exact(LINE_H, LINE_L, 2) == pytest.approx(1 / 3)
    assert overlap_counts(exact_knn(LINE_H, 2), exact_knn(LINE_L, 2)).tolist() == [1, 1, 0, 1, 1, 0]


def test_bnn_constructed_case():
    B = np.array([[b, 0] for b in range(5)], np.float32)
    q = np.array([[0.1, 0], [2.1, 0]], np.float32)
    assert bnn(q, B, q, B, 2) == 2.0  # same geometry: full overlap
    B_low = B[::-1].copy()  # border i drawn at position 4 - i
    # query 0.1: high {0,1}, low {4,3} -> 0; query 2.1: high {2,3}, low {2,1} -> 1
    assert bnn(q, B, q, B_low, 2) == 0.5


def _head(dim=6, c=4, seed=0):
    rng = np.random.default_rng(seed)
    return MLPHead([rng.normal(size=(c, dim)).astype(np.float32)], [rng.normal(size=c).astype(np.float32)])


def test_inverse_metrics_identity_decoder_and_mismatch():
    head = _head()
    h = np.random.default_rng(3).normal(size=(200, 6)).astype(np.float32)
    assert ppr(h, h.copy(), head) == 1.0
    assert reconstruction_distance(h, h) == 0.0
    assert confidence_difference(h, h, head) == pytest.approx(0.0, abs=1e-9)
    # decoding everything to one point: PPR = share of the majority class at that point
    recon = np.repeat(h[:1], len(h), 0)
    m = inverse_metrics(h, recon, head)
    y = head(h).argmax(1)
    assert m["ppr"] == pytest.approx(np.mean(y == y[0]))
    assert m["vis_error"] == int(np.sum(y != y[0]))
    assert m["recon_dist"] == pytest.approx(np.linalg.norm(h - h[0], axis=1).mean(), rel=1e-5)


def test_independent_border_set_lies_on_the_decision_boundary():
    """B′ for the test BNN comes from the engine's one border generator: points whose normalised top-2 logit
    gap is under 0.1 (the δ-boundary), at most n, the same for a seed and another for another seed."""
    from ttvis_widget.metrics.borders import independent_border_set

    head = _head(seed=1)
    h = np.random.default_rng(4).normal(size=(300, 6)).astype(np.float32) * 3
    B, source = independent_border_set(h, head, 50, seed=0)
    z = np.sort(head(B), 1)
    assert 25 <= len(B) <= 50 and B.shape[1] == 6 and "engine.borders" in source
    assert ((z[:, -1] - z[:, -2]) / (z[:, -1] - z[:, 0]) < 0.1).all()
    np.testing.assert_array_equal(independent_border_set(h, head, 50, seed=0)[0], B)
    assert not np.array_equal(independent_border_set(h, head, 50, seed=1)[0], B)


def test_temporal_unchanged_positions_and_scaled_trajectories():
    rng = np.random.default_rng(5)
    T, N = 6, 40
    high = [rng.normal(size=(N, 3)).astype(np.float32) for _ in range(T)]
    still = [np.tile(rng.normal(size=(N, 2)).astype(np.float32), (1, 1))] * T
    lists = [exact_knn(x, 5) for x in high]
    assert np.all(dvi_temporal(lists, still) == 0)  # no movement: r undefined -> 0 (DVI's NaN -> 0)
    out = temporal_rankings(high, still, ks=(3,))
    np.testing.assert_allclose(out["tr"], 0.0)
    np.testing.assert_allclose(out["tlr"], 0.0)
    # 2-D = the high-dim trajectories scaled: perfect temporal rankings
    flat = [x[:, :2] for x in high]
    out = temporal_rankings(flat, [2 * x for x in flat], ks=(3, 5))
    np.testing.assert_allclose(out["tr"], 1.0)
    np.testing.assert_allclose(out["tlr"], 1.0)
    np.testing.assert_allclose(out["tnn3"], 3.0)  # s = t excluded: k of the T - 1 other epochs
    assert np.isnan(out["tnn5"]).all()  # k = T - 1 would be trivially k
    assert stages(6).tolist() == [0, 0, 1, 1, 2, 2] and stages(7).tolist() == [0, 0, 0, 1, 1, 2, 2]


def test_dvi_temporal_by_hand():
    # sample 0 keeps its neighbours then loses them all (alpha 1, 0) while moving 0 then 5: r = -1
    # sample 1 keeps its neighbours throughout (alpha constant): r = 0
    l0 = np.array([[1, 2], [2, 3], [0, 1], [0, 1], [0, 1]])
    l1 = np.array([[1, 2], [2, 3], [0, 1], [0, 1], [0, 1]])
    l2 = np.array([[3, 4], [2, 3], [0, 1], [0, 1], [0, 1]])
    p0 = np.zeros((5, 2))
    p1 = p0.copy()
    p2 = p0.copy()
    p2[0] = [3, 4]
    p1[1] = [1, 0]
    r = dvi_temporal([l0, l1, l2], [p0, p1, p2])
    assert r[0] == pytest.approx(-1.0)
    assert r[1] == 0.0


def test_trustworthiness_isometric_and_matches_sklearn():
    rng = np.random.default_rng(6)
    x = rng.normal(size=(300, 2)).astype(np.float32)
    rot = np.array([[0.6, -0.8], [0.8, 0.6]], np.float32)
    tc = trust_continuity(x, x @ rot + 5, ks=(10,))
    assert tc["trust10"] == pytest.approx(1.0) and tc["cont10"] == pytest.approx(1.0)
    assert trustworthiness(x, x @ rot, 10) == pytest.approx(1.0)
    hi = rng.normal(size=(300, 8)).astype(np.float32)
    lo = hi[:, :2] + 0.5 * rng.normal(size=(300, 2)).astype(np.float32)
    tc = trust_continuity(hi, lo, ks=(5, 15), max_n=None)
    for k in (5, 15):
        assert tc[f"trust{k}"] == pytest.approx(trustworthiness(hi, lo, k), abs=1e-9)
        assert tc[f"cont{k}"] == pytest.approx(continuity(hi, lo, k), abs=1e-9)
    tc = trust_continuity(hi, lo, ks=(5,), max_n=100, seed=3)
    assert tc["subsample"] == {"n": 100, "of": 300, "seed": 3}


class _StandIn:
    """Minimal VisRun: 2-D representations shown as they are (identity projection and inverse)."""

    method = "identity"
    params = {}
    has_inverse = True

    def __init__(self, dyn, path):
        self.dynamics = dyn
        self.epochs = list(dyn.epochs)
        self.path = path

    def embedding(self, e):
        return self.dynamics.representation(e) * 2.0

    def transform(self, e, reps):
        return np.asarray(reps) * 2.0

    def inverse(self, e, xy):
        return np.asarray(xy) / 2.0

    def border_points(self, e):
        raise NotImplementedError


def test_evaluate_run_on_stand_in_is_perfect(tmp_path):
    from ttvis_widget import ArrayDynamics

    rng = np.random.default_rng(7)
    head = _head(dim=2, c=3, seed=2)
    reps = {e: rng.normal(size=(120, 2)).astype(np.float32) for e in range(1, 7)}
    split = (np.arange(120) >= 90).astype(np.uint8)
    dyn = ArrayDynamics(reps, split=split, heads={e: head for e in reps})
    rows = evaluate_run(_StandIn(dyn, tmp_path), ks=(5,), paper_form=False, temporal_ks=(2,))
    ep = [r for r in rows if r["row"] == "epoch"]
    run = rows[-1]
    assert len(ep) == 6 and run["row"] == "run"
    for r in ep:
        assert r["nn5_exact_train"] == 1.0 and r["nn5_exact_all"] == 1.0
        assert r["ppr_train"] == 1.0 and r["ppr_test"] == 1.0 and r["recon_dist_test"] == 0.0
        assert r["bnn5_train"] is None  # no border set
        assert r["bnn5_test"] == 5.0  # B′ generated, projected by the same scaling
        assert r["trust5"] == pytest.approx(1.0) and r["tr_train"] == pytest.approx(1.0)
        assert r["tnn2_test"] == 2.0
    assert run["tlr_train_stage1"] == pytest.approx(1.0)
    assert (tmp_path / "metrics.json").exists()


def test_evaluate_run_on_real_pca_run(digits_path, tmp_path):
    import time

    import ttvis_widget

    run = ttvis_widget.fit(digits_path, method="pca", cache_dir=tmp_path, progress=False)
    rows = evaluate_run(run, epochs=[1, 8], ks=(10, 15), paper_form=False, trust_max_n=500)
    ep = {r["epoch"]: r for r in rows if r["row"] == "epoch"}
    assert sorted(ep) == [1, 8]
    for r in ep.values():
        assert 0 < r["nn15_exact_train"] < 1 and 0 < r["nn15_exact_all"] < 1
        assert 0 <= r["bnn15_train"] <= 15 and 0 <= r["bnn15_test"] <= 15 and r["n_border"] > 0
        assert 0 < r["ppr_train"] <= 1 and 0 < r["ppr_test"] <= 1 and r["recon_dist_train"] > 0
        assert 0.5 < r["trust15"] <= 1 and r["subsample"]["trust"] == {"n": 500, "of": 1797, "seed": 0}
        assert r["stage"] in (1, 3) and -1 <= r["tlr_train"] <= 1
    assert -1 <= rows[-1]["temporal_dvi15_train_mean"] <= 1
    cached = json.loads((run.path / "metrics.json").read_text())
    assert cached["rows"] == rows
    t = time.perf_counter()
    assert evaluate_run(run, epochs=[1, 8], ks=(10, 15), paper_form=False, trust_max_n=500) == rows
    assert time.perf_counter() - t < 0.5  # served from the cache
    again = evaluate_run(run, epochs=[8], ks=(15,), paper_form=False, trust_max_n=500, temporal=False)
    assert [r["epoch"] for r in again] == [8, None] and "nn10_exact_train" not in again[0]
    assert run.metrics(epochs=[8], ks=(15,), paper_form=False, trust_max_n=500, temporal=False) == again
