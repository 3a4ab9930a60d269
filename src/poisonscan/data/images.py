"""A folder of image files with one subfolder per class, the layout most image data comes in::

    my_data/
      cat/   0001.jpg  0002.png ...
      dog/   0001.jpg ...

Class folders are taken in sorted order and labelled 0, 1, ...; their names become the dataset's
``class_names``, and each sample's path relative to the folder becomes its entry in ``files``
(so ``flagged.csv`` names the flagged files). Files are read in sorted order, so the same folder
always gives the same arrays. Hidden files and files without an image suffix (``.txt``,
``Thumbs.db`` ...) are skipped. Images become uint8 (N, H, W) when every file is greyscale, else
(N, H, W, 3) RGB (16-bit and float images are refused rather than clipped). They must share
one size unless ``image_size`` is given, in which case every image is resized to it. A photo's
EXIF orientation tag is applied (a portrait phone photo stays upright, with its size as shown).
The user's files are only read.

Images of 128x128 pixels or more are decoded in a few threads (Pillow releases the GIL while it
decodes; smaller ones decode faster in one). When JPEGs are resized to a much smaller size, the
decoder first scales them down by 2, 4 or 8 in the DCT domain (Pillow's ``draft``), which skips
most of the work. ``benchmarks/image_folder.py --photos`` measures both. Every unreadable file is
named in one error, not only the first. Images whose array would not fit in the memory available
are refused from their headers, before any is decoded.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from joblib import effective_n_jobs
from tqdm.auto import tqdm

from ..errors import InputError
from . import memory
from .dataset import Dataset

if TYPE_CHECKING:  # Pillow is imported when a folder is read, not at start-up
    from PIL import Image

__all__ = ["IMAGE_SUFFIXES", "load_image_folder"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".ppm", ".pgm", ".tif", ".tiff",
                  ".webp")
_GREY_MODES = ("1", "L", "LA")
_DEEP_MODES = ("I", "I;16", "I;16B", "I;16L", "I;16N", "F")
_ORIENTATION = 0x0112  # EXIF tag; values 5-8 turn the image by 90 degrees
_MAX_THREADS = 8
_THREAD_PIXELS = 128 * 128  # mean pixels per file from which threads decode faster (2 cores)
_CHUNK = 64  # files per thread task
_NAMED_IN_ERROR = 5  # unreadable files named in the error message; the rest are counted


def _check_memory(root: Path, n: int, size: tuple[int, int], channels: int) -> None:
    """Refuse, before decoding, images whose uint8 array would not fit in memory."""
    free = memory.available_memory() or 0
    fits = 64 if n * 64 * 64 * channels <= free // 2 else 32
    memory.check_fits(n * size[0] * size[1] * channels,
                      f"the {n:,} images of {root} at {size[1]}x{size[0]} pixels",
                      f"pass --image-size H,W to shrink them (e.g. {fits},{fits}: "
                      f"{memory.format_bytes(n * fits * fits * channels)}).")


def _image_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file()
                  and not any(part.startswith(".") for part in p.relative_to(folder).parts)
                  and p.suffix.lower() in IMAGE_SUFFIXES)


def _class_folders(root: Path) -> list[Path]:
    if not root.is_dir():
        raise InputError(f"data folder not found: {root}")
    classes = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    loose = [p.name for p in root.iterdir()
             if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
    if loose:
        raise InputError(f"{root} holds image files directly (e.g. {loose[0]!r}); expected one "
                         "subfolder per class with the images inside (my_data/cat/1.jpg).")
    if len(classes) < 2:
        raise InputError(f"{root} has {len(classes)} class subfolder(s); expected one subfolder "
                         "per class, at least 2 (my_data/cat/1.jpg, my_data/dog/1.jpg).")
    return classes


class _Unreadable(InputError):
    """One file that Pillow cannot read or decode."""

    def __init__(self, name: str, root: Path, reason: str) -> None:
        super().__init__(f"{name} in {root} is not a readable image ({reason}).")
        self.name, self.reason = name, reason


@contextmanager
def _opened(path: Path, root: Path) -> Iterator[Image.Image]:
    """Open an image file; a failure to read or decode it becomes an :class:`_Unreadable`."""
    from PIL import Image  # noqa: PLC0415

    try:
        with Image.open(path) as img:
            yield img
    except (OSError, ValueError, Image.DecompressionBombError) as exc:  # OSError: unidentified
        raise _Unreadable(path.relative_to(root).as_posix(), root,
                          f"{type(exc).__name__}: {exc}") from None


def _orientation(img: Image.Image) -> int:
    """The EXIF orientation of an opened image (1: as stored). A PNG's EXIF is read only when
    it comes before the pixel data: looking further would decode the whole image."""
    if img.format == "PNG" and "exif" not in img.info:
        return 1
    return int(img.getexif().get(_ORIENTATION, 1))


def _header(path: Path, root: Path) -> tuple[str, tuple[int, int]]:
    """The mode and (width, height) of an image file as shown (after its EXIF orientation),
    read from its header only."""
    with _opened(path, root) as img:
        w, h = img.size
        return img.mode, (h, w) if _orientation(img) in (5, 6, 7, 8) else (w, h)


def _pixels(path: Path, root: Path, grey: bool, size: tuple[int, int]) -> np.ndarray:
    """The decoded image as uint8 (H, W) or (H, W, 3), resized to ``size`` (w, h) if needed."""
    from PIL import Image, ImageOps  # noqa: PLC0415

    with _opened(path, root) as img:
        turned = _orientation(img) in (5, 6, 7, 8)
        if img.size != (size[::-1] if turned else size):
            # a JPEG decodes at 1/2, 1/4 or 1/8 scale while it stays at least ``size``
            img.draft(None, size[::-1] if turned else size)
        if _orientation(img) != 1:
            img = ImageOps.exif_transpose(img)
        img = img.convert("L" if grey else "RGB")
        if img.size != size:
            img = img.resize(size, Image.Resampling.BILINEAR)
        return np.asarray(img, dtype=np.uint8)


def _read_all(read: Callable[[int], object], n: int, root: Path, *, threads: int = 1,
              progress: bool = False, desc: str = "") -> list:
    """``[read(i) for i in range(n)]``, in ``threads`` threads, in order. Unreadable files do
    not stop the others: they are all named in one InputError at the end."""
    results: list = [None] * n
    unreadable: list[_Unreadable] = []

    def run(chunk: range) -> int:
        for i in chunk:
            try:
                results[i] = read(i)
            except _Unreadable as exc:
                unreadable.append(exc)
        return len(chunk)

    chunks = [range(i, min(i + _CHUNK, n)) for i in range(0, n, _CHUNK)]
    with tqdm(total=n, desc=desc, unit="image", disable=not progress, leave=False) as bar:
        if threads > 1:
            with ThreadPoolExecutor(threads) as pool:
                for done in pool.map(run, chunks):
                    bar.update(done)
        else:
            for chunk in chunks:
                bar.update(run(chunk))
    if len(unreadable) == 1:
        raise unreadable[0]
    if unreadable:
        unreadable.sort(key=lambda e: e.name)
        named = "; ".join(f"{e.name} ({e.reason})" for e in unreadable[:_NAMED_IN_ERROR])
        more = len(unreadable) - _NAMED_IN_ERROR
        raise InputError(f"{len(unreadable)} files in {root} are not readable images: {named}"
                         + (f"; and {more} more" if more > 0 else "")
                         + ". Move them out of the folder and run again.")
    return results


def load_image_folder(folder: str | os.PathLike[str], *,
                      image_size: tuple[int, int] | None = None,
                      progress: bool = False) -> Dataset:
    """Load a folder of images with one subfolder per class (see the module docstring).

    Parameters
    ----------
    folder
        The root folder; each subfolder is a class, searched recursively for images.
    image_size
        ``(height, width)`` to resize every image to (bilinear). Default: keep the size, which
        must then be the same for all images.
    progress
        Show progress bars while the files are opened and decoded.

    Returns
    -------
    Dataset
        ``x`` uint8 (N, H, W) or (N, H, W, 3), ``y`` (N,) int64, ``class_names`` (K,) and
        ``files`` (N,) (paths relative to ``folder``, with ``/``).

    Raises
    ------
    InputError
        A missing folder, fewer than 2 class folders, images outside class folders, an empty
        class folder, unreadable images (all named, up to 5), or images of different sizes
        without ``image_size``.
    """
    root = Path(folder)
    classes = _class_folders(root)
    files: list[Path] = []
    labels: list[int] = []
    for label, cls in enumerate(classes):
        found = _image_files(cls)
        if not found:
            raise InputError(f"class folder {cls.name!r} in {root} has no images (looked for "
                             f"{', '.join(IMAGE_SUFFIXES)}).")
        files += found
        labels += [label] * len(found)
    if image_size is not None and (len(image_size) != 2 or min(image_size) < 1):
        raise InputError(f"image_size must be (height, width) with both >= 1; got {image_size}.")
    names = [p.relative_to(root).as_posix() for p in files]
    headers = _read_all(lambda i: _header(files[i], root), len(files), root,
                        progress=progress, desc="headers")  # no pixels decoded yet
    deep = next((n for n, (mode, _) in zip(names, headers) if mode in _DEEP_MODES), None)
    if deep is not None:
        raise InputError(f"{deep} in {root} has 16-bit or float pixels; poisonscan reads 8-bit "
                         "images (convert them first).")
    grey = all(mode in _GREY_MODES for mode, _ in headers)
    size = (image_size[1], image_size[0]) if image_size is not None else None  # PIL: (w, h)
    if size is None:
        sizes = Counter(s for _, s in headers)
        if len(sizes) > 1:
            (common, n_common), (other, _) = sizes.most_common(2)
            odd = next(n for n, (_, s) in zip(names, headers) if s == other)
            raise InputError(f"the images in {root} have {len(sizes)} different sizes "
                             f"({common[1]}x{common[0]} in {n_common} files, {other[1]}x"
                             f"{other[0]} in e.g. {odd}); pass --image-size H,W to resize "
                             "them all.")
        size = headers[0][1]
    _check_memory(root, len(files), size, 1 if grey else 3)
    x = np.empty((len(files), size[1], size[0], *(() if grey else (3,))), dtype=np.uint8)

    def fill(i: int) -> None:
        x[i] = _pixels(files[i], root, grey, size)

    pixels = np.mean([w * h for _, (w, h) in headers]) if headers else 0
    threads = min(_MAX_THREADS, effective_n_jobs(-1)) if pixels >= _THREAD_PIXELS else 1
    _read_all(fill, len(files), root, threads=threads, progress=progress, desc="load")
    return Dataset(x=x, y=np.array(labels, dtype=np.int64), files=np.array(names),
                   class_names=np.array([c.name for c in classes]), name=root.name)
