"""Small engine parts whose behaviour is known exactly: the encoder's input whitening, DVI's decoupled
temporal anchor and the exact kNN's blocks."""
import numpy as np
import pytest
import torch

from ttvis_widget.engine.knn import BLOCK_FLOATS, block_rows, knn_exact
from ttvis_widget.engine.layout import Anchor, fit_encoder
from ttvis_widget.engine.models import VisModel, default_decoder_hidden, default_hidden, whitening


def _skewed(n=600, d=12, seed=0, decades=6):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g) * torch.logspace(1 - decades / 2, 1, d)  # variances spanning `decades`


def test_whitening_gives_unit_covariance():
    X = _skewed()
    Z = (X - X.mean(0)) @ whitening(X, eps=1e-9, rank_tol=0)
    C = torch.cov(Z.T)
    assert torch.allclose(C, torch.eye(X.shape[1]), atol=1e-3)


def test_whitening_drops_the_near_empty_directions():
    """Dead units and directions of variance below RANK_TOL of the largest leave the whitened input: the first
    Linear gets fewer inputs, the kept directions are still whitened, and the encoded function survives."""
    g = torch.Generator().manual_seed(4)
    X = torch.randn(800, 10, generator=g) * torch.tensor([3.0, 2, 1, 1, 0.5, 0.2, 1e-3, 1e-4, 0, 0])
    X = X @ torch.linalg.qr(torch.randn(10, 10, generator=g))[0]  # the empty directions are not the axes
    W = whitening(X)
    assert W.shape == (10, 6)  # variances 9 .. 0.04 kept; 1e-6, 1e-8, 0, 0 are below 1e-4 * 9
    Z = (X - X.mean(0)) @ W
    assert torch.allclose(torch.cov(Z.T), torch.eye(6), atol=1e-3)
    m = VisModel(10, hidden=(32, 16))
    with torch.no_grad():
        before = m.encoder(X + 5).clone()
        m.encoder.rewhiten(X + 5)  # a mean far from 0: the bias takes the dropped directions' share
        assert m.encoder.input_width == 6 and m.encoder[0].weight.shape == (32, 6)
        assert (m.encoder(X + 5) - before).abs().max() < 1e-2 * before.abs().max()
        m2 = VisModel(10, hidden=(32, 16))
        m2.load_state_dict(m.state_dict())  # a model saved with 6 inputs loads into a fresh 10-input one
        torch.testing.assert_close(m2.encoder(X), m.encoder(X))


def test_rewhiten_keeps_the_encoded_function():
    X = _skewed(decades=3)  # above RANK_TOL: every direction kept, so the function is kept exactly
    m = VisModel(X.shape[1])
    with torch.no_grad():
        before = m.encoder(X).clone()
        m.encoder.rewhiten(X)
        assert not torch.allclose(m.encoder.white, torch.eye(X.shape[1]))
        assert torch.allclose(m.encoder(X), before, atol=1e-4)
        m.encoder.rewhiten(X * 3 + 1)  # a second re-conditioning (new epoch) keeps it too
        assert torch.allclose(m.encoder(X), before, atol=1e-4)
        # fits whiten the node matrix once, then run the layers (same function)
        assert torch.allclose(m.encoder.forward_whitened(m.encoder.whiten(X)), before, atol=1e-4)
    # the buffer travels with the weights
    m2 = VisModel(X.shape[1])
    m2.load_state_dict(m.state_dict())
    with torch.no_grad():
        assert torch.allclose(m2.encoder(X), before, atol=1e-4)


def test_whitened_regression_fits_badly_conditioned_input_better():
    X = _skewed(n=2000, d=16, seed=1)
    Y = torch.tanh(X[:, :2] * 100) * 3  # depends only on the two tiny-variance (std 0.01) dims
    errs = {}
    for white in (False, True):
        torch.manual_seed(0)
        m = VisModel(16, hidden=(64, 32))
        if white:
            m.encoder.rewhiten(X, rank_tol=0)  # keep them: by default directions this faint are dropped
        res = fit_encoder(m, X, Y, steps=600, batch=256, lr=1e-2, generator=torch.Generator().manual_seed(0))
        errs[white] = res["fit"]
    assert errs[True] < 0.5 * errs[False], errs


