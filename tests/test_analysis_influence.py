"""TracIn (last linear layer) influence against a direct torch.autograd computation on tiny heads: gradients of
the cross-entropy with respect to the last layer's weight and bias, dot products summed over epochs."""
import numpy as np
import pytest
import torch

from ttvis_widget import ArrayDynamics
from ttvis_widget.analysis import AnalysisError, EpochNotRecordedError, influence
from ttvis_widget.store import CallableHead, MLPHead

N, D, C, H = 30, 5, 3, 4
TRAIN = 20  # samples 0-19 train, 20-29 test


def tiny(hidden_layers: int = 0, epochs=(1, 2, 3, 4), seed: int = 0, heads: bool = True):
    """Random heads per epoch (Linear, or Linear-ReLU-Linear), representations and the logits they give."""
    rng = np.random.default_rng(seed)
    reps, preds, hs = {}, {}, {}
    for e in epochs:
        x = rng.normal(size=(N, D)).astype(np.float32)
        dims = [D] + [H] * hidden_layers + [C]
        ws = [rng.normal(size=(dims[j + 1], dims[j])).astype(np.float32) for j in range(len(dims) - 1)]
        bs = [rng.normal(size=dims[j + 1]).astype(np.float32) for j in range(len(dims) - 1)]
        hs[e] = MLPHead(ws, bs)
        reps[e], preds[e] = x, hs[e](x)
    split = (np.arange(N) >= TRAIN).astype(np.uint8)
    labels = rng.integers(0, C, N)
    return ArrayDynamics(reps, predictions=preds, labels=labels, split=split, heads=hs if heads else None), hs


def autograd_scores(dyn, heads, z, target, epochs, lrs):
    """sum_e lr_e * <grad_(W,b) CE(z), grad_(W,b) CE(z')> for every training z', the last layer's W and b only."""
    out = np.zeros(N)
    for e, lr in zip(epochs, lrs):
        mod = heads[e].torch_module("cpu")
        last = [m for m in mod if isinstance(m, torch.nn.Linear)][-1]
        x = torch.from_numpy(dyn.representation(e))

        def grad(i, y):
            w = last.weight.detach().clone().requires_grad_(True)
            b = last.bias.detach().clone().requires_grad_(True)
            h = mod[:-1](x[i:i + 1]) if len(mod) > 1 else x[i:i + 1]
            loss = torch.nn.functional.cross_entropy(h @ w.T + b, torch.tensor([y]))
            gw, gb = torch.autograd.grad(loss, [w, b])
            return torch.cat([gw.flatten(), gb]).double()

        gz = grad(z, target)
        for j in range(TRAIN):
            out[j] += lr * float(gz @ grad(j, int(dyn.labels[j])))
    return out


def all_scores(res):
    scores = {}
    for idx, s in (res.proponents, res.opponents):
        scores.update(zip(idx.tolist(), s.tolist()))
    return scores


@pytest.mark.parametrize("hidden_layers", [0, 1])
@pytest.mark.parametrize("z", [3, 25])  # a training sample (left out of its own lists) and a test sample
def test_tracin_matches_autograd(hidden_layers, z):
    dyn, heads = tiny(hidden_layers)
    lrs = [0.5, 0.25, 0.1, 0.05]
    res = influence(dyn, z, k=TRAIN - (z < TRAIN), learning_rates=lrs)
    ref = autograd_scores(dyn, heads, z, int(dyn.labels[z]), dyn.epochs, lrs)
    got = all_scores(res)
    expect = {j: ref[j] for j in range(TRAIN) if j != z}
    assert set(got) == set(expect)  # no score is exactly 0, so every training sample is in one list
    for j, s in expect.items():
        assert got[j] == pytest.approx(s, rel=1e-4, abs=1e-5)
    pro, opp = res.proponents, res.opponents
    assert np.all(np.diff(pro[1]) <= 0) and np.all(pro[1] > 0) and np.all(np.diff(opp[1]) >= 0) and np.all(opp[1] < 0)
    assert z not in pro[0] and z not in opp[0]
    assert res.epochs == (1, 2, 3, 4) and res.learning_rates == tuple(lrs) and res.target == dyn.labels[z]
    if z < TRAIN:  # the self-influence is the sample's own score
        assert res.self_influence == pytest.approx(float(autograd_scores(dyn, heads, z, int(dyn.labels[z]),
                                                                         dyn.epochs, lrs)[z]), rel=1e-4)
    assert ("MLP" in res.hidden) == (hidden_layers > 0)


