"""``SummaryWriter``: record training dynamics from a training loop, in our layout (ttvis_layout.py).

Three ways to use it::

    # 1. the original tool's documented names, plus the model so that representations get recorded
    w = SummaryWriter(save_dir, batch_size, num_worker, model=net)
    w.write_meta_data(train_loader, test_loader)
    w.write_checkpoint(net.state_dict(), curr_epoch, prev_epoch)

    # 2. one call per epoch with the model (feature()/prediction(), or a named head / feature layer)
    w = SummaryWriter(save_dir, classes=names)
    w.write_meta_data(train_loader, test_loader)
    w.write_epoch(epoch, net, head="fc")          # representation = input of net.fc, logits = net(x)

    # 3. plain arrays (any task; predictions and head optional)
    w = SummaryWriter(save_dir)
    w.set_samples(labels=y, split=split, images=imgs)
    w.add_epoch(epoch, representation, prediction=None)

Training figures: each epoch with logits (or a head) and labels gets its train/test accuracy and loss computed
from them; figures the loop knows are recorded with ``metrics={"train_loss": ...}`` on any of the epoch calls,
or later with ``add_scalar("train_loss", value, epoch)`` / ``add_metrics(epoch, {...})`` (TensorBoard's
``add_scalar(tag, scalar_value, global_step)`` order). A recorded figure wins over a computed one.

Inputs given to ``write_meta_data`` are kept in memory in the order the loaders produced them, so every
epoch's representations line up with the recorded labels and images even when a loader shuffles.
"""
from __future__ import annotations

import io
import warnings
from pathlib import Path
from typing import Sequence

import numpy as np

from .atomic import atomic_write_bytes, atomic_write_json, atomic_write_npy
from .dynamics import check_labels, check_matrix
from .head import MLPHead
from .training_metrics import STANDARD, check_figures, figures_from_logits
from .ttvis_layout import FORMAT, MANIFEST, VERSION, epoch_dir, read_manifest

_HEAD_NAMES = ("fc", "classifier", "head", "linear", "out", "output", "fc2", "fc3", "last_layer")


def _to_numpy(x):
    if hasattr(x, "detach"):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def images_from_inputs(x: np.ndarray) -> np.ndarray | None:
    """Turn model inputs [N, C, H, W] (any normalisation) into uint8 sprites [N, H, W(, 3)], or None."""
    if x.ndim == 3:
        x = x[:, None]
    if x.ndim != 4 or x.shape[1] not in (1, 3) or min(x.shape[2:]) < 4:
        return None
    if x.dtype == np.uint8:
        u = x
    else:
        lo, hi = float(np.min(x)), float(np.max(x))
        scale = 255.0 / (hi - lo) if hi > lo else 0.0
        u = np.clip((x.astype(np.float32) - lo) * scale + 0.5, 0, 255).astype(np.uint8)
    return u[:, 0] if u.shape[1] == 1 else np.ascontiguousarray(u.transpose(0, 2, 3, 1))