def test_anchor_pull_is_decoupled_and_proportional():
    p = torch.nn.Parameter(torch.tensor([1.0, 10.0]))
    ref = torch.zeros(2)
    a = Anchor([p], [ref], coef=0.5)
    a.pull(lr=0.1)  # theta <- theta - lr * 2 * coef * (theta - ref)
    assert torch.allclose(p.detach(), torch.tensor([0.9, 9.0]))
    assert abs(a.value() - 0.5 * (0.81 + 81.0)) < 1e-4
    Anchor([p], [ref], coef=0.0).pull(lr=0.1)
    assert torch.allclose(p.detach(), torch.tensor([0.9, 9.0]))


def test_default_widths_follow_dimension():
    assert default_hidden(128) == (512, 64) and default_decoder_hidden(128) == (256, 256)
    assert default_hidden(8) == (64, 32) and default_decoder_hidden(8) == (64, 64)
    assert default_decoder_hidden(128, per_epoch=True) == (128, 128)
    assert default_decoder_hidden(512, per_epoch=True) == (256, 256)
    widths = lambda mod: [l.out_features for l in mod.modules() if isinstance(l, torch.nn.Linear)]  # noqa: E731
    m = VisModel(128)
    assert widths(m.encoder) == [512, 64, 2] and widths(m.decoder) == [256, 256, 128]
    m = VisModel(128, hidden=(32, 16))
    assert widths(m.decoder) == [16, 32, 128]
    m = VisModel(128, decoder_hidden=(256, 64))
    assert widths(m.encoder) == [512, 64, 2] and widths(m.decoder) == [64, 256, 128]


def test_a_model_saved_with_other_widths_loads_with_them():
    """from_state_dict takes the widths from the state: a run saved under earlier default widths (or its
    own ``hidden``) still loads, segmented and Fourier-conditioned models included."""
    for kw in [dict(decoder_hidden=(256, 256)), dict(hidden=(32, 16)),
               dict(hidden=(96, 48), epoch_segment=[0, 1, 1], n_cond=3, fourier=8)]:
        torch.manual_seed(0)
        m = VisModel(24, **kw)
        back = VisModel.from_state_dict(m.state_dict(), 24)
        assert back.state_dict().keys() == m.state_dict().keys(), kw
        for k, v in m.state_dict().items():
            assert torch.equal(back.state_dict()[k], v), (kw, k)


def test_umap_grad_equals_autograd_of_the_clamped_cross_entropy():
    from ttvis_widget.engine.layout import umap_grad
    from ttvis_widget.engine.losses import EPS, find_ab_params

    a, b = find_ab_params(1.0, 0.1)
    g = torch.Generator().manual_seed(0)
    Y = torch.randn(50, 2, generator=g, dtype=torch.float64) * 3
    Y[7] = Y[3] + 1e-4  # a near-coincident positive pair: q clamped at 1 - EPS, no gradient there
    h = torch.randint(0, 50, (40,), generator=g)
    t = torch.randint(0, 50, (40,), generator=g)
    h[0], t[0] = 3, 7
    neg = torch.randint(0, 50, (5 * 40,), generator=g)
    Yp = Y.clone().requires_grad_(True)
    d2 = ((Yp[h] - Yp[t]) ** 2).sum(1)
    d2n = ((Yp[h].repeat(5, 1) - Yp[neg]) ** 2).sum(1)
    qp = 1 / (1 + a * (d2 + 1e-12) ** b)
    qn = 1 / (1 + a * (d2n + 1e-12) ** b)
    loss = (-torch.log(qp.clamp(EPS, 1 - EPS)).sum() - torch.log((1 - qn).clamp(EPS, 1 - EPS)).sum()) / (40 * 6)
    loss.backward()
    G = umap_grad(Y, h, t, neg, a=a, b=b)
    assert float(G.abs().max()) > 1e-3  # a real gradient, not zeros
    torch.testing.assert_close(G, Yp.grad, rtol=1e-6, atol=1e-9)


