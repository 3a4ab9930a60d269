"""The in-memory dataset and its on-disk ``.npz`` format.

Format (all keys but ``x`` and ``y`` optional):

====================  ==============  ==================================================
key                   shape           meaning
====================  ==============  ==================================================
``x``                 (N, ...)        images (N, H, W) / (N, H, W, C) channels-last, uint8
                                      0-255 (or another integer dtype holding 0-255, read
                                      as uint8) or float 0-1; or feature vectors (N, D)
``y``                 (N,) int        training labels (possibly poisoned)
``is_poison``         (N,) bool       ground truth: the sample carries a trigger
``source``            (N,) int        original (true) label of each sample
``x_test``/``y_test``  (M, ...)/(M,)   clean test set
``x_test_poison``     (P, ...)        triggered test images from the attacked source classes
``y_test_poison``     (P,) int        the attacker's target label for each of them
``source_test_poison`` (P,) int       their true label
``vocab``             (V,) str        text only: token of each id (0 = ``<pad>``, 1 = ``<unk>``);
                                      ``x``, ``x_test``, ``x_test_poison`` then hold (N, L)
                                      integer token ids in [0, V)
``raw_text``          (N,) str        original sentence of each training sample (text only)
``files``             (N,) str        file each training sample was read from (image folders, GTSRB)
``class_names``       (K,) str        name of each class label 0..K-1
====================  ==============  ==================================================

An ``.npz`` file may also hold its labels as class names (unicode strings, e.g. ``"cat"``) in
every label array: :func:`load_npz` numbers them in the order of ``class_names`` when the file
has it, else alphabetically, and sets ``class_names``.
"""

from __future__ import annotations

import dataclasses
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .._io import save_npz
from ..errors import InputError
from .memory import check_fits, npz_nbytes

__all__ = ["MAX_CLASSES", "Dataset", "load_npz", "save_dataset", "check_labels",
           "check_features"]

#: Class ids must be below this: models get one output per id from 0 to the largest.
MAX_CLASSES = 1_000_000

_LABEL_KEYS = ("y", "source", "y_test", "y_test_poison", "source_test_poison")
_OPTIONAL = ("is_poison", "source", "x_test", "y_test", "x_test_poison", "y_test_poison",
             "source_test_poison", "vocab", "raw_text", "files", "class_names")
_PER_SAMPLE = ("is_poison", "source", "raw_text", "files")  # besides x and y
_SPECIAL_TOKENS = ("<pad>", "<unk>")