class SummaryWriter:
    """Write training dynamics into ``save_dir`` (created if needed; an existing ttvis folder is continued)."""

    def __init__(self, save_dir, batch_size: int = 1000, num_worker: int = 0, *, model=None,
                 name: str | None = None, classes: Sequence[str] | None = None, device=None,
                 task: str = "classification"):
        self.save_dir = Path(save_dir)
        self.batch_size = int(batch_size)
        self.num_worker = int(num_worker)
        self.model = model
        self.device = device
        self._inputs = None  # torch tensor [N, ...] kept for computing representations
        self._train_x = self._train_y = None
        self._samples = None  # (labels, split) for computing training figures, read when first needed
        if (self.save_dir / MANIFEST).exists():
            self.manifest = read_manifest(self.save_dir)
            self.manifest["version"] = VERSION  # written at the next update: an older folder gains the new fields
            if classes is not None:
                self.manifest["classes"] = [str(c) for c in classes]
        else:
            if self.save_dir.exists() and any(self.save_dir.iterdir()):
                from ..errors import TrainingDynamicsError
                raise TrainingDynamicsError(self.save_dir, "folder exists, is not empty and is not a ttvis folder; "
                                            "choose an empty or new folder so that nothing of yours is overwritten")
            self.manifest = {
                "format": FORMAT, "version": VERSION, "name": name or self.save_dir.name, "task": task,
                "n_samples": None, "classes": [str(c) for c in classes] if classes is not None else None,
                "media": None, "dim": None, "n_classes": None, "epochs": [], "parents": {},
                "created_by": _created_by(),
            }
        if name:
            self.manifest["name"] = name

    # ------------------------------------------------------------------ samples
    @property
    def n_samples(self) -> int | None:
        return self.manifest.get("n_samples")

    def set_samples(self, labels=None, split=None, images=None, texts=None, classes=None, n_samples=None):
        """Record per-sample data: labels [N], split [N] (0 train / 1 test), images uint8 [N, H, W(, 3)] or texts."""
        n = n_samples
        for a in (labels, split, images, texts):
            if a is not None:
                n = len(a)
                break
        if n is None:
            raise ValueError("set_samples needs at least one of labels, split, images, texts or n_samples")
        self._set_n(int(n))
        s = self.save_dir / "samples"
        if labels is not None:
            atomic_write_npy(s / "labels.npy", check_labels(_to_numpy(labels), "labels", n))
        sp = np.zeros(n, np.uint8) if split is None else np.asarray(_to_numpy(split)).astype(np.uint8)
        if sp.shape != (n,) or (n and sp.max() > 1):
            raise ValueError("split must be [N] of 0 (train) / 1 (test)")
        atomic_write_npy(s / "split.npy", sp)
        if images is not None:
            im = _to_numpy(images)
            if im.dtype != np.uint8:
                raise ValueError(f"images must be uint8 [N, H, W(, 3)], got {im.dtype}")
            if len(im) != n or im.ndim not in (3, 4):
                raise ValueError(f"images must be [N={n}, H, W(, 3)], got {im.shape}")
            atomic_write_npy(s / "images.npy", np.ascontiguousarray(im))
            self.manifest["media"] = "image"
        elif texts is not None:
            if len(texts) != n:
                raise ValueError(f"need {n} texts, got {len(texts)}")
            atomic_write_json(s / "texts.json", [str(t) for t in texts])
            self.manifest["media"] = "text"
        if classes is not None:
            self.manifest["classes"] = [str(c) for c in classes]
        self._samples = None
        if labels is not None or split is not None:
            self.manifest.pop("computed_metrics", None)  # computed with other labels: the reader computes them again
        self._write_manifest()

    def _set_n(self, n: int):
        if self.manifest.get("n_samples") not in (None, n):
            raise ValueError(f"{self.save_dir}: already holds {self.manifest['n_samples']} samples, got {n}")
        self.manifest["n_samples"] = n

    def write_meta_data(self, train_loader, test_loader=None, images=None, classes=None):
        """Record the data set: labels, train/test split and sample images from the loaders (the original tool's
        documented call).

        Train samples come first, then test. The inputs are kept in memory so that later epochs'
        representations are computed on exactly these samples in this order.
        """
        import torch

        xs, ys, split = [], [], []
        for part, loader in ((0, train_loader), (1, test_loader)):
            if loader is None:
                continue
            for batch in loader:
                x, y = batch[0], batch[1]
                # kept on the host (a loader may yield GPU tensors): _run_model moves each batch to the model
                xs.append(torch.as_tensor(x).detach().cpu())
                ys.append(torch.as_tensor(y).detach().cpu().reshape(-1))
                split.append(np.full(len(x), part, np.uint8))
        if not xs:
            raise ValueError("write_meta_data: the loaders yielded no samples")
        self._inputs = torch.cat(xs)
        labels = torch.cat(ys).numpy()
        if images is None:
            images = images_from_inputs(self._inputs.numpy())
        self.set_samples(labels=labels, split=np.concatenate(split), images=images, classes=classes)

    # the names the original tool's writer implemented (its documented ones are write_meta_data/write_checkpoint)
    def add_training_data(self, dataloader):
        self._train_loader = dataloader

    def add_testing_data(self, dataloader):
        self.write_meta_data(getattr(self, "_train_loader", None) or dataloader,
                             dataloader if getattr(self, "_train_loader", None) is not None else None)

    # ------------------------------------------------------------------ epochs
    def add_epoch(self, epoch: int, representation, prediction=None, head=None, state_dict=None,
                  prev_epoch: int | None = None, metrics: dict | None = None) -> dict:
        """Record one epoch from arrays. ``head``: an MLPHead, an nn.Linear / nn.Sequential, or None.
        ``metrics``: training figures the loop knows ({"train_loss": 0.31, ...}), recorded as given.
        Returns the epoch's training figures (recorded ones win over those computed from logits and labels)."""
        e = int(epoch)
        user = check_figures(metrics or {}, f"metrics of epoch {e}")
        rep = check_matrix(_to_numpy(representation), f"representation of epoch {e}", "representation",
                           n_rows=self.n_samples, n_cols=self.manifest.get("dim"))
        if self.n_samples is None:
            self.set_samples(n_samples=len(rep))
        pred = None
        if prediction is not None:
            pred = check_matrix(_to_numpy(prediction), f"prediction of epoch {e}", "prediction",
                                n_rows=self.n_samples, n_cols=self.manifest.get("n_classes"))
            classes = self.manifest.get("classes")
            if classes and pred.shape[1] != len(classes):
                raise ValueError(f"prediction of epoch {e} has {pred.shape[1]} columns but {len(classes)} classes are named")
        if head is not None and not isinstance(head, MLPHead):
            h2 = MLPHead.from_torch(head)
            if h2 is None:
                warnings.warn(f"head {type(head).__name__} is not Linear/ReLU layers; it is not recorded", stacklevel=2)
            head = h2
        d = epoch_dir(self.save_dir, e)
        atomic_write_npy(d / "representation.npy", rep)
        if pred is not None:
            atomic_write_npy(d / "prediction.npy", pred)
            self.manifest["n_classes"] = int(pred.shape[1])
        if head is not None:
            head.save(d / "head.npz")
        if state_dict is not None:
            import torch

            buf = io.BytesIO()
            torch.save({k: v.detach().cpu() if hasattr(v, "detach") else v for k, v in state_dict.items()}, buf)
            atomic_write_bytes(d / "checkpoint.pth", buf.getvalue())
        self.manifest["dim"] = int(rep.shape[1])
        logits = pred if pred is not None else (head(rep) if head is not None else None)
        computed = self._figures(logits, e)
        if computed is not None:
            self.manifest.setdefault("computed_metrics", {})[str(e)] = computed
        if user:
            self.manifest.setdefault("metrics", {}).setdefault(str(e), {}).update(user)
        eps = set(self.manifest["epochs"]) | {e}
        self.manifest["epochs"] = sorted(eps)
        if prev_epoch is not None:
            self.manifest.setdefault("parents", {})[str(e)] = int(prev_epoch)
        self._write_manifest()  # lists the epoch and its figures at once
        return {**(computed or dict.fromkeys(STANDARD)), **self.manifest.get("metrics", {}).get(str(e), {})}

    def add_metrics(self, epoch: int, metrics: dict) -> None:
        """Record training figures of ``epoch`` ({"train_loss": 0.31, "lr": 0.1}); an epoch already written
        keeps its files, only the manifest is rewritten. Figures of an epoch not recorded (yet) are kept and
        appear with it."""
        e = int(epoch)
        user = check_figures(metrics, f"metrics of epoch {e}")
        self.manifest.setdefault("metrics", {}).setdefault(str(e), {}).update(user)
        self._write_manifest()

    def add_scalar(self, tag: str, scalar_value, global_step: int) -> None:
        """TensorBoard's call: record figure ``tag`` = ``scalar_value`` for epoch ``global_step``."""
        if global_step is None:
            raise ValueError("add_scalar needs global_step: the epoch the figure belongs to")
        self.add_metrics(global_step, {tag: scalar_value})

    def _figures(self, logits, e: int) -> dict | None:
        """Accuracy and loss of ``logits`` against the recorded labels, or None when either is missing."""
        if logits is None:
            return None
        if self._samples is None:
            s = self.save_dir / "samples"
            if not (s / "labels.npy").exists():
                return None
            self._samples = (np.load(s / "labels.npy"), np.load(s / "split.npy"))
        labels, split = self._samples
        return figures_from_logits(logits, labels, split, f"prediction of epoch {e}")

    def write_epoch(self, epoch: int, model, feature=None, head=None, save_checkpoint: bool = False,
                    prev_epoch: int | None = None, metrics: dict | None = None) -> dict:
        """Run ``model`` over the samples from ``write_meta_data`` and record representations, logits and head.

        ``head``: the classifier module or its attribute name; the representation is that module's input
        and the logits are ``model(x)``. ``feature``: a layer (or name) whose flattened output is the
        representation. Neither: ``model.feature(x)`` and ``model.prediction(h)``. ``metrics``: figures the loop
        knows ({"train_loss": ...}), recorded as given.
        Returns {"epoch", "train_accuracy", "test_accuracy", "train_loss", "test_loss", any recorded figure,
        "accuracy" (= train_accuracy)}; the computed ones are None without labels (or test samples).
        """
        reps, logits, head_mod = self._run_model(model, feature, head)
        mlp = MLPHead.from_torch(head_mod) if head_mod is not None else None
        if mlp is not None:
            k = min(len(reps), 512)
            if not np.allclose(mlp(reps[:k]), logits[:k], rtol=1e-3, atol=1e-3 * max(1.0, float(np.abs(logits[:k]).max()))):
                mlp = None
        if mlp is None:
            warnings.warn("the classifier head is not plain Linear/ReLU layers applied to the representation; "
                          "territories and PPR will need a head (pass head=<module>)", stacklevel=2)
        figures = self.add_epoch(epoch, reps, logits, head=mlp, prev_epoch=prev_epoch, metrics=metrics,
                                 state_dict=model.state_dict() if save_checkpoint else None)
        return {"epoch": int(epoch), **figures, "accuracy": figures.get("train_accuracy")}

    def write_checkpoint(self, state_dict, curr_epoch: int, prev_epoch: int | None = None):
        """The original tool's call. Saves the checkpoint; with a model attached (``SummaryWriter(..., model=net)``),
        also records that model's representations, logits and head for this epoch."""
        import torch

        # the checkpoint lands before write_epoch lists the epoch in the manifest
        buf = io.BytesIO()
        torch.save({k: v.detach().cpu() if hasattr(v, "detach") else v for k, v in state_dict.items()}, buf)
        atomic_write_bytes(epoch_dir(self.save_dir, curr_epoch) / "checkpoint.pth", buf.getvalue())
        if self.model is not None:
            self.write_epoch(curr_epoch, self.model, prev_epoch=prev_epoch)
        if self.model is None and int(curr_epoch) not in self.manifest["epochs"]:
            warnings.warn("write_checkpoint without a model records only the checkpoint; pass model= to "
                          "SummaryWriter (or call write_epoch) so that representations are recorded", stacklevel=2)

    def add_checkpoint_data(self, state_dict, idxs, id, prev_id):  # noqa: A002 - the original tool's signature
        self.write_checkpoint(state_dict, id, prev_id if prev_id and prev_id >= 1 else None)

    def _run_model(self, model, feature, head):
        import torch

        if self._inputs is None:
            raise RuntimeError("call write_meta_data(train_loader, test_loader) first: the writer needs the samples")
        was_training = model.training
        model.train(False)
        dev = self.device or next((p.device for p in model.parameters()), torch.device("cpu"))
        head_mod = getattr(model, head) if isinstance(head, str) else head
        feat_mod = getattr(model, feature) if isinstance(feature, str) else feature
        captured = []
        hook = None
        if head_mod is not None:
            hook = head_mod.register_forward_pre_hook(lambda m, inp: captured.append(inp[0].detach().flatten(1).float().cpu()))
        elif feat_mod is not None:
            hook = feat_mod.register_forward_hook(lambda m, inp, out: captured.append(out.detach().flatten(1).float().cpu()))
        elif not (hasattr(model, "feature") and hasattr(model, "prediction")):
            raise ValueError("the model needs feature()/prediction() methods, or pass head=<classifier module or name> "
                             "or feature=<layer or name>")
        reps, logits = [], []
        try:
            with torch.no_grad():
                for s in range(0, len(self._inputs), self.batch_size):
                    x = self._inputs[s:s + self.batch_size].to(dev)
                    if hook is not None:
                        out = model(x)
                        reps.append(captured.pop())
                    else:
                        h = model.feature(x)
                        out = model.prediction(h)
                        reps.append(h.detach().flatten(1).float().cpu())
                    logits.append(out.detach().float().cpu())
        finally:
            if hook is not None:
                hook.remove()
            model.train(was_training)
        if head_mod is None and feat_mod is None:
            for nm in _HEAD_NAMES:
                m = getattr(model, nm, None)
                if isinstance(m, torch.nn.Module) and MLPHead.from_torch(m) is not None:
                    head_mod = m
                    break
        return torch.cat(reps).numpy(), torch.cat(logits).numpy(), head_mod

    def _write_manifest(self):
        self.save_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_json(self.save_dir / MANIFEST, self.manifest)

    def close(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _created_by() -> str:
    from .. import __version__

    return f"ttvis_widget {__version__}"