def test_procrustes_recovers_a_rigid_motion_and_keeps_distances():
    from ttvis_widget.engine.layout import procrustes

    g = torch.Generator().manual_seed(1)
    ref = torch.randn(200, 2, generator=g)
    th = 2.1
    rot = torch.tensor([[np.cos(th), -np.sin(th)], [np.sin(th), np.cos(th)]], dtype=torch.float32)
    flip = torch.tensor([[1.0, 0.0], [0.0, -1.0]])
    moved = torch.cat([ref @ rot @ flip + torch.tensor([5.0, -3.0]), torch.randn(20, 2, generator=g)])  # + extra rows
    R, sh = procrustes(moved, ref, 200)
    back = moved @ R + sh
    torch.testing.assert_close(back[:200], ref, atol=1e-4, rtol=0)
    exact = "donot_use_mm_for_euclid_dist"
    torch.testing.assert_close(torch.cdist(back, back, compute_mode=exact), torch.cdist(moved, moved, compute_mode=exact),
                               atol=1e-4, rtol=0)


def test_shrink_perturb_mixes_the_warm_encoder_with_a_fresh_whitened_one():
    from ttvis_widget.engine.dvi import DVI

    X = torch.randn(300, 16, generator=torch.Generator().manual_seed(2)) * torch.linspace(0.1, 3, 16)
    warm = VisModel(16)
    warm.encoder.rewhiten(X)
    state = {k: v.clone() for k, v in warm.encoder.state_dict().items()}
    before = [p.detach().clone() for p in warm.encoder.parameters()]
    DVI(encoder_shrink=0.0)._shrink_perturb(warm.encoder, X, 3, 16, "cpu")
    fresh = [p.detach().clone() for p in warm.encoder.parameters()]
    assert all(not torch.allclose(a, b) for a, b in zip(before, fresh))
    again = VisModel(16)
    again.encoder.load_state_dict(state)  # the warm encoder again, its whitening included
    DVI(encoder_shrink=0.5)._shrink_perturb(again.encoder, X, 3, 16, "cpu")  # same epoch: same fresh init
    for a, b, m in zip(before, fresh, again.encoder.parameters()):
        torch.testing.assert_close(m.detach(), 0.5 * a + 0.5 * b)
    try:
        DVI(encoder_shrink=1.5)
    except ValueError as err:
        assert "encoder_shrink" in str(err)
    else:
        raise AssertionError("encoder_shrink=1.5 was accepted")


def test_conditioned_decoder_depends_on_its_condition_and_loads_from_state():
    from ttvis_widget.engine.models import VisModel

    torch.manual_seed(0)
    m = VisModel(16, n_cond=3, cond_dim=4)
    y = torch.randn(5, 2)
    with torch.no_grad():
        outs = [m.decode(y, c) for c in range(3)]
        per_row = m.decode(y, torch.tensor([0, 1, 2, 1, 0]))  # one condition per row
    assert not torch.allclose(outs[0], outs[1])
    for r, c in enumerate([0, 1, 2, 1, 0]):
        torch.testing.assert_close(per_row[r], outs[c][r])
    with pytest.raises(ValueError, match="conditioned"):
        m.decode(y)
    m2 = VisModel.from_state_dict(m.state_dict(), 16)
    assert m2.decoder.n_cond == 3
    with torch.no_grad():
        torch.testing.assert_close(m2.decode(y, 2), outs[2])


def test_unconditioned_decoder_keeps_the_old_state_dict_layout():
    """Runs cached before the conditioned decoder existed must still load: same keys, no cond_embed."""
    from ttvis_widget.engine.models import VisModel

    m = VisModel(16)
    keys = [k for k in m.state_dict() if k.startswith("decoder.")]
    assert keys == ["decoder.0.weight", "decoder.0.bias", "decoder.2.weight", "decoder.2.bias",
                    "decoder.4.weight", "decoder.4.bias"]
    m2 = VisModel.from_state_dict(m.state_dict(), 16)
    assert m2.decoder.n_cond == 0
    y = torch.randn(4, 2)
    with torch.no_grad():
        torch.testing.assert_close(m2.decode(y), m.decode(y))
        torch.testing.assert_close(m.decode(y, 3), m.decode(y))  # a condition is ignored when unconditioned


