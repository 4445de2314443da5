"""store/summaries.py: the widget keeps each epoch's predicted class and confidence in the results folder,
keyed by the epoch's files; plain reads write nothing."""
import os
import shutil

import numpy as np

import ttvis_widget
from ttvis_widget.store import summaries


def _reference(dyn, e):
    logits = np.asarray(dyn.prediction(e), np.float64)
    soft = np.exp(logits - logits.max(1, keepdims=True))
    return logits.argmax(1), (soft / soft.sum(1, keepdims=True)).max(1)


def test_summaries_are_cached_for_the_widget_and_recomputed_when_the_epoch_changes(digits_path, tmp_path,
                                                                                     monkeypatch):
    path = tmp_path / "digits"
    shutil.copytree(digits_path, path, ignore=shutil.ignore_patterns("ttvis_cache"))
    folder = path / "ttvis_cache" / summaries.FOLDER

    plain = ttvis_widget.load(path)
    plain.predicted_class(3), plain.confidence(3)
    assert not folder.exists()  # a plain read writes nothing

    dyn = ttvis_widget.load(path)
    dyn.persist_summaries = True
    cls, conf = dyn.predicted_class(3), dyn.confidence(3)
    assert (folder / "epoch_3.npz").is_file()
    ref_cls, ref_conf = _reference(dyn, 3)
    np.testing.assert_array_equal(cls, ref_cls)
    np.testing.assert_allclose(conf, ref_conf, rtol=1e-5)

    again = ttvis_widget.load(path)  # a new process would be the same: nothing in memory
    again.persist_summaries = True
    monkeypatch.setattr(type(again), "prediction", lambda self, e: (_ for _ in ()).throw(AssertionError("read")))
    np.testing.assert_array_equal(again.predicted_class(3), cls)  # from the cache: the logits are not read
    np.testing.assert_array_equal(again.confidence(3), conf)
    monkeypatch.undo()

    # the epoch's logits are replaced: the cached summary is stale and computed again
    pred_file = path / "epochs" / "3" / "prediction.npy"
    logits = np.load(pred_file)
    logits[:, [0, 1]] = logits[:, [1, 0]]  # swap two classes' scores
    np.save(pred_file, logits)
    st = pred_file.stat()
    os.utime(pred_file, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    fresh = ttvis_widget.load(path)
    fresh.persist_summaries = True
    ref_cls, _ = _reference(fresh, 3)
    np.testing.assert_array_equal(fresh.predicted_class(3), ref_cls)
    assert not np.array_equal(ref_cls, cls)

    # an unreadable cache file is computed again, not an error
    (folder / "epoch_3.npz").write_bytes(b"not a zip")
    broken = ttvis_widget.load(path)
    broken.persist_summaries = True
    np.testing.assert_array_equal(broken.predicted_class(3), ref_cls)
