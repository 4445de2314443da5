"""Round trips through our layout: SummaryWriter on real data (digits) -> load() gives back the same arrays."""
from __future__ import annotations

import io
import warnings

import numpy as np
import pytest

from conftest import snapshot_files

import ttvis_widget
from ttvis_widget import ArrayDynamics, SummaryWriter, TrainingDynamicsError
from ttvis_widget.store.head import MLPHead


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _digits_data(n_train=300, n_test=100, seed=0):
    import torch
    from sklearn.datasets import load_digits

    d = load_digits()
    order = np.random.default_rng(seed).permutation(len(d.target))[: n_train + n_test]
    x = torch.tensor(d.data[order] / 16.0, dtype=torch.float32).reshape(-1, 1, 8, 8)
    y = torch.tensor(d.target[order], dtype=torch.int64)
    imgs = (d.images[order] * (255 / 16)).round().astype(np.uint8)
    return x[:n_train], y[:n_train], x[n_train:], y[n_train:], imgs


def _loader(x, y, bs=128):
    import torch

    return torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=bs, shuffle=False)


def _train_epoch(net, x, y, seed):
    import torch

    torch.manual_seed(seed)
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    net.train()
    for _ in range(4):
        perm = torch.randperm(len(x))
        for s in range(0, len(x), 32):
            i = perm[s:s + 32]
            opt.zero_grad()
            torch.nn.functional.cross_entropy(net(x[i]), y[i]).backward()
            opt.step()
    net.eval()


class _FeatureNet:
    """Built lazily so that importing this module does not import torch."""

    @staticmethod
    def make(dim=16):
        import torch
        from torch import nn

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.body = nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, dim), nn.ReLU())
                self.fc = nn.Linear(dim, 10)

            def feature(self, x):
                return self.body(x)

            def prediction(self, h):
                return self.fc(h)

            def forward(self, x):
                return self.prediction(self.feature(x))

        torch.manual_seed(0)
        return Net()


def _decode(png: bytes) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(png)))


