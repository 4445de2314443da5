"""The debugger's kernel side (issue 26, item 5): what the views' analysis panels ask (training events,
neighbours, a sample's top predictions, similar samples, influence, visualization errors), answered with
``ttvis_widget.analysis`` -- the browser computes none of it -- and the same answers as Python methods.

A mixin of ``TimeTravelWidget``: its ``@message`` handlers are found by the router like the widget's own.
Answers are small custom messages (per-kind counts, k-long index lists, an N-bit mask as one buffer), never
synced state, and carry the asking view's ``rid``. Work runs on the widget's :class:`AnalysisWorker`, so the
comm thread only checks and queues; the view says "computing…" until the answer comes. An analysis that
cannot be computed (no labels, no inverse, ...) is answered ``status: "error"`` with the reason.
"""
from __future__ import annotations

import collections
import logging
import threading

import numpy as np

from .. import analysis as an
from ..analysis.similar import METRICS
from ..analysis.validate import check_index
from .fields import Choice, Epoch, Flag, Index, Int
from .messages import message
from .worker import AnalysisWorker

log = logging.getLogger("ttvis_widget.widget")

TOP_K = 3  # predictions listed in the sample panel
KEPT_EPOCHS = 64  # epochs whose Events / visualization errors a widget keeps (each holds event samples only)
ANSWERABLE = (an.AnalysisError, NotImplementedError, ValueError, IndexError, KeyError, TypeError)


def _k_bound(cap: int):
    def bound(w) -> int:
        return max(1, min(cap, int(w.dynamics.n_samples) - 1))

    bound.__doc__ = f"min({cap}, N−1)"
    return bound


def visualization_errors(run, epoch) -> np.ndarray:
    """Samples whose round trip through the visualization changes the prediction at ``epoch``: the head applied
    to ``run.inverse(epoch, xy_i)`` (xy_i the sample's 2-D position) predicts another class than the
    recorded prediction (the dynamics' logits, else the head on the representation). Sorted int64; these are
    the mismatches the metrics count as ``vis_error`` (PPR = 1 − their share). Raises AnalysisError when the
    method has no inverse or the epoch has no classifier head."""
    d = run.dynamics
    e = int(epoch)
    if e not in [int(x) for x in run.epochs]:
        raise an.EpochNotRecordedError(f"epoch {e} is not part of the visualization run; its epochs: "
                                       f"{[int(x) for x in run.epochs]}")
    if not getattr(run, "has_inverse", False):
        raise an.AnalysisError(f"method {getattr(run, 'method', '?')!r} has no inverse projection, so there is no "
                               "round trip to check; fit with method='dvi', 'timevis' or 'pca'")
    head = d.head(e)
    if head is None:
        raise an.AnalysisError(f"no classifier head was recorded at epoch {e}: the round trip needs it")
    recon = run.inverse(e, run.embedding(e))
    return np.flatnonzero(head(recon).argmax(1) != d.prediction(e).argmax(1)).astype(np.int64)