def test_segmented_encoder_routes_each_row_to_its_part_and_loads_from_state():
    from ttvis_widget.engine.models import SegmentedEncoder, VisModel

    torch.manual_seed(0)
    m = VisModel(16, epoch_segment=[0, 0, 1, 1, 2])
    assert isinstance(m.encoder, SegmentedEncoder) and len(m.encoder.parts) == 3 and m.segmented
    X = torch.randn(6, 16)
    seg = torch.tensor([2, 0, 1, 1, 0, 2])
    with torch.no_grad():
        per_part = [m(X, k) for k in range(3)]
        routed = m(X, seg)
    assert not torch.allclose(per_part[0], per_part[1])
    for r, k in enumerate(seg.tolist()):
        torch.testing.assert_close(routed[r], per_part[k][r])
    with pytest.raises(ValueError, match="segment"):
        m(X)
    m2 = VisModel.from_state_dict(m.state_dict(), 16)
    assert m2.segmented and m2.encoder.epoch_segment.tolist() == [0, 0, 1, 1, 2]
    with torch.no_grad():
        torch.testing.assert_close(m2(X, seg), routed)
    one = VisModel(16, epoch_segment=[0, 0, 0])  # a single segment is the plain encoder, old state-dict keys
    assert not one.segmented and "encoder.0.weight" in one.state_dict()


def test_exact_knn_in_blocks_equals_one_block_and_blocks_fit_the_budget():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(500, 8)).astype(np.float32)
    i1, d1 = knn_exact(X, 6, chunk=10_000)  # one block
    i2, d2 = knn_exact(X, 6, chunk=37)  # 14 blocks, the last one short: self-masking must follow the offset
    np.testing.assert_array_equal(i1, i2)
    np.testing.assert_allclose(d1, d2, atol=1e-5)
    assert (i1[:, 0] == np.arange(len(X))).all() and (d1[:, 0] == 0).all()
    brute = np.argsort(((X[:, None] - X[None]) ** 2).sum(2), 1, kind="stable")[:, 1:6]
    np.testing.assert_array_equal(np.sort(i2[:, 1:], 1), np.sort(brute, 1))
    for n_ref in (1, 12_000, 60_000):
        rows = block_rows(n_ref)
        assert rows * n_ref <= max(BLOCK_FLOATS, 64 * n_ref) and rows <= 4096
    assert block_rows(12_000) < 2048 and block_rows(10**8) == 64


def test_exact_knn_multiplies_at_full_float32_whatever_the_caller_set(monkeypatch):
    """With ``set_float32_matmul_precision("high")`` a GPU would rank distances in TF32: the kNN blocks run at
    "highest", and the caller's setting is back afterwards."""
    import torch

    import ttvis_widget.engine.knn as knn_mod

    seen = []
    orig = knn_mod._knn_blocks
    monkeypatch.setattr(knn_mod, "_knn_blocks",
                        lambda *a: seen.append(torch.get_float32_matmul_precision()) or orig(*a))
    X = np.random.default_rng(2).normal(size=(200, 6)).astype(np.float32)
    ref = knn_exact(X, 5)[0]
    prev = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision("high")
    try:
        np.testing.assert_array_equal(knn_exact(X, 5)[0], ref)
        assert torch.get_float32_matmul_precision() == "high"
    finally:
        torch.set_float32_matmul_precision(prev)
    assert seen == ["highest", "highest"]


def test_exact_knn_limit_is_larger_on_a_gpu_and_an_explicit_one_wins():
    """knn is exact up to 20k rows on the host (pynndescent above), 200k on CUDA, where it needs no JIT and
    the matrix products are cheap; an explicit ``exact_max`` overrides both."""
    from ttvis_widget.engine.knn import EXACT_MAX, EXACT_MAX_CUDA, exact_limit, knn

    assert exact_limit("cpu") == EXACT_MAX == 20_000 and exact_limit("cuda:0") == exact_limit("cuda") == EXACT_MAX_CUDA
    assert exact_limit("cuda", 5) == exact_limit("cpu", 5) == 5 and EXACT_MAX_CUDA >= 60_000
    X = np.random.default_rng(1).normal(size=(300, 5)).astype(np.float32)
    t = {}
    i, d = knn(X, 7, timings=t)  # 300 rows: exact, no pynndescent involved
    np.testing.assert_array_equal(i, knn_exact(X, 7)[0])
    assert "nndescent_s" not in t