@dataclass(frozen=True, eq=False)
class Dataset:
    """Training data with optional ground truth and test sets (see the module docstring)."""

    x: np.ndarray
    y: np.ndarray
    is_poison: np.ndarray | None = None
    source: np.ndarray | None = None
    x_test: np.ndarray | None = None
    y_test: np.ndarray | None = None
    x_test_poison: np.ndarray | None = None
    y_test_poison: np.ndarray | None = None
    source_test_poison: np.ndarray | None = None
    vocab: np.ndarray | None = None
    raw_text: np.ndarray | None = None
    files: np.ndarray | None = None
    class_names: np.ndarray | None = None
    name: str = "dataset"

    def __post_init__(self) -> None:
        n = len(self.y)
        object.__setattr__(self, "x", check_features("x", self.x))
        object.__setattr__(self, "y", check_labels("y", self.y, n=len(self.x), n_name="x"))
        if self.is_poison is not None:
            ip = np.asarray(self.is_poison)
            if ip.shape != (n,) or ip.dtype.kind not in "bui":
                raise InputError(f"is_poison must be a boolean array of shape ({n},); "
                                 f"got {ip.dtype} {ip.shape}.")
            object.__setattr__(self, "is_poison", ip.astype(bool))
        if self.source is not None:
            object.__setattr__(self, "source", check_labels("source", self.source, n=n, n_name="y"))
        for xk, yk in (("x_test", "y_test"), ("x_test_poison", "y_test_poison")):
            xv, yv = getattr(self, xk), getattr(self, yk)
            if (xv is None) != (yv is None):
                raise InputError(f"{xk} and {yk} must be given together; got only "
                                 f"{xk if yv is None else yk}.")
            if xv is not None:
                xv = check_features(xk, xv)
                object.__setattr__(self, xk, xv)
                if xv.shape[1:] != self.x.shape[1:]:
                    raise InputError(f"{xk} must have the sample shape of x {self.x.shape[1:]}; "
                                     f"got {xv.shape[1:]}.")
                object.__setattr__(self, yk, check_labels(yk, yv, n=len(xv), n_name=xk))
        if self.source_test_poison is not None:
            object.__setattr__(self, "source_test_poison", check_labels(
                "source_test_poison", self.source_test_poison,
                n=len(self.y_test_poison) if self.y_test_poison is not None else -1,
                n_name="y_test_poison"))
        if self.vocab is not None:
            object.__setattr__(self, "vocab", _check_vocab(self.vocab))
            for key in ("x", "x_test", "x_test_poison"):
                if getattr(self, key) is not None:
                    _check_token_ids(key, getattr(self, key), len(self.vocab))
                    if getattr(self, key).dtype.kind == "u":  # unsigned ids: int64 for torch
                        object.__setattr__(self, key, getattr(self, key).astype(np.int64))
        if self.raw_text is not None:
            object.__setattr__(self, "raw_text", _check_strings(
                "raw_text", self.raw_text, n, "one sentence per training sample"))
        if self.files is not None:
            object.__setattr__(self, "files", _check_strings("files", self.files, n,
                                                             "one file name per training sample"))
        if self.class_names is not None:
            names = _check_strings("class_names", self.class_names, len(self.class_names),
                                   "one name per class")
            if len(names) < self.n_classes:
                raise InputError(f"class_names has {len(names)} names but the labels go up to "
                                 f"{self.n_classes - 1}; expected one name per class.")
            object.__setattr__(self, "class_names", names)

    @property
    def n_classes(self) -> int:
        """Number of classes: one more than the largest label seen anywhere."""
        labels = [self.y] + [a for a in (self.source, self.y_test) if a is not None]
        return int(max(int(a.max()) for a in labels if len(a)) + 1)

    @property
    def is_image(self) -> bool:
        """True for (N, H, W) or (N, H, W, C) arrays, False for flat feature vectors."""
        return self.x.ndim in (3, 4)

    @property
    def is_text(self) -> bool:
        """True when the samples are token-id sequences (the dataset has a ``vocab``)."""
        return self.vocab is not None

    def replace(self, **changes: object) -> "Dataset":
        """Return a copy with some fields replaced (validated again)."""
        return dataclasses.replace(self, **changes)

    def take(self, indices: np.ndarray, *, y: np.ndarray | None = None) -> "Dataset":
        """The training samples at ``indices`` ((M,) int, or an (N,) bool mask), with every
        per-sample field (``is_poison``, ``source``, ``raw_text``, ``files``) taken alike and
        the rest (test sets, ``vocab``, ``class_names``) kept. ``y`` ((N,) int) replaces the
        labels before taking."""
        idx = np.asarray(indices)
        labels = self.y if y is None else np.asarray(y)
        fields: dict[str, object] = {"x": self.x[idx], "y": labels[idx]}
        for key in _PER_SAMPLE:
            if getattr(self, key) is not None:
                fields[key] = getattr(self, key)[idx]
        return self.replace(**fields)

    def arrays(self) -> dict[str, np.ndarray]:
        """The non-empty fields as a ``{key: array}`` mapping, in the ``.npz`` layout."""
        out = {"x": self.x, "y": self.y}
        out.update({k: getattr(self, k) for k in _OPTIONAL if getattr(self, k) is not None})
        return out


