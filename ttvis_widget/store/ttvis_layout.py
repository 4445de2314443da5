"""Reader of our own on-disk layout (format "ttvis-dynamics", version 2; docs/FORMATS.md, "Our layout").

    content_path/
      ttvis.json                          manifest (format, version, n_samples, classes, media, epochs, ...)
      samples/labels.npy                  int64 [N]            (optional)
      samples/split.npy                   uint8 [N], 0 = train, 1 = test
      samples/images.npy                  uint8 [N, H, W] or [N, H, W, 3]   (optional; memory-mapped)
      samples/texts.json                  list of N strings                   (optional)
      epochs/<e>/representation.npy       float32 [N, D]       (memory-mapped)
      epochs/<e>/prediction.npy           float32 [N, C] raw logits          (optional)
      epochs/<e>/head.npz                 plain weights: n_layers, weight_i [out, in], bias_i  (optional)
      epochs/<e>/checkpoint.pth           subject-model state_dict            (optional, never needed to read)

An epoch is listed in the manifest only after all its files are written, so a crash mid-epoch leaves a
readable folder. Version 2 added the manifest's ``metrics`` (training figures given by the user) and
``computed_metrics`` (those the writer computed from the epoch's logits and labels); a version-1 folder reads
the same, its figures computed on demand.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..errors import TrainingDynamicsError
from .dynamics import TrainingDynamics, check_epoch_sequence, check_labels, png_bytes
from .head import MLPHead
from .strays import entries, not_read, parse_int

MANIFEST = "ttvis.json"
#: the files of an epoch folder
EPOCH_FILES = frozenset({"representation.npy", "prediction.npy", "head.npz", "checkpoint.pth"})
FORMAT = "ttvis-dynamics"
VERSION = 2  # 2: training figures per epoch (metrics, computed_metrics); version 1 folders still load


def epoch_dir(root: Path, epoch: int) -> Path:
    return Path(root) / "epochs" / str(int(epoch))


def read_manifest(root: Path) -> dict:
    path = Path(root) / MANIFEST
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as e:
        raise TrainingDynamicsError(path, f"cannot read the manifest ({e.strerror or e})") from e
    except UnicodeDecodeError as e:
        raise TrainingDynamicsError(path, f"manifest is not valid JSON (not UTF-8 text: {e})") from e
    try:
        m = json.loads(text)
    except json.JSONDecodeError as e:
        raise TrainingDynamicsError(path, f"manifest is not valid JSON ({e})") from e
    if not isinstance(m, dict) or m.get("format") != FORMAT:
        raise TrainingDynamicsError(path, f"not a {FORMAT} manifest (format={m.get('format') if isinstance(m, dict) else None!r})")
    version = m.get("version", 0)
    if not _is_int(version):
        raise TrainingDynamicsError(path, f"manifest version must be an integer, got {version!r}")
    if version > VERSION:
        raise TrainingDynamicsError(path, f"manifest version {version} is newer than this ttvis_widget reads ({VERSION}); upgrade ttvis_widget")
    for key in ("n_samples", "epochs"):
        if key not in m:
            raise TrainingDynamicsError(path, f"manifest lacks {key!r}")
    return m


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def check_manifest_fields(m: dict, path: Path) -> None:
    """Types of the fields a reader relies on (a writer may hold a manifest with n_samples None)."""
    if not _is_int(m.get("n_samples")) or m["n_samples"] < 0:
        raise TrainingDynamicsError(path, f"manifest n_samples must be a non-negative integer, got {m.get('n_samples')!r}")
    eps = m.get("epochs")
    if not isinstance(eps, list) or not all(_is_int(e) for e in eps):
        raise TrainingDynamicsError(path, f"manifest epochs must be a list of integers, got {eps!r}")
    cls = m.get("classes")
    if cls is not None and not isinstance(cls, list):
        raise TrainingDynamicsError(path, f"manifest classes must be a list of names, got {cls!r}")
    if m.get("media") not in (None, "image", "text"):
        raise TrainingDynamicsError(path, f"manifest media must be 'image', 'text' or null, got {m.get('media')!r}")
    for key in FIGURE_FIELDS:
        manifest_figures(m, key, path)


#: the manifest's training figures: recorded (given by the user) and computed by the writer (None: no such samples)
FIGURE_FIELDS = ("metrics", "computed_metrics")


def manifest_figures(m: dict, key: str, path: Path) -> dict[int, dict]:
    """``m[key]`` ({"<epoch>": {name: number}}) checked, with integer epochs; {} when absent."""
    from .training_metrics import check_figures

    value = m.get(key, {})
    if not isinstance(value, dict):
        raise TrainingDynamicsError(path, f"manifest {key} must be an object {{epoch: {{name: number}}}}, got {value!r}")
    out = {}
    for e, figures in value.items():
        if parse_int(e) is None:
            raise TrainingDynamicsError(path, f"manifest {key}: {e!r} is not an epoch number")
        out[int(e)] = check_figures(figures, path, TrainingDynamicsError, allow_none=key == "computed_metrics",
                                    field=f"manifest {key}[{e!r}]")
    return out


def _open_npy(path: Path, what: str, required: bool = True):
    if not path.exists():
        if required:
            raise TrainingDynamicsError(path, f"{what} is missing")
        return None
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except Exception as e:  # noqa: BLE001
        raise TrainingDynamicsError(path, f"cannot read {what} as a .npy array ({e})") from e


class TTVisDynamics(TrainingDynamics):
    layout = "ttvis"

    def __init__(self, content_path, allow_gaps: bool = False):
        root = Path(content_path)
        super().__init__(root)
        m = read_manifest(root)
        check_manifest_fields(m, root / MANIFEST)
        self.manifest = m
        self.name = m.get("name") or root.name
        self.n_samples = int(m["n_samples"])
        self.task = m.get("task", "classification")
        self.epochs = check_epoch_sequence(m["epochs"], root / MANIFEST, allow_gaps)
        self.classes = [str(c) for c in m["classes"]] if m.get("classes") else None
        s = root / "samples"
        lab = _open_npy(s / "labels.npy", "labels", required=False)
        self.labels = None if lab is None else check_labels(np.asarray(lab), s / "labels.npy", self.n_samples,
                                                                  len(self.classes) if self.classes else None)
        sp = _open_npy(s / "split.npy", "train/test split", required=False)
        if sp is not None:
            sp = np.asarray(sp)
            if sp.shape != (self.n_samples,) or (len(sp) and int(sp.max()) > 1):
                raise TrainingDynamicsError(s / "split.npy", f"split must be uint8 [N={self.n_samples}] of 0/1, got {sp.shape}")
            self.split = sp.astype(np.uint8)
        self.media = m.get("media")
        self._images = None
        self._texts = None
        if self.media == "image":
            self._images = _open_npy(s / "images.npy", "sample images")
            if self._images.shape[0] != self.n_samples or self._images.dtype != np.uint8 or self._images.ndim not in (3, 4):
                raise TrainingDynamicsError(s / "images.npy", f"images must be uint8 [N={self.n_samples}, H, W(, C)], got {self._images.dtype} {self._images.shape}")
        elif self.media == "text":
            p = s / "texts.json"
            try:
                self._texts = json.loads(p.read_text())
            except (OSError, json.JSONDecodeError) as e:
                raise TrainingDynamicsError(p, f"cannot read sample texts ({e})") from e
            if not isinstance(self._texts, list) or len(self._texts) != self.n_samples:
                raise TrainingDynamicsError(p, f"texts must be a list of {self.n_samples} strings")
        # headers only: shapes and dtypes of every epoch agree
        dim = None
        ncls = len(self.classes) if self.classes else None
        for e in self.epochs:
            d = epoch_dir(root, e)
            if not d.is_dir():
                raise TrainingDynamicsError(d, f"epoch {e} is listed in {MANIFEST} but its folder is missing")
            rep = _open_npy(d / "representation.npy", f"representation of epoch {e}")
            dim = self._check_header(rep, d / "representation.npy", dim, "representation")
            pred = _open_npy(d / "prediction.npy", f"prediction of epoch {e}", required=False)
            if pred is not None:
                ncls = self._check_header(pred, d / "prediction.npy", ncls, "prediction")
        self._dim = dim
        self._n_classes = ncls
        self._find_strays(root)
        self._report_skipped()

    def _find_strays(self, root: Path) -> None:
        """Entries of epochs/ and samples/ that are not read (docs/FORMATS.md, "Nothing silently skipped")."""
        listed = set(self.epochs)
        for entry in entries(root / "epochs"):
            e = parse_int(entry.name)
            if e is None or not entry.is_dir():
                self._skip(entry.path, not_read(entry.name, "epochs/ holds one folder per epoch, named by its "
                                                            "number in decimal (epochs/5/)"))
            elif e not in listed:
                self._skip(entry.path, f"not read: epoch {e} is not listed in {MANIFEST} (a recording stopped "
                                       "before this epoch was complete?)")
            else:
                for f in entries(entry.path):
                    if f.name not in EPOCH_FILES:
                        self._skip(f.path, not_read(f.name, f"an epoch folder holds {', '.join(sorted(EPOCH_FILES))}"))
        used = {"labels.npy", "split.npy", {"image": "images.npy", "text": "texts.json"}.get(self.media)}
        for f in entries(root / "samples"):
            if f.name in ("images.npy", "texts.json") and f.name not in used:
                self._skip(f.path, f"not read: {MANIFEST} says media = {self.media!r}")
            elif f.name not in used:
                self._skip(f.path, not_read(f.name, "samples/ holds labels.npy, split.npy and images.npy or texts.json"))

    def _check_header(self, arr, path, width, what):
        if arr.ndim != 2:
            raise TrainingDynamicsError(path, f"{what} has shape {arr.shape}; expected [N, D]")
        if arr.shape[0] != self.n_samples:
            raise TrainingDynamicsError(path, f"{what} has {arr.shape[0]} rows; the manifest says N = {self.n_samples}")
        if not np.issubdtype(arr.dtype, np.floating):
            raise TrainingDynamicsError(path, f"{what} has dtype {arr.dtype}; expected float32")
        if width is not None and arr.shape[1] != width:
            raise TrainingDynamicsError(path, f"{what} has {arr.shape[1]} columns; other epochs have {width}")
        return int(arr.shape[1])

    def _recorded_figures(self):
        return manifest_figures(self.manifest, "metrics", self.content_path / MANIFEST)

    def _stored_computed_figures(self):
        return manifest_figures(self.manifest, "computed_metrics", self.content_path / MANIFEST)

    def _figure_files(self, e):
        d = epoch_dir(self.content_path, e)
        return [d / "representation.npy", d / "prediction.npy", d / "head.npz"]

    def _load_representation(self, epoch):
        p = epoch_dir(self.content_path, epoch) / "representation.npy"
        return _open_npy(p, f"representation of epoch {epoch}"), p

    def _load_prediction(self, epoch):
        p = epoch_dir(self.content_path, epoch) / "prediction.npy"
        return _open_npy(p, f"prediction of epoch {epoch}", required=False), p

    def _load_head(self, epoch):
        p = epoch_dir(self.content_path, epoch) / "head.npz"
        if not p.exists():
            return None
        head = MLPHead.load(p)
        if self._dim is not None and head.dim != self._dim:
            raise TrainingDynamicsError(p, f"head takes {head.dim}-d input but representations are {self._dim}-d")
        return head

    def checkpoint_path(self, epoch) -> Path | None:
        p = epoch_dir(self.content_path, self._epoch_check(epoch)) / "checkpoint.pth"
        return p if p.exists() else None

    def _load_image(self, i):
        return png_bytes(np.asarray(self._images[i]))

    def sample_array(self, i) -> np.ndarray | None:
        """The raw uint8 image of sample i (H, W[, C]) or None."""
        return None if self._images is None else np.asarray(self._images[self._sample_check(i)])

    def _load_text(self, i):
        return str(self._texts[i])