def test_release_memory_trims_the_heap_on_glibc():
    import platform

    from ttvis_widget.engine.resources import release_memory

    expected = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"
    assert release_memory() is expected
    assert release_memory() is expected  # the libc handle is cached and reusable


def test_node_matrix_helpers_match_their_whole_matrix_forms(tmp_path):
    """The fit's node matrix is built, normalised and whitened in chunks (no whole-matrix temporaries); the
    results equal the one-shot forms."""
    from ttvis_widget.engine.resources import stack_rows
    from ttvis_widget.engine.models import chunk_rows, encode_all

    rng = np.random.default_rng(3)
    A = (rng.normal(size=(1000, 16)) * rng.uniform(0.1, 5, 16) + 2).astype(np.float32)
    np.save(tmp_path / "a.npy", A)
    mm = np.load(tmp_path / "a.npy", mmap_mode="r")  # recordings are memory-mapped and read-only
    B = rng.normal(size=(7, 16)).astype(np.float32)
    nodes = stack_rows([mm, np.zeros((0, 16), np.float32), B], chunk=300)
    np.testing.assert_array_equal(nodes.numpy(), np.concatenate([A, B]))
    m = VisModel(16)
    m.set_normalization(nodes[:1000])
    At = torch.from_numpy(A)
    mu = At.double().mean(0)
    np.testing.assert_allclose(m.mu.numpy(), mu.numpy(), rtol=1e-5, atol=1e-5)
    rms = float(((At.double() - mu) ** 2).sum(1).mean().sqrt())
    assert abs(float(m.scale) - 4.0 / rms) < 1e-5 * float(m.scale)  # sqrt(D) / rms
    expect = m.normalize(nodes)
    same = m.normalize_(nodes)
    assert same.data_ptr() == nodes.data_ptr()
    torch.testing.assert_close(same, expect)
    rows = torch.from_numpy(rng.permutation(1000)[:600])
    torch.testing.assert_close(whitening(nodes[:1000], rows=rows), whitening(nodes[:1000][rows]), rtol=1e-4, atol=1e-5)
    big = VisModel(512)
    assert chunk_rows(big) * 512 <= 1 << 23 and chunk_rows(big) >= 1024
    X = torch.randn(5000, 16)
    with torch.no_grad():
        torch.testing.assert_close(encode_all(m, X), m.encode_normalized(X))


def test_border_points_drawn_from_rows_equal_those_from_the_selected_copy():
    """``rows`` picks the training rows without copying them all; the points are those of the copy."""
    from ttvis_widget.engine.borders import border_points_from
    from ttvis_widget.store.head import MLPHead

    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 6)).astype(np.float32)
    W, b = rng.normal(size=(3, 6)).astype(np.float32), np.zeros(3, np.float32)
    head = MLPHead([W], [b])
    rows = np.sort(rng.choice(400, 250, replace=False))
    logits = head(X[rows])
    a = border_points_from(X[rows], logits, head, n=40, seed=5)
    b2 = border_points_from(X, logits, head, n=40, seed=5, rows=rows)
    assert len(a) > 10
    np.testing.assert_array_equal(a, b2)


def test_partner_sampler_draws_every_graph_neighbour_and_nothing_else():
    from ttvis_widget.engine.graph import PartnerSampler

    h, t = np.array([0, 0, 1, 2]), np.array([1, 2, 3, 3])  # node 4 has no edge
    nbrs = {0: {1, 2}, 1: {0, 3}, 2: {0, 3}, 3: {1, 2}, 4: {4}}
    ps = PartnerSampler(h, t, 5, generator=torch.Generator().manual_seed(0))
    ids = torch.arange(5).repeat(2000)
    got = ps.partner(ids)
    for i, want in nbrs.items():
        drawn = got[ids == i].numpy()
        assert set(drawn.tolist()) == want, (i, set(drawn.tolist()))
        if len(want) == 2:  # uniform over the node's edges
            assert 0.4 < float((drawn == min(want)).mean()) < 0.6


