"""Which training samples pushed a sample's prediction, and which held it back: TracIn restricted to the last
linear layer of the classifier.

For a last layer logits = W h + b and the cross-entropy loss, the gradient with respect to (W, b) of a
sample z at epoch e is (p_e(z) - y_z) outer [h_e(z), 1], so the TracIn score of a training sample z' is

    score(z, z') = sum_e lr_e * (p_e(z) - y_z) . (p_e(z') - y_z') * (h_e(z) . h_e(z') + 1)

which needs only what we record: logits (hence p_e) and h_e, the input of the last linear layer. h_e is the
recorded representation when the head is one linear layer (our layout records the head's input), the
hidden activation computed from the weights for an MLP head, and the representation, assumed to be the last
layer's input, for a head given as code or no head at all (the result says which). Per epoch the cost is
one pass over the representations (a matrix-vector product, on the host: it is memory-bound).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..store.head import MLPHead
from .events import softmax
from .validate import AnalysisError, check_epoch, check_index, check_k

#: default number of epochs: at most this many, evenly spaced over the recorded ones, the last included
DEFAULT_EPOCHS = 10
#: rows per block when computing an MLP head's hidden activations
_BLOCK = 8192


@dataclass(frozen=True)
class Influence:
    """TracIn influence of the training samples on sample ``index`` (see the module docstring).

    ``proponents``: (indices, scores) of the up to k training samples with the largest positive scores
    (their training steps lowered this sample's loss), largest first; ``opponents``: the up to k most
    negative, most negative first. ``epochs`` and ``learning_rates``: the checkpoints summed over;
    ``target``: the class whose loss is explained; ``self_influence``: the sample's score with itself;
    ``notes``: what was assumed (default epochs, what h_e is).
    """

    index: int
    target: int
    epochs: tuple
    learning_rates: tuple
    proponents: tuple
    opponents: tuple
    self_influence: float
    hidden: str
    notes: tuple


def default_epochs(epochs, n: int = DEFAULT_EPOCHS) -> list[int]:
    """At most ``n`` evenly spaced epochs of ``epochs`` (first and last included)."""
    eps = [int(e) for e in epochs]
    pos = np.unique(np.round(np.linspace(0, len(eps) - 1, min(n, len(eps)))).astype(int))
    return [eps[p] for p in pos]


def _epochs(dynamics, epochs) -> tuple[list[int], list[str]]:
    if epochs is None:
        chosen = default_epochs(dynamics.epochs)
        note = (f"default epochs: {len(chosen)} evenly spaced of the {len(dynamics.epochs)} recorded "
                f"({chosen[0]}..{chosen[-1]})")
        return chosen, [note]
    if isinstance(epochs, (int, np.integer)):
        epochs = [epochs]
    chosen = sorted({check_epoch(dynamics, e) for e in epochs})
    if not chosen:
        raise ValueError("epochs must name at least one recorded epoch")
    return chosen, []


def _learning_rates(learning_rates, epochs: list[int]) -> np.ndarray:
    if learning_rates is None:
        return np.ones(len(epochs))
    if isinstance(learning_rates, dict):
        missing = [e for e in epochs if e not in {int(k) for k in learning_rates}]
        if missing:
            raise ValueError(f"learning_rates has no rate for epoch(s) {missing}")
        lr = np.array([float({int(k): v for k, v in learning_rates.items()}[e]) for e in epochs])
    elif np.ndim(learning_rates) == 0:
        lr = np.full(len(epochs), float(learning_rates))
    else:
        lr = np.asarray(learning_rates, np.float64)
        if lr.shape != (len(epochs),):
            raise ValueError(f"learning_rates has {lr.size} values for {len(epochs)} epochs {epochs}")
    if not np.all(np.isfinite(lr)) or np.any(lr < 0):
        raise ValueError(f"learning rates must be finite and >= 0, got {lr.tolist()}")
    return lr


def _hidden(dynamics, e: int) -> tuple[np.ndarray, str]:
    """h_e for every sample [N, D'] (a memory map where possible) and what it is."""
    head = dynamics.head(e)
    reps = dynamics.representation(e)
    if isinstance(head, MLPHead) and not head.is_linear:
        out = np.empty((len(reps), head.weights[-1].shape[1]), np.float32)
        for s in range(0, len(reps), _BLOCK):
            x = np.asarray(reps[s:s + _BLOCK], np.float32)
            for w, b in zip(head.weights[:-1], head.biases[:-1]):
                x = np.maximum(x @ w.T + b, 0)
            out[s:s + len(x)] = x
        return out, f"hidden activation of the {len(head.weights)}-layer MLP head"
    if isinstance(head, MLPHead):
        return reps, "representation (input of the linear head)"
    what = "a head given as code" if head is not None else "no recorded head"
    return reps, f"representation, assumed to be the input of the last linear layer ({what})"


def _target(dynamics, i: int, target, last_epoch: int, n_classes: int) -> int:
    if target == "label":
        if dynamics.labels is None:
            raise AnalysisError("influence needs labels (the loss of each training sample); these dynamics "
                                "have none")
        return int(dynamics.labels[i])
    if target == "prediction":
        return int(dynamics.prediction(last_epoch)[i].argmax())
    if isinstance(target, (int, np.integer)) and not isinstance(target, bool) and 0 <= int(target) < n_classes:
        return int(target)
    raise ValueError(f"target must be 'label', 'prediction' or a class in [0, {n_classes}), got {target!r}")


def influence(dynamics, index, k: int = 10, epochs=None, *, learning_rates=None, target="label") -> Influence:
    """TracIn (last linear layer) influence of every training sample on sample ``index``.

    ``epochs``: the checkpoints to sum over (default: at most 10 evenly spaced recorded epochs, said in
    ``notes``); ``learning_rates``: one per epoch (a number, a sequence or {epoch: lr}; default equal);
    ``target``: the class whose loss is explained, ``"label"`` (default), ``"prediction"`` (the class
    predicted at the last epoch: "why is it predicted so") or a class index. The sample itself, when it is a
    training sample, is left out of the lists (its score is ``self_influence``).
    """
    i = check_index(dynamics, index)
    eps, notes = _epochs(dynamics, epochs)
    lr = _learning_rates(learning_rates, eps)
    labels = dynamics.labels
    if labels is None:
        raise AnalysisError("influence needs labels (the loss of each training sample); these dynamics have none")
    train = dynamics.train_index
    train = train[train != i]
    if len(train) == 0:
        raise AnalysisError(f"{dynamics.name!r} has no training samples other than {i} (split marks all as test)")
    k = check_k(k, len(train))
    logits = {}
    for e in eps:
        logits[e] = dynamics.prediction(e)
        if logits[e] is None:
            raise AnalysisError(f"influence needs predictions: epoch {e} has no recorded logits and no head")
    n_classes = logits[eps[-1]].shape[1]
    if int(labels.max()) >= n_classes:
        raise AnalysisError(f"label {int(labels.max())} is out of range for predictions with {n_classes} classes")
    tgt = _target(dynamics, i, target, eps[-1], n_classes)
    y_train = labels[train]
    score = np.zeros(len(train), np.float64)
    self_score = 0.0
    kinds = []
    for e, rate in zip(eps, lr):
        p = softmax(logits[e])
        g_train = p[train]
        g_train[np.arange(len(train)), y_train] -= 1.0
        g_z = p[i].astype(np.float64)
        g_z[tgt] -= 1.0
        h, what = _hidden(dynamics, e)
        kinds.append(what)
        h_z = np.asarray(h[i], np.float32)
        dots = np.asarray(h @ h_z, np.float64)[train] + 1.0  # all rows (no gather of the matrix), then train
        score += rate * (g_train.astype(np.float64) @ g_z) * dots
        self_score += rate * float(g_z @ g_z) * (float(h_z.astype(np.float64) @ h_z) + 1.0)
    kinds = list(dict.fromkeys(kinds))
    if len(kinds) > 1:
        notes.append("h_e differs between epochs: " + "; ".join(kinds))
    order = np.argsort(-score, kind="stable")
    pos = order[:k][score[order[:k]] > 0]
    neg = order[::-1][:k]
    neg = neg[score[neg] < 0]
    return Influence(i, tgt, tuple(eps), tuple(float(x) for x in lr),
                     (train[pos], score[pos].astype(np.float32)), (train[neg], score[neg].astype(np.float32)),
                     float(self_score), kinds[-1], tuple(notes))