def test_seed_api_round_trip(tmp_path):
    """The SPEC's calls: SummaryWriter(save_dir, batch_size, num_worker), write_meta_data, write_checkpoint."""
    import torch

    xtr, ytr, xte, yte, _ = _digits_data()
    x_all = torch.cat([xtr, xte])
    net = _FeatureNet.make()
    w = SummaryWriter(tmp_path / "run", 100, 0, model=net)
    w.write_meta_data(_loader(xtr, ytr), _loader(xte, yte))
    expected = {}
    prev = None
    for epoch in (1, 2, 3):
        _train_epoch(net, xtr, ytr, epoch)
        w.write_checkpoint(net.state_dict(), epoch, prev)
        with torch.no_grad():
            h = net.feature(x_all)
            expected[epoch] = (h.numpy().copy(), net.prediction(h).numpy().copy(),
                               {k: v.clone() for k, v in net.state_dict().items()})
        prev = epoch
    assert not list((tmp_path / "run").rglob("*.tmp"))

    d = ttvis_widget.load(tmp_path / "run")
    assert d.layout == "ttvis" and d.epochs == [1, 2, 3]
    assert d.n_samples == 400 and d.dim == 16 and d.n_classes == 10
    np.testing.assert_array_equal(d.labels, torch.cat([ytr, yte]).numpy())
    np.testing.assert_array_equal(d.split, np.r_[np.zeros(300), np.ones(100)].astype(np.uint8))
    np.testing.assert_array_equal(d.train_index, np.arange(300))
    np.testing.assert_array_equal(d.test_index, np.arange(300, 400))
    for e, (h, logits, sd) in expected.items():
        np.testing.assert_allclose(d.representation(e), h, rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(d.prediction(e), logits, rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(d.head(e)(d.representation(e)), logits, rtol=1e-4, atol=1e-5)
        ck = torch.load(d.checkpoint_path(e), weights_only=True)
        assert set(ck) == set(sd) and all(torch.equal(ck[k], sd[k]) for k in sd)
    assert d.manifest["parents"] == {"2": 1, "3": 2}
    # images derived from the loaders' inputs (values in [0, 1] -> 0..255)
    assert d.media == "image"
    for i in (0, 299, 300, 399):
        np.testing.assert_allclose(_decode(d.sample_image(i)).astype(int),
                                   np.round(x_all[i, 0].numpy() * 255).astype(int), atol=1)
    p = d.predicted_class(3)
    assert p.shape == (400,) and (p == d.labels).mean() > 0.5
    c = d.confidence(3)
    assert c.dtype == np.float32 and ((c > 0) & (c <= 1)).all()
    logits = np.asarray(d.prediction(3), np.float64)  # the definitions, in float64
    soft = np.exp(logits - logits.max(1, keepdims=True))
    soft /= soft.sum(1, keepdims=True)
    np.testing.assert_array_equal(p, logits.argmax(1))
    np.testing.assert_allclose(c, soft.max(1), rtol=1e-5)
    p[:] = -1  # callers get their own arrays: the next call is unchanged
    assert (d.predicted_class(3) == logits.argmax(1)).all()


def test_write_epoch_with_head_name(tmp_path):
    """write_epoch(head="fc"): the representation is the input of net.fc; logits are net(x)."""
    import torch
    from torch import nn

    xtr, ytr, xte, yte, imgs = _digits_data(200, 50)
    x_all = torch.cat([xtr, xte])

    class Plain(nn.Module):  # no feature()/prediction()
        def __init__(self):
            super().__init__()
            self.conv = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(2), nn.Flatten())
            self.fc = nn.Linear(16, 10)

        def forward(self, x):
            return self.fc(self.conv(x))

    torch.manual_seed(1)
    net = Plain()
    names = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
    w = SummaryWriter(tmp_path / "run", classes=names)
    w.write_meta_data(_loader(xtr, ytr), _loader(xte, yte), images=imgs)
    stats = {}
    for e in (1, 2):
        _train_epoch(net, xtr, ytr, e)
        stats[e] = w.write_epoch(e, net, head="fc", prev_epoch=e - 1 if e > 1 else None)
    d = ttvis_widget.load(tmp_path / "run")
    assert d.classes == names and d.class_names == names and d.dim == 16
    with torch.no_grad():
        h, logits = net.conv(x_all).numpy(), net(x_all).numpy()
    np.testing.assert_allclose(d.representation(2), h, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(d.prediction(2), logits, rtol=1e-5, atol=1e-6)
    assert isinstance(d.head(2), MLPHead) and d.head(2).is_linear
    np.testing.assert_allclose(d.head(2)(h), logits, rtol=1e-4, atol=1e-5)
    acc = ((logits.argmax(1) == d.labels)[d.split == 0]).mean()
    assert stats[2]["accuracy"] == pytest.approx(acc)
    for i in (0, 123, 249):
        np.testing.assert_array_equal(_decode(d.sample_image(i)), imgs[i])
    # the recorded raw images come back too
    np.testing.assert_array_equal(d.sample_array(7), imgs[7])


def test_plain_arrays_every_third_epoch_and_representation_only(tmp_path, digits):
    from torch import nn

    # classification, every 3rd epoch, head given as an nn.Linear
    rng = np.random.default_rng(0)
    split = (rng.random(digits.n_samples) < 0.25).astype(np.uint8)
    w = SummaryWriter(tmp_path / "cls")
    imgs = np.load(digits.content_path / "samples" / "images.npy")
    w.set_samples(labels=digits.labels, split=split, images=imgs, classes=digits.classes)
    lin = nn.Linear(64, 10)
    for src, e in zip((2, 5, 8), (3, 6, 9)):
        w.add_epoch(e, digits.representation(src), prediction=digits.prediction(src), head=lin)
    d = ttvis_widget.load(tmp_path / "cls")
    assert d.epochs == [3, 6, 9]
    for src, e in zip((2, 5, 8), (3, 6, 9)):
        np.testing.assert_array_equal(d.representation(e), digits.representation(src))
        np.testing.assert_array_equal(d.prediction(e), digits.prediction(src))
    np.testing.assert_array_equal(d.labels, digits.labels)
    np.testing.assert_array_equal(d.split, split)
    np.testing.assert_array_equal(_decode(d.sample_image(10)), imgs[10])
    np.testing.assert_allclose(d.head(9)(d.representation(9)),
                               d.representation(9) @ lin.weight.detach().numpy().T + lin.bias.detach().numpy(),
                               rtol=1e-5, atol=1e-5)

    # a representation-only task (no labels, no prediction, texts as media)
    w = SummaryWriter(tmp_path / "rep")
    texts = [f"snippet {i}" for i in range(digits.n_samples)]
    w.set_samples(split=digits.split, texts=texts)
    for e in (3, 6, 9):
        w.add_epoch(e, digits.representation(e - 1))
    before = snapshot_files(tmp_path / "rep")
    d = ttvis_widget.load(tmp_path / "rep")
    assert d.epochs == [3, 6, 9] and d.labels is None and d.n_classes is None and d.class_names is None
    assert d.prediction(6) is None and d.head(6) is None and d.predicted_class(6) is None and d.confidence(6) is None
    np.testing.assert_array_equal(d.representation(6), digits.representation(5))
    np.testing.assert_array_equal(d.split, digits.split)
    assert d.media == "text" and d.sample_text(4) == "snippet 4" and d.sample_image(4) is None
    d.validate()
    assert snapshot_files(tmp_path / "rep") == before


def test_digits_fixture_contract(digits_path, digits):
    assert ttvis_widget.load(digits) is digits
    assert digits.epochs == list(range(1, 9)) and digits.n_samples == 1797 and digits.dim == 64
    assert digits.output_dir == digits_path / "ttvis_cache"
    assert len(digits.train_index) == 1347 and len(digits.test_index) == 450
    assert digits.representation(1).dtype == np.float32
    for e in (1, 8):
        np.testing.assert_allclose(digits.head(e)(digits.representation(e)), digits.prediction(e), rtol=1e-4, atol=1e-4)
    assert (digits.predicted_class(8) == digits.labels).mean() > 0.9
    with pytest.raises(KeyError):
        digits.representation(99)
    with pytest.raises(IndexError):
        digits.sample_image(1797)
    assert "N=1797" in repr(digits)


def test_writer_continues_and_protects_folders(tmp_path, digits):
    w = SummaryWriter(tmp_path / "run")
    w.set_samples(labels=digits.labels)
    w.add_epoch(1, digits.representation(1), prediction=digits.prediction(1))
    w2 = SummaryWriter(tmp_path / "run")  # continues the existing recording
    w2.add_epoch(2, digits.representation(2), prediction=digits.prediction(2))
    assert ttvis_widget.load(tmp_path / "run").epochs == [1, 2]
    with pytest.raises(ValueError):
        w2.add_epoch(3, digits.representation(3)[:10])
    with pytest.raises(TrainingDynamicsError, match="NaN"):
        bad = np.array(digits.representation(3))
        bad[0, 0] = np.nan
        w2.add_epoch(3, bad)
    assert ttvis_widget.load(tmp_path / "run").epochs == [1, 2]
    # a non-empty folder that is not ours is never written into
    other = tmp_path / "mine"
    other.mkdir()
    (other / "notes.txt").write_text("keep me")
    with pytest.raises(TrainingDynamicsError, match="not empty"):
        SummaryWriter(other)
    assert snapshot_files(other) == {"notes.txt": b"keep me"}
    # write_checkpoint without a model only stores the checkpoint and says so
    w3 = SummaryWriter(tmp_path / "ck")
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        w3.write_checkpoint({"w": __import__("torch").zeros(2)}, 1, None)
    assert any("model" in str(r.message) for r in rec)


def test_array_dynamics():
    reps = {e: np.random.default_rng(e).normal(size=(20, 4)).astype(np.float32) for e in (2, 4, 6)}
    d = ArrayDynamics(reps, labels=np.arange(20) % 3, split=np.r_[np.zeros(15), np.ones(5)],
                      images=np.zeros((20, 5, 5), np.uint8))
    assert d.epochs == [2, 4, 6] and d.n_classes == 3 and d.dim == 4 and d.prediction(4) is None
    np.testing.assert_array_equal(d.representation(4), reps[4])
    assert _decode(d.sample_image(0)).shape == (5, 5)
    head = MLPHead([np.eye(3, 4, dtype=np.float32)], [np.zeros(3, np.float32)])
    d = ArrayDynamics(reps, heads={e: head for e in reps})
    np.testing.assert_allclose(d.prediction(6), reps[6][:, :3])
    with pytest.raises(TrainingDynamicsError, match="NaN"):
        ArrayDynamics({1: np.full((3, 2), np.nan)}).representation(1)


def test_heads_stay_loaded_for_a_few_epochs_only(digits_path):
    """A head may be a whole subject model (the original tool's layout): a fit over many epochs keeps the
    last few loaded, not all of them."""
    from ttvis_widget.store import dynamics as dyn_mod

    dyn = ttvis_widget.load(digits_path)
    first = dyn.head(dyn.epochs[0])
    assert dyn.head(dyn.epochs[0]) is first  # cached
    for e in dyn.epochs:
        dyn.head(e)
    assert len(dyn._head_cache) == dyn_mod.HEAD_CACHE_EPOCHS < len(dyn.epochs)
    assert list(dyn._head_cache) == dyn.epochs[-dyn_mod.HEAD_CACHE_EPOCHS:]
    assert dyn.head(dyn.epochs[0]) is not first  # loaded again, the same weights
    X = dyn.representation(dyn.epochs[0])
    np.testing.assert_array_equal(dyn.head(dyn.epochs[0])(X), first(X))


def test_callable_head_as_a_module_keeps_gradients_and_devices():
    """A user's callable head (here a bound ``nn.Linear.forward``) used by a fit: its logits are fn(h), come
    back on h's device, and gradients flow to h (the decoder's prediction term needs them)."""
    import torch

    from ttvis_widget.store import CallableHead

    lin = torch.nn.Linear(6, 3)
    mod = CallableHead(lin.forward, dim=6, n_classes=3).torch_module("cpu")
    h = torch.randn(5, 6, requires_grad=True)
    out = mod(h)
    assert out.device == h.device and torch.allclose(out, lin(h))
    out.sum().backward()
    assert h.grad is not None and torch.allclose(h.grad, lin.weight.sum(0).expand(5, 6))


def test_representations_in_memory_stay_for_a_few_epochs_memory_maps_for_all(digits_path):
    """Representations joined in memory (the original layout's train + test files, or converted arrays) are
    kept for the last few epochs only; memory-mapped ones cost nothing and all stay."""
    from ttvis_widget.store import dynamics as dyn_mod

    n_ep = dyn_mod.REP_CACHE_EPOCHS + 3
    rng = np.random.default_rng(0)
    reps = {e: rng.normal(size=(30, 4)) for e in range(1, n_ep + 1)}  # float64: converted, so held in memory
    dyn = ArrayDynamics(reps, labels=rng.integers(0, 3, 30))
    for e in dyn.epochs:
        dyn.representation(e)
    assert list(dyn._rep_cache) == dyn.epochs[-dyn_mod.REP_CACHE_EPOCHS:]
    np.testing.assert_array_equal(dyn.representation(1), reps[1].astype(np.float32))  # loaded again
    mapped = ttvis_widget.load(digits_path)
    for e in mapped.epochs:
        assert isinstance(mapped.representation(e), np.memmap)
    assert list(mapped._rep_cache) == mapped.epochs and len(mapped.epochs) > dyn_mod.REP_CACHE_EPOCHS


def test_finiteness_check_in_blocks_finds_every_bad_value(monkeypatch):
    """The blocked NaN/inf check (a reused buffer, a block of rows at a time) answers as np.isfinite(a).all()
    wherever the bad value sits: first or last row, at a block's edge, in a memory map or a float64 array."""
    from ttvis_widget.store import dynamics as dyn_mod

    monkeypatch.setattr(dyn_mod, "FINITE_BLOCK_BYTES", 7 * 5)  # blocks of 7 rows of 5 columns
    rng = np.random.default_rng(0)
    a = rng.normal(size=(50, 5)).astype(np.float32)
    assert dyn_mod.all_finite(a) and dyn_mod.all_finite(a[:0]) and dyn_mod.all_finite(a[:, :0])
    for row in (0, 6, 7, 13, 14, 49):
        for bad in (np.nan, np.inf, -np.inf):
            b = a.copy()
            b[row, row % 5] = bad
            assert not dyn_mod.all_finite(b)
            assert not dyn_mod.all_finite(b.astype(np.float64))
            with pytest.raises(TrainingDynamicsError, match=rf"1 NaN/inf values \(rows \[{row}\]\)"):
                dyn_mod.check_matrix(b, "x.npy", "representation")