def test_muon_adam_splits_the_hidden_matrices_from_the_rest_and_restores_its_state():
    """optim.MuonAdam: Muon on the hidden-to-hidden Linear weights (not the input or output layer; the input
    layer too with ``muon_input``, unless it is 2-D), Adam on everything else, every parameter in exactly one of
    them; a saved state continues bit for bit."""
    import copy

    from ttvis_widget.engine.optim import MuonAdam, make_optimizer, scale_lr

    torch.manual_seed(0)
    m = VisModel(16)
    enc = MuonAdam(m.encoder, lr=1e-2)
    dec = MuonAdam(m.decoder, lr=1e-2)
    ids = lambda ps: {id(p) for p in ps}  # noqa: E731
    lin = [mod for mod in m.encoder if isinstance(mod, torch.nn.Linear)]
    assert len(lin) == 3 and ids(enc.muon.param_groups[0]["params"]) == ids([lin[1].weight])
    assert ids(enc.adam.param_groups[0]["params"]) == ids(m.encoder.parameters()) - ids([lin[1].weight])
    both = MuonAdam(m.encoder, lr=1e-2, muon_input=True)
    assert ids(both.muon.param_groups[0]["params"]) == ids([lin[0].weight, lin[1].weight])
    dlin = [mod for mod in m.decoder if isinstance(mod, torch.nn.Linear)]
    assert ids(dec.muon.param_groups[0]["params"]) == ids([dlin[1].weight])
    dec_in = MuonAdam(m.decoder, lr=1e-2, muon_input=True)
    assert ids(dec_in.muon.param_groups[0]["params"]) == ids([dlin[1].weight])  # a 2-D input layer stays with Adam
    scale_lr(enc, 1e-2, 0.5)
    assert [g["lr"] for g in enc.param_groups] == [0.5e-2, 0.5 * 0.02]  # each group scales its own base rate
    with pytest.raises(ValueError, match="optimizer"):
        make_optimizer(m.encoder, "sgd", lr=1e-2)

    x = torch.randn(64, 16)

    def step(model, opt):
        opt.zero_grad()
        (model.encoder(x) ** 2).sum().backward()
        opt.step()

    for _ in range(3):
        step(m, enc)
    state = {k: v.clone() for k, v in m.state_dict().items()}
    m2 = VisModel(16)
    m2.load_state_dict(state)
    enc2 = MuonAdam(m2.encoder, lr=1e-2)
    enc2.load_state_dict(copy.deepcopy(enc.state_dict()))  # as saved to disk: no shared buffers
    for _ in range(2):
        step(m, enc)
        step(m2, enc2)
    for (k, v), v2 in zip(m.state_dict().items(), m2.state_dict().values()):
        torch.testing.assert_close(v, v2, msg=k)