def test_k_epochs_and_target():
    dyn, heads = tiny()
    res = influence(dyn, 22, k=3, epochs=[2, 4], target=1)
    ref = autograd_scores(dyn, heads, 22, 1, [2, 4], [1.0, 1.0])
    order = np.argsort(-ref[:TRAIN])
    np.testing.assert_array_equal(res.proponents[0], order[:3])
    np.testing.assert_array_equal(res.opponents[0], np.argsort(ref[:TRAIN])[:3])
    assert res.epochs == (2, 4) and res.notes == ()
    pred = influence(dyn, 22, target="prediction")
    assert pred.target == int(dyn.prediction(4)[22].argmax())
    by_dict = influence(dyn, 22, k=TRAIN, learning_rates={1: 1, 2: 2, 3: 3, 4: 4})
    ref = autograd_scores(dyn, heads, 22, int(dyn.labels[22]), [1, 2, 3, 4], [1, 2, 3, 4])
    got = all_scores(by_dict)
    assert got[0] == pytest.approx(ref[0], rel=1e-4)


def test_default_epochs_are_at_most_ten_evenly_spaced():
    dyn, _ = tiny(epochs=range(1, 26))
    res = influence(dyn, 0)
    assert res.epochs == (1, 4, 6, 9, 12, 14, 17, 20, 22, 25)
    assert any("10 evenly spaced of the 25 recorded" in n for n in res.notes)
    assert influence(tiny(epochs=(1, 2))[0], 0).epochs == (1, 2)


def test_heads_given_as_code_or_missing_use_the_representation():
    dyn, heads = tiny()
    plain = influence(dyn, 25, k=TRAIN)
    no_heads = ArrayDynamics({e: dyn.representation(e) for e in dyn.epochs},
                             predictions={e: dyn.prediction(e) for e in dyn.epochs}, labels=dyn.labels, split=dyn.split)
    res = influence(no_heads, 25, k=TRAIN)
    assert "assumed" in res.hidden and "no recorded head" in res.hidden
    assert all_scores(res) == pytest.approx(all_scores(plain), rel=1e-6)
    coded = ArrayDynamics({e: dyn.representation(e) for e in dyn.epochs}, labels=dyn.labels, split=dyn.split,
                          heads={e: CallableHead(heads[e], D, C) for e in dyn.epochs})
    res = influence(coded, 25, k=TRAIN)  # predictions computed by the code head
    assert "head given as code" in res.hidden
    assert all_scores(res) == pytest.approx(all_scores(plain), rel=1e-5)


def test_what_influence_cannot_compute():
    dyn, _ = tiny()
    unlabelled = ArrayDynamics({e: dyn.representation(e) for e in dyn.epochs},
                               predictions={e: dyn.prediction(e) for e in dyn.epochs})
    with pytest.raises(AnalysisError, match="labels"):
        influence(unlabelled, 0)
    no_pred = ArrayDynamics({e: dyn.representation(e) for e in dyn.epochs}, labels=dyn.labels,
                            predictions={1: dyn.prediction(1)})
    with pytest.raises(AnalysisError, match="epoch 2 has no recorded logits"):
        influence(no_pred, 0, epochs=[1, 2])
    assert influence(no_pred, 0, epochs=[1]).epochs == (1,)
    all_test = ArrayDynamics({1: dyn.representation(1)}, predictions={1: dyn.prediction(1)}, labels=dyn.labels,
                             split=np.ones(N, np.uint8))
    with pytest.raises(AnalysisError, match="no training samples"):
        influence(all_test, 0)


def test_influence_argument_checks():
    dyn, _ = tiny()
    with pytest.raises(EpochNotRecordedError):
        influence(dyn, 0, epochs=[9])
    with pytest.raises(IndexError):
        influence(dyn, N)
    with pytest.raises(ValueError, match="no rate for epoch"):
        influence(dyn, 0, learning_rates={1: 0.1})
    with pytest.raises(ValueError, match="4 epochs"):
        influence(dyn, 0, learning_rates=[0.1, 0.2])
    with pytest.raises(ValueError, match=">= 0"):
        influence(dyn, 0, learning_rates=-1)
    with pytest.raises(ValueError, match="target"):
        influence(dyn, 0, target=C)
    with pytest.raises(ValueError, match="k=20"):  # 20 training samples, the query among them
        influence(dyn, 0, k=TRAIN)
    with pytest.raises(ValueError, match="at least one"):
        influence(dyn, 0, epochs=[])