def check_labels(name: str, y: object, *, n: int, n_name: str = "x") -> np.ndarray:
    """Validate a label vector: shape ``(n,)``, integral, non-negative. Returns it as int64."""
    y = np.asarray(y)
    if y.ndim != 1:
        raise InputError(f"{name} must be a 1-D array of labels; got shape {y.shape}.")
    if n >= 0 and len(y) != n:
        raise InputError(f"{n_name} and {name} must have the same length; got {n} and {len(y)}.")
    if y.dtype.kind == "f":
        if not np.all(np.isfinite(y)) or np.any(y != np.round(y)):
            raise InputError(f"{name} must hold integer class labels; got non-integer values "
                             f"of dtype {y.dtype}.")
    elif y.dtype.kind not in "iu":
        hint = (" (class names: number them 0..K-1 and give the names as class_names)"
                if y.dtype.kind in "US" else "")
        raise InputError(f"{name} must hold integer class labels; got dtype {y.dtype}{hint}.")
    y = y.astype(np.int64)
    if len(y) and y.min() < 0:
        raise InputError(f"{name} labels must be >= 0; got {int(y.min())}.")
    if len(y) and y.max() >= MAX_CLASSES:  # the model has one output per class id up to max
        raise InputError(f"{name} labels must be class ids below {MAX_CLASSES:,}; got "
                         f"{int(y.max()):,}. Number the classes 0..K-1.")
    return y


def check_features(name: str, x: object) -> np.ndarray:
    """Validate a sample array: (N, D), (N, H, W) or (N, H, W, C); finite; images in range.

    Returns it, with integer images of another dtype than uint8 (int64, uint16...) holding
    values 0-255 as uint8."""
    if not isinstance(x, np.ndarray):
        raise InputError(f"{name} must be a numpy array; got {type(x).__name__}.")
    if x.ndim not in (2, 3, 4):
        raise InputError(f"{name} must have shape (N, D), (N, H, W) or (N, H, W, C); "
                         f"got {x.shape}.")
    if x.ndim == 4 and x.shape[-1] not in (1, 3, 4):
        raise InputError(f"{name} images must be channels-last with 1, 3 or 4 channels; "
                         f"got shape {x.shape}.")
    if x.dtype.kind == "f":
        finite = np.isfinite(x)
        if not finite.all():
            bad = int(np.argwhere(~finite.reshape(len(x), -1).all(axis=1))[0, 0])
            raise InputError(f"{name} contains NaN or inf values (first at sample {bad}).")
        if x.ndim > 2 and x.size and (x.min() < 0 or x.max() > 1):
            raise InputError(f"{name} float images must be in [0, 1]; got values in "
                             f"[{float(x.min()):.3g}, {float(x.max()):.3g}].")
    elif x.dtype.kind not in "uif":
        raise InputError(f"{name} must be numeric; got dtype {x.dtype}.")
    elif x.ndim > 2 and x.dtype != np.uint8:  # e.g. int64 from np.array(a list of lists)
        low, high = (int(x.min()), int(x.max())) if x.size else (0, 0)
        if low < 0 or high > 255:
            raise InputError(f"{name} integer images must hold values 0-255; got {x.dtype} "
                             f"values in [{low}, {high}].")
        return x.astype(np.uint8)
    return x


def _check_strings(name: str, values: object, n: int, meaning: str) -> np.ndarray:
    arr = np.asarray(values)
    if arr.shape != (n,) or arr.dtype.kind != "U":
        raise InputError(f"{name} must be a unicode string array of shape ({n},) ({meaning}); "
                         f"got {arr.dtype} {arr.shape}.")
    return arr


def _check_vocab(vocab: object) -> np.ndarray:
    """Validate a vocabulary: (V,) unicode strings, V >= 2, starting ``<pad>``, ``<unk>``."""
    v = np.asarray(vocab)
    if v.ndim != 1 or v.dtype.kind != "U":
        raise InputError(f"vocab must be a 1-D unicode string array (token of each id); got "
                         f"{v.dtype} {v.shape}.")
    if len(v) < 2 or tuple(v[:2]) != _SPECIAL_TOKENS:
        raise InputError(f"vocab must start with {list(_SPECIAL_TOKENS)} (ids 0 and 1); got "
                         f"{v[:2].tolist()}.")
    return v


