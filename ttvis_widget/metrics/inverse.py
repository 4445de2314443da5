"""Inverse-projection metrics (methods with an inverse): PPR, visualization error, reconstruction distance,
confidence difference. Inputs: representations h, reconstructions ĥ = dec(enc(h)), and the classifier head
(a callable representation -> logits, e.g. ``TrainingDynamics.head(e)``)."""
from __future__ import annotations

import numpy as np


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(1, keepdims=True)
    ez = np.exp(z)
    return ez / ez.sum(1, keepdims=True)


def ppr(reps: np.ndarray, recon: np.ndarray, head) -> float:
    """Prediction preserving rate: fraction with argmax g(ĥ_i) == argmax g(h_i) (agreement with the model)."""
    return inverse_metrics(reps, recon, head)["ppr"]


def reconstruction_distance(reps: np.ndarray, recon: np.ndarray) -> float:
    """Mean L2 distance ‖h_i − ĥ_i‖."""
    reps = np.asarray(reps, np.float32)
    recon = np.asarray(recon, np.float32)
    return float(np.linalg.norm(reps - recon, axis=1).mean()) if len(reps) else float("nan")


def confidence_difference(reps: np.ndarray, recon: np.ndarray, head) -> float:
    """DVI's mean |softmax(g(h_i))_ŷ − softmax(g(ĥ_i))_ŷ| with ŷ = argmax g(h_i)."""
    return inverse_metrics(reps, recon, head)["conf_diff"]


def inverse_metrics(reps: np.ndarray, recon: np.ndarray, head, logits: np.ndarray | None = None) -> dict:
    """All inverse metrics at once: ppr, vis_error (mismatch count), recon_dist, conf_diff.

    ``logits``: g(reps) when already known (saves one head pass)."""
    reps = np.asarray(reps, np.float32)
    recon = np.asarray(recon, np.float32)
    if reps.shape != recon.shape:
        raise ValueError(f"representations {reps.shape} and reconstructions {recon.shape} differ in shape")
    if len(reps) == 0:
        nan = float("nan")
        return {"ppr": nan, "vis_error": 0, "recon_dist": nan, "conf_diff": nan}
    z = np.asarray(head(reps) if logits is None else logits, np.float64)
    zr = np.asarray(head(recon), np.float64)
    y = z.argmax(1)
    same = zr.argmax(1) == y
    rows = np.arange(len(y))
    conf = np.abs(_softmax(z)[rows, y] - _softmax(zr)[rows, y])
    return {"ppr": float(same.mean()), "vis_error": int((~same).sum()),
            "recon_dist": reconstruction_distance(reps, recon), "conf_diff": float(conf.mean())}