class DebuggerMixin:
    """Analysis panels' messages and the Python API behind them (see the module docstring)."""

    #: answer the panels' requests on a background thread (tests set False: answered inside the handler)
    analysis_in_background = True

    def _debugger_init(self) -> None:
        self._worker = AnalysisWorker(f"ttvis-analysis-{id(self):x}")
        self._kept: dict[str, collections.OrderedDict] = {"events": collections.OrderedDict(),
                                                          "vis_errors": collections.OrderedDict()}
        self._kept_lock = threading.Lock()

    # ---- Python API ---------------------------------------------------------------------------------------
    def _epoch_or_current(self, epoch) -> int:
        if epoch is None:
            return int(self.epoch)
        if isinstance(epoch, bool) or not isinstance(epoch, (int, np.integer)):
            raise TypeError(f"epoch must be an integer epoch number, got {epoch!r}")
        if int(epoch) not in self.epochs:
            raise an.EpochNotRecordedError(f"epoch {int(epoch)} is not one of this widget's epochs {self.epochs}")
        return int(epoch)

    def _per_epoch(self, name: str, e: int, compute):
        """A per-epoch result kept by the widget (the last KEPT_EPOCHS epochs asked)."""
        kept = self._kept[name]
        with self._kept_lock:
            if e in kept:
                kept.move_to_end(e)
                return kept[e]
        value = compute(e)
        with self._kept_lock:
            kept[e] = value
            while len(kept) > KEPT_EPOCHS:
                kept.popitem(last=False)
        return value

    @property
    def events(self) -> an.Events:
        """The training events of the current epoch (``w.epoch``) against the previous recorded one, as the
        events panel shows them: ``w.events.counts()``, ``w.events.indices(kind)``, ``w.events.table()``
        (``ttvis_widget.analysis.training_events``; recomputed when the epoch changes, kept per epoch)."""
        return self.events_at(self.epoch)

    def events_at(self, epoch: int) -> an.Events:
        """The events panel's ``Events`` for ``epoch`` (default thresholds; call
        ``ttvis_widget.analysis.training_events`` for others)."""
        e = self._epoch_or_current(epoch)
        return self._per_epoch("events", e, lambda x: an.training_events(self.dynamics, x))

    def neighbors(self, index: int, k: int = 15, epoch: int | None = None) -> an.Neighbors:
        """High-D vs 2-D neighbours of sample ``index`` at ``epoch`` (default: current): what the neighbour lines
        draw (``.kept`` solid, ``.gained`` dashed, ``.lost`` dotted)."""
        return an.neighbors(self.dynamics, self.run, self._epoch_or_current(epoch), index, k=k)

    def similar(self, query, k: int = 10, metric: str = "cosine", epoch: int | None = None, select: bool = False):
        """``(indices, scores)`` of the ``k`` samples most similar to ``query`` (an index, a list of indices or a
        vector) at ``epoch`` (default: current); ``select=True`` also puts them in ``w.selection`` as the
        panel's "similar" button does."""
        idx, scores = an.similar(self.dynamics, self._epoch_or_current(epoch), query, k=k, metric=metric)
        if select:
            self.selection = idx.tolist()
        return idx, scores

    def influence(self, index: int, k: int = 10, epochs=None, select: bool = False, **kwargs) -> an.Influence:
        """TracIn (last layer) proponents and opponents of sample ``index`` (``ttvis_widget.analysis.influence``;
        keyword arguments ``learning_rates``, ``target``); ``select=True`` puts both lists in ``w.selection``
        as the panel's "why" button does (it asks with ``target="prediction"``)."""
        inf = an.influence(self.dynamics, index, k=k, epochs=epochs, **kwargs)
        if select:
            self.selection = sorted(set(inf.proponents[0].tolist()) | set(inf.opponents[0].tolist()))
        return inf

    def vis_errors(self, epoch: int | None = None) -> np.ndarray:
        """Sorted sample indices whose round trip through the visualization changes the prediction at ``epoch``
        (default: current), as the "vis. errors" mark shows them (see :func:`visualization_errors`)."""
        return self._per_epoch("vis_errors", self._epoch_or_current(epoch),
                               lambda e: visualization_errors(self.run, e))

    def top_predictions(self, index: int, k: int = TOP_K, epoch: int | None = None) -> list[tuple[int, float]]:
        """The ``k`` most probable classes of sample ``index`` at ``epoch`` (default: current) as
        ``[(class, probability), ...]``, most probable first (softmax of its logits); [] without predictions."""
        e = self._epoch_or_current(epoch)
        i = check_index(self.dynamics, index)
        logits = self.dynamics.prediction(e)
        if logits is None:
            return []
        z = np.asarray(logits[i], np.float64)
        p = np.exp(z - z.max())
        p /= p.sum()
        order = np.argsort(-p, kind="stable")[:max(1, int(k))]
        return [(int(c), float(p[c])) for c in order]

    def prediction_history(self, index: int) -> list[dict]:
        """Sample ``index``'s predicted class and confidence at every epoch of the run, as the sample panel's
        strip shows them: ``[{"epoch", "prediction", "confidence"}, ...]`` (None without predictions)."""
        i = check_index(self.dynamics, index)
        out = []
        for e in self.epochs:
            pred, conf = self.dynamics.predicted_class(e), self.dynamics.confidence(e)
            out.append({"epoch": e, "prediction": None if pred is None else int(pred[i]),
                        "confidence": None if conf is None else float(conf[i])})
        return out

    # ---- what the panels send (checked by the router before these run) ------------------------------------
    def _answer(self, kind: str, rid, key: dict, compute) -> None:
        """Run ``compute() -> (content, buffers)`` (on the worker unless ``analysis_in_background`` is False) and
        send ``{type: kind, rid, **key, status: "ready", **content}``, or ``status: "error"`` with the reason.
        ``compute`` returns None when it sent its answer itself (results that also set the selection send
        their list first, so a view can tell that the selection which follows is the result it asked for)."""
        base = {"type": kind, "rid": rid, **key}

        def job():
            try:
                answer = compute()
                if answer is not None:
                    content, buffers = answer
                    self.send({**base, "status": "ready", **content}, buffers=buffers)
            except ANSWERABLE as exc:
                self.send({**base, "status": "error", "error": str(exc)[:300]})
            except Exception as exc:  # noqa: BLE001 - a bug: logged, and the view is told instead of waiting
                log.warning("ttvis_widget: answering a %r request failed", kind, exc_info=exc)
                self.send({**base, "status": "error", "error": f"{type(exc).__name__}: {str(exc)[:300]}"})

        if self.analysis_in_background:
            self._worker.submit((kind, rid), job)
        else:
            job()

    def wait_for_analysis(self, timeout: float | None = None) -> bool:
        """Block until the panels' queued analysis requests are answered (tests, scripts)."""
        return self._worker.wait(timeout)

    @message("events", epoch=Epoch())
    def _on_events(self, epoch, rid=None):
        """The events panel shows epoch ``epoch``: per-kind counts and what is not computable."""
        def compute():
            ev = self.events_at(epoch)
            return {"previous": ev.previous, "final": ev.final, "counts": ev.counts(),
                    "not_computable": ev.not_computable, "thresholds": ev.thresholds}, None

        self._answer("events", rid, {"epoch": epoch}, compute)

    @message("event_select", epoch=Epoch(), event=Choice(*an.KINDS))
    def _on_event_select(self, epoch, event, rid=None):
        """A click on an event kind: ``w.selection`` becomes exactly its samples at ``epoch``."""
        def compute():
            idx = self.events_at(epoch).indices(event)
            self.selection = idx.tolist()
            return {"count": int(len(idx))}, None

        self._answer("event_select", rid, {"epoch": epoch, "event": event}, compute)

    @message("neighbors", index=Index(), epoch=Epoch(), k=Int(1, _k_bound(100), optional=True, default=15))
    def _on_neighbors(self, index, epoch, k, rid=None):
        """Neighbour lines for sample ``index`` at ``epoch``."""
        def compute():
            nb = self.neighbors(index, k=k, epoch=epoch)
            return {"k": nb.k, "high": nb.high.tolist(), "low": nb.low.tolist(), "kept": nb.kept.tolist(),
                    "gained": nb.gained.tolist(), "lost": nb.lost.tolist(), "preserved": nb.preserved}, None

        self._answer("neighbors", rid, {"index": index, "epoch": epoch}, compute)

    @message("sample_detail", index=Index(), epoch=Epoch(), history=Flag(optional=True, default=False))
    def _on_sample_detail(self, index, epoch, history, rid=None):
        """The sample panel's top predictions of sample ``index`` at ``epoch``; ``history``: also its
        prediction history (a windowed view holds the predictions of its window's epochs only)."""
        def compute():
            out = {"top": [[c, p] for c, p in self.top_predictions(index, TOP_K, epoch)]}
            if history:
                out["history"] = [[h["prediction"], h["confidence"]] for h in self.prediction_history(index)]
            return out, None

        self._answer("sample_detail", rid, {"index": index, "epoch": epoch}, compute)

    @message("similar", index=Index(), epoch=Epoch(), k=Int(1, _k_bound(200), optional=True, default=10),
             metric=Choice(*METRICS, optional=True, default="cosine"))
    def _on_similar(self, index, epoch, k, metric, rid=None):
        """"similar": the ``k`` samples most like ``index`` become the selection and are listed."""
        def compute():
            idx, scores = an.similar(self.dynamics, epoch, index, k=k, metric=metric)
            content = {"k": k, "metric": metric, "indices": idx.tolist(), "scores": scores.tolist()}
            self.send({"type": "similar", "rid": rid, "index": index, "epoch": epoch, "status": "ready", **content})
            self.selection = idx.tolist()  # after the list, so the panel knows this selection is its result
            return None

        self._answer("similar", rid, {"index": index, "epoch": epoch}, compute)

    @message("influence", index=Index(), k=Int(1, _k_bound(100), optional=True, default=10),
             target=Choice("prediction", "label", optional=True, default="prediction"))
    def _on_influence(self, index, k, target, rid=None):
        """"why": the training samples that most helped / opposed ``index``'s prediction (TracIn, last layer)
        become the selection and are listed."""
        def compute():
            inf = an.influence(self.dynamics, index, k=k, target=target)
            pro, opp = inf.proponents, inf.opponents
            self.send({"type": "influence", "rid": rid, "index": index, "status": "ready", "k": k,
                       "target": inf.target, "epochs": list(inf.epochs), "notes": list(inf.notes),
                       "proponents": {"indices": pro[0].tolist(), "scores": pro[1].tolist()},
                       "opponents": {"indices": opp[0].tolist(), "scores": opp[1].tolist()}})
            self.selection = sorted(set(pro[0].tolist()) | set(opp[0].tolist()))
            return None

        self._answer("influence", rid, {"index": index}, compute)

    @message("vis_errors", epoch=Epoch())
    def _on_vis_errors(self, epoch, rid=None):
        """The "vis. errors" mark is on: which samples' round trip changes their prediction at ``epoch``,
        as an N-bit mask (bit i of byte i // 8, least significant first)."""
        def compute():
            idx = self.vis_errors(epoch)
            mask = np.zeros(self.dynamics.n_samples, bool)
            mask[idx] = True
            return {"count": int(len(idx)), "n": int(len(mask))}, [np.packbits(mask, bitorder="little").tobytes()]

        self._answer("vis_errors", rid, {"epoch": epoch}, compute)