def test_our_muon_is_torchs_muon_with_its_newton_schulz_dtype_chosen_by_the_hardware():
    """optim.Muon: in bfloat16 it takes torch.optim.Muon's steps bit for bit, and the two load each other's
    state; in float32 (its choice on a CPU, where torch's bfloat16 iteration is slow or emulated) its update is the same orthogonalisation
    to bfloat16's precision, and it leaves 2-D weights' singular values near 1 whatever the gradient's scale."""
    from ttvis_widget.engine.optim import Muon, newton_schulz

    g = torch.Generator().manual_seed(0)
    w0 = torch.randn(24, 40, generator=g)
    grads = [torch.randn(24, 40, generator=g) * 10 ** k for k in (-3, 0, 2)]

    def run(opt_cls, steps, **kw):
        p = torch.nn.Parameter(w0.clone())
        opt = opt_cls([p], lr=0.05, weight_decay=0.0, ns_steps=3, adjust_lr_fn="original", **kw)
        for gr in grads[:steps]:
            p.grad = gr.clone()
            opt.step()
        return p, opt

    ref, ref_opt = run(torch.optim.Muon, 3)
    ours, _ = run(Muon, 3, ns_dtype=torch.bfloat16)
    assert torch.equal(ours.detach(), ref.detach())
    # a state saved by torch's Muon continues in ours (and the other way round), bit for bit
    half_ref, half_opt = run(torch.optim.Muon, 2)
    p = torch.nn.Parameter(half_ref.detach().clone())
    cont = Muon([p], lr=0.05, weight_decay=0.0, ns_steps=3, adjust_lr_fn="original", ns_dtype=torch.bfloat16)
    cont.load_state_dict(half_opt.state_dict())
    p.grad = grads[2].clone()
    cont.step()
    assert torch.equal(p.detach(), ref.detach())
    back = torch.optim.Muon([torch.nn.Parameter(w0.clone())], lr=0.05)
    back.load_state_dict(cont.state_dict())
    assert torch.equal(back.state_dict()["state"][0]["momentum_buffer"], cont.state_dict()["state"][0]["momentum_buffer"])

    for G in grads:
        o32 = newton_schulz(G, 3, dtype=torch.float32)
        o16 = newton_schulz(G, 3, dtype=torch.bfloat16).float()
        assert o32.dtype == torch.float32 and o32.shape == G.shape
        assert (o32 - o16).abs().max() < 0.02  # bfloat16 keeps ~3 significant digits
        s = torch.linalg.svdvals(o32)
        assert 0.3 < float(s.min()) and float(s.max()) < 1.3, s  # scale-free: ~orthogonal for every scale
    tall = newton_schulz(grads[1].T, 3)
    torch.testing.assert_close(tall, newton_schulz(grads[1], 3).T)

    auto, _ = run(Muon, 3)  # "auto": float32 on every CPU
    want, _ = run(Muon, 3, ns_dtype=torch.float32)
    assert torch.equal(auto.detach(), want.detach())
    assert (auto - ref).abs().max() < 0.05 * 0.05 * 3 + 1e-6  # three steps of lr·(≤ 0.02 per entry) apart


def test_fourier_decoder_sets_its_frame_once_and_loads_from_state():
    """models.Decoder(fourier=...): the frame (centre, scale) comes from the first positions the decoder is
    fitted to and stays through later fits (warm starts); features are float32 under bfloat16 autocast; a
    saved model rebuilds the same decoder."""
    from ttvis_widget.engine.layout import fit_decoder

    torch.manual_seed(0)
    m = VisModel(16, fourier=8, fourier_scale=3.0)
    assert m.decoder.needs_frame and m.decoder[0].in_features == 2 + 16
    nodes = torch.randn(300, 16)
    with torch.no_grad():
        Y = m.encoder(nodes)
    fit_decoder(m, nodes, steps=2, batch=64)
    f = m.decoder.ff_frame.clone()
    torch.testing.assert_close(f[:2], Y.mean(0))
    torch.testing.assert_close(f[2], Y.std(0).mean())
    fit_decoder(m, nodes * 3, steps=2, batch=64)  # another epoch's nodes: same frame
    torch.testing.assert_close(m.decoder.ff_frame, f)
    y = torch.randn(5, 2) * 4
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        feats = m.decoder.features(y)
    assert feats.dtype == torch.float32
    u = (y - f[:2]) / f[2]
    torch.testing.assert_close(feats, torch.cat([u, torch.sin(u @ m.decoder.ff_freq), torch.cos(u @ m.decoder.ff_freq)], 1))
    m2 = VisModel.from_state_dict(m.state_dict(), 16)
    with torch.no_grad():
        torch.testing.assert_close(m2.decode(y), m.decode(y))