def _check_token_ids(name: str, x: np.ndarray, vocab_size: int) -> None:
    """Validate (N, L) integer token ids in [0, vocab_size)."""
    if x.ndim != 2 or x.dtype.kind not in "iu":
        raise InputError(f"{name} of a text dataset (one with a vocab) must be (N, L) integer "
                         f"token ids; got {x.dtype} {x.shape}.")
    if x.size and (int(x.min()) < 0 or int(x.max()) >= vocab_size):
        raise InputError(f"{name} token ids must be in [0, {vocab_size}) (the vocab size); got "
                         f"ids in [{int(x.min())}, {int(x.max())}].")


def load_npz(path: str | os.PathLike[str]) -> Dataset:
    """Load a dataset from an ``.npz`` file (never unpickles objects).

    Raises
    ------
    InputError
        The file is missing, not a valid ``.npz``, lacks ``x``/``y``, or holds invalid arrays.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"data file not found: {path}")
    if not zipfile.is_zipfile(path):
        raise InputError(f"{path} is not a readable .npz file (not a zip archive of arrays).")
    try:
        check_fits(npz_nbytes(path, {"x", "y", *_OPTIONAL}), f"the arrays of {path}",
                   "load a part of it elsewhere, or use a machine with more memory.")
        with np.load(path, allow_pickle=False) as z:
            keys = set(z.files)
            missing = {"x", "y"} - keys
            if missing:
                raise InputError(f"{path} must contain arrays 'x' and 'y'; it has "
                                 f"{sorted(keys) or 'no arrays'}.")
            arrays = {k: z[k] for k in ("x", "y", *_OPTIONAL) if k in keys}
    except InputError:
        raise
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise InputError(f"{path} is not a readable .npz file ({exc}).") from None
    return Dataset(**_number_named_labels(arrays, path), name=path.stem)


def _number_named_labels(arrays: dict[str, np.ndarray], path: Path) -> dict[str, np.ndarray]:
    """Class-name labels (unicode strings) to ids 0..K-1 in the order of ``class_names`` (if
    given; else alphabetical), which is set. Integer labels are returned unchanged."""
    keys = [k for k in _LABEL_KEYS if k in arrays]
    named = [k for k in keys if arrays[k].dtype.kind == "U"]
    if not named:
        return arrays
    if len(named) < len(keys):
        ids = next(k for k in keys if k not in named)
        raise InputError(f"{path}: {named[0]} holds class names but {ids} holds "
                         f"{arrays[ids].dtype}; give every label array as names or as ids.")
    names = arrays.get("class_names")
    if names is None:
        names = np.unique(np.concatenate([arrays[k].ravel() for k in named]))
    elif names.dtype.kind != "U" or names.ndim != 1 or len(np.unique(names)) != len(names):
        raise InputError(f"{path}: class_names must be distinct strings, one per class; got "
                         f"{names.dtype} {names.shape}.")
    order = np.argsort(names)
    out = dict(arrays, class_names=names)
    for key in named:
        pos = np.searchsorted(names[order], arrays[key]).clip(max=len(names) - 1)
        unknown = names[order][pos] != arrays[key]
        if unknown.any():
            raise InputError(f"{path}: {key} has the label {str(arrays[key][unknown][0])!r}, "
                             f"which class_names does not list ({len(names)} names).")
        out[key] = order[pos].astype(np.int64)
    return out


def save_dataset(path: str | os.PathLike[str], data: Dataset) -> None:
    """Write ``data`` to ``path`` as a compressed ``.npz``, atomically."""
    save_npz(path, data.arrays())
