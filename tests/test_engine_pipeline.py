"""The fit pipeline: a stage on a worker thread beside the next one (engine/pipeline.py, DVI's decoder)."""
import threading

import numpy as np
import pytest
import torch

from ttvis_widget.engine.pipeline import STAGE, Pipeline

DVI_TINY = dict(layout_steps_first=200, layout_steps=80, layout_batch=4096, encoder_steps_first=300,
                encoder_steps=100, decoder_steps_first=100, decoder_steps=50)


def _where():
    return threading.current_thread().name, torch.get_num_threads()


def test_pipeline_runs_the_job_beside_the_block_on_split_threads():
    outer = torch.get_num_threads()
    started, release = threading.Event(), threading.Event()

    def job(x):
        started.set()
        assert release.wait(10)
        return x + 1, _where()

    with Pipeline(True, threads=2) as pipe:
        pipe.submit(job, 41)
        assert pipe.pending and not started.wait(0.2)  # handed over, not started before a block
        with pipe.alongside():
            assert started.wait(10)
            inside = torch.get_num_threads()
            release.set()
        after = torch.get_num_threads()
        value, (name, worker_threads) = pipe.wait()
        assert not pipe.pending and pipe.wait() is None
    assert value == 42 and name.startswith(STAGE) and worker_threads == 1
    assert inside == 1 and after == outer


def test_pipeline_runs_a_job_no_block_started_at_wait_on_the_calling_thread():
    for enabled in (True, False):
        with Pipeline(enabled, threads=2) as pipe:
            pipe.submit(_where)
            with pytest.raises(RuntimeError, match="not collected"):
                pipe.submit(_where)
            if not enabled:
                with pipe.alongside():  # disabled: the block starts nothing
                    assert pipe.pending
            name, _ = pipe.wait()
        assert name == threading.current_thread().name


def test_pipeline_raises_the_jobs_error_at_wait():
    def boom():
        raise ValueError("stage failed")

    for enabled in (True, False):
        with Pipeline(enabled, threads=2) as pipe:
            pipe.submit(boom)
            with pipe.alongside():
                pass
            with pytest.raises(ValueError, match="stage failed"):
                pipe.wait()
            assert not pipe.pending


def test_dvi_trains_each_decoder_beside_the_next_layout(digits):
    from ttvis_widget.engine.dvi import DVI

    eps = digits.epochs[-3:]
    runs = {ov: DVI(overlap=ov, **DVI_TINY).fit(digits, epochs=eps) for ov in (True, False)}
    ran = {ov: [m.timings_["epochs"][str(e)]["overlapped"] for e in eps] for ov, m in runs.items()}
    assert ran[True] == [True, True, False]  # the last decoder has nothing to run beside
    assert ran[False] == [False, False, False]
    head = digits.head(eps[-1])
    X = digits.representation(eps[-1])
    for m in runs.values():
        xy = m.transform(eps[-1], X)
        assert np.isfinite(xy).all() and np.ptp(xy, 0).min() > 1.0
        ppr = (head(m.inverse_transform(eps[-1], xy)).argmax(1) == head(X).argmax(1)).mean()
        assert ppr >= 0.9
    with pytest.raises(ValueError, match="joint_steps=0"):
        DVI(overlap=True, joint_steps=10)
    assert "overlap" not in DVI(overlap=False).cache_params()  # where it trains, not what


def test_timevis_fits_its_encoder_parts_two_at_a_time_and_resumes_each(digits, tmp_path, monkeypatch):
    import ttvis_widget.engine.timevis as tv_mod
    from ttvis_widget import fit
    from ttvis_widget.engine.timevis import TimeVis

    kw = dict(layout_steps_first=200, layout_steps=80, layout_batch=4096, layout_joint_steps=50, decoder_steps=100,
              encoder_steps=1200, checkpoint_every=100, device="cpu")  # 4 epochs: 4 parts of 300 steps; on a
    # CPU, where "auto" overlaps them
    where = {}
    orig = tv_mod.fit_encoder

    def spy(*a, **k):
        where.setdefault(threading.current_thread().name, []).append(k["start_step"])
        return orig(*a, **k)

    def kill(self, step):  # the first checkpoint of the second pair (parts 2 and 3), in whichever thread
        if step == 100 and sum(len(v) for v in where.values()) == 4:
            raise KeyboardInterrupt("simulated kill")

    monkeypatch.setattr(tv_mod, "fit_encoder", spy)
    monkeypatch.setattr(TimeVis, "_after_checkpoint", kill)
    eps = digits.epochs[-4:]
    with pytest.raises(KeyboardInterrupt):
        fit(digits, method="timevis", epochs=eps, cache_dir=tmp_path, progress=False, **kw)
    assert sorted(where) == sorted([threading.current_thread().name, next(n for n in where if n.startswith(STAGE))])
    assert all(len(v) == 2 for v in where.values())  # parts 0 and 1 beside each other, then 2 and 3
    (run_dir,) = (tmp_path / "runs").iterdir()
    monkeypatch.setattr(TimeVis, "_after_checkpoint", lambda self, step: None)
    where.clear()
    run = fit(digits, method="timevis", epochs=eps, cache_dir=tmp_path, progress=False, **kw)
    starts = sorted(s for v in where.values() for s in v)
    assert len(starts) == 2 and starts[-1] == 100  # parts 0-1 kept; part 2 or 3 goes on from its checkpoint
    X = digits.representation(eps[-1])
    xy = run.embedding(eps[-1])
    assert np.isfinite(xy).all() and np.ptp(xy, 0).min() > 1.0
    head = digits.head(eps[-1])
    assert (head(run.inverse(eps[-1], xy)).argmax(1) == head(X).argmax(1)).mean() >= 0.9