def test_fourier_features_let_the_decoder_resolve_finer_class_structure():
    """A 2-D checkerboard of two classes (6 x 6 cells), each class decoding to its own vector: with the same
    steps, the plain decoder blurs the cells (it is smooth at the scale of the whole layout) and the Fourier
    decoder separates them -- the round trips that kept losing the head's prediction in DVI (dvi.py)."""
    from ttvis_widget.engine.optim import adam
    from ttvis_widget.engine.models import Decoder

    g = torch.Generator().manual_seed(0)
    y = torch.rand(4000, 2, generator=g) * 6
    cls = ((y[:, 0].floor() + y[:, 1].floor()) % 2).long()
    means = torch.randn(2, 8, generator=g)
    acc = {}
    for ff in (0, 16):
        torch.manual_seed(0)
        dec = Decoder((2, 64, 64, 8), fourier=ff, fourier_scale=5.0)
        if ff:
            dec.set_frame(y)
        opt = adam(dec.parameters(), lr=1e-2)
        for s in range(400):
            ids = torch.randint(0, len(y), (256,), generator=g)
            loss = ((dec(y[ids]) - means[cls[ids]]) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
        with torch.no_grad():
            pred = torch.cdist(dec(y), means).argmin(1)
        acc[ff] = float((pred == cls).float().mean())
    assert acc[16] > 0.9 and acc[16] > acc[0] + 0.15, acc


def test_epoch_heads_kl_with_linear_heads_equals_the_per_epoch_form(monkeypatch):
    """The KL term on reconstructed nodes of several epochs (TimeVis, DynaVis), each against its own epoch's
    head: with linear heads all E are applied in one product (losses._stacked_linear); value and gradient
    equal the per-epoch form."""
    from types import SimpleNamespace

    from ttvis_widget.engine import losses
    from ttvis_widget.store.head import MLPHead

    rng = np.random.default_rng(5)
    E, D, C, n = 4, 12, 5, 400
    heads = [MLPHead([rng.normal(size=(C, D))], [rng.normal(size=C)]) for _ in range(E)]
    dyn = SimpleNamespace(head=lambda e: heads[e])
    model = VisModel(D)
    model.set_normalization(torch.from_numpy(rng.normal(size=(n, D)).astype(np.float32)) * 3 + 1)
    nodes = torch.from_numpy(rng.normal(size=(n, D)).astype(np.float32))
    node_epoch = torch.from_numpy(rng.integers(0, E, n))
    stack = losses._stacked_linear
    ids = torch.from_numpy(rng.integers(0, n, 64))
    xr = torch.from_numpy(rng.normal(size=(64, D)).astype(np.float32))
    results = []
    for stacked in (True, False):
        if not stacked:
            monkeypatch.setattr(losses, "_stacked_linear", lambda mods: None)
        loss = losses.epoch_heads_kl(dyn, list(range(E)), nodes, node_epoch, model.denormalize, 2.0, "cpu")
        x = xr.clone().requires_grad_(True)
        value = loss(x, ids)
        value.backward()
        results.append((float(value.detach()), x.grad.clone()))
    assert results[0][0] > 0
    assert abs(results[0][0] - results[1][0]) < 1e-5 * results[1][0]
    torch.testing.assert_close(results[0][1], results[1][1], rtol=1e-4, atol=1e-6)
    two_layer = MLPHead([rng.normal(size=(7, D)), rng.normal(size=(C, 7))], [rng.normal(size=7), rng.normal(size=C)])
    assert stack([h.torch_module("cpu") for h in heads]) is not None
    assert stack([two_layer.torch_module("cpu")] * 2) is None  # MLP heads: per-epoch form


def test_fixed_step_counts_warn_when_each_node_gets_far_fewer_updates():
    """The step counts were tuned on the demo's 13.2k nodes per epoch; at twice that or more a fixed
    ``steps_scale`` leaves each node under half its updates, and the fit says so (and what to pass)."""
    import warnings

    from ttvis_widget.engine.params import REFERENCE_NODES, step_factor

    def warned(scale, n):
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            step_factor(scale, n)
        return [str(x.message) for x in w]

    msg = warned(1.0, 5 * REFERENCE_NODES)
    assert len(msg) == 1 and "5x fewer updates" in msg[0] and "steps_scale='auto'" in msg[0]
    assert warned(1.0, REFERENCE_NODES) == [] and warned(3, 5 * REFERENCE_NODES) == []
    assert warned("auto", 5 * REFERENCE_NODES) == [] and step_factor("auto", 5 * REFERENCE_NODES) == 5.0
