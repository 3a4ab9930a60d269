"""Reading (N, D) activations in row chunks with a memory footprint independent of N.

The streaming detector never asks for more of the activations than one chunk at a time. For a
``np.memmap`` input that is not enough by itself: every page read through a memory map stays
mapped in the process, so a full pass over a 2 GB file would leave the resident set 2 GB larger
(the pages stay in the kernel's page cache either way). :func:`release_pages` drops the mapped
pages from the process with ``madvise(MADV_DONTNEED)`` after each chunk; the next access
re-reads them from the page cache. It does nothing for ordinary arrays and for copy-on-write maps
(mode ``"c"``), whose private pages the call would discard.

Scattered rows (one class's samples, spread over the whole file) are another matter: the kernel
maps a file's page cache in large folios (up to megabytes), so touching one 8 KB row through the
map can map its whole neighbourhood. Gathering the 1,200 rows of one class of a 2 GB file that
way raised the resident set by 1.4 GB on this machine's kernel (6.18), ``MADV_RANDOM`` or not.
:func:`take_rows` reads such rows with ``preadv`` into a new array instead, which maps nothing.
"""

from __future__ import annotations

import contextlib
import functools
import mmap
import os
from collections.abc import Iterator

import numpy as np
from threadpoolctl import ThreadpoolController

from ..errors import InputError

__all__ = ["DEFAULT_CHUNK_BYTES", "chunk_rows_for", "row_chunks", "release_pages",
           "check_finite", "class_positions", "split_by_class", "take_rows", "thread_limits",
           "unique_counts"]

#: Size of the float64 working buffer of one chunk (bytes); 32 MiB keeps a chunk in a large L3.
DEFAULT_CHUNK_BYTES = 32 * 2**20


@functools.cache
def thread_limits() -> ThreadpoolController:
    """The BLAS/OpenMP libraries loaded (by numpy, SciPy, scikit-learn) when first called,
    inspected once per process: a fresh ``threadpool_limits(...)`` inspects all ~170 loaded
    libraries again (about 20 ms)."""
    return ThreadpoolController()


def chunk_rows_for(n_features: int, chunk_rows: int | None = None, *,
                   chunk_bytes: int = DEFAULT_CHUNK_BYTES) -> int:
    """Rows per chunk: ``chunk_rows`` when given, else as many float64 rows as fit ``chunk_bytes``.

    Parameters
    ----------
    n_features
        D, the width of a row.
    chunk_rows
        Explicit number of rows (>= 1), or None for the byte budget.
    chunk_bytes
        Byte budget of one float64 chunk.

    Returns
    -------
    int
        Rows per chunk, >= 1.
    """
    if chunk_rows is not None:
        if isinstance(chunk_rows, bool) or not isinstance(chunk_rows, (int, np.integer)) \
                or chunk_rows < 1:
            raise InputError(f"chunk_rows must be a positive integer; got {chunk_rows!r}.")
        return int(chunk_rows)
    return max(1, chunk_bytes // (8 * max(1, n_features)))


def row_chunks(n_rows: int, chunk_rows: int) -> Iterator[tuple[int, int]]:
    """``(start, stop)`` of consecutive chunks covering ``range(n_rows)``."""
    for start in range(0, n_rows, chunk_rows):
        yield start, min(start + chunk_rows, n_rows)


def release_pages(acts: np.ndarray) -> None:
    """Drop the pages of a ``np.memmap`` that the process has mapped (no-op for other arrays).

    The data stays in the file and in the page cache; only the process's resident set shrinks.
    """
    mm = getattr(acts, "_mmap", None)
    if mm is None or getattr(acts, "mode", "r") == "c" or not hasattr(mmap, "MADV_DONTNEED"):
        return
    with contextlib.suppress(OSError, ValueError, AttributeError):
        mm.madvise(mmap.MADV_DONTNEED)


def take_rows(acts: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """``acts[rows]`` as a new array, read with ``preadv`` when ``acts`` is a file memory map.

    Parameters
    ----------
    acts
        (N, D) array; a C-contiguous ``np.memmap`` (not copy-on-write) is read from its file,
        one system call per run of consecutive rows, so no page is mapped into the process;
        anything else is indexed as usual.
    rows
        (m,) int row indices, in any order (sorted indices read fastest).

    Returns
    -------
    np.ndarray
        (m, D) array of ``acts.dtype``.
    """
    rows = np.asarray(rows, dtype=np.int64)
    opened = _open_mapped_file(acts) if len(rows) else None
    if opened is None:
        out = np.asarray(acts[rows])
        release_pages(acts)
        return out
    fd, first = opened
    width = acts.shape[1] * acts.itemsize
    out = np.empty((len(rows), acts.shape[1]), dtype=acts.dtype)
    flat = memoryview(out.reshape(-1).view(np.uint8))
    breaks = np.flatnonzero(np.diff(rows) != 1) + 1
    starts = np.concatenate([[0], breaks])
    ends = np.concatenate([breaks, [len(rows)]])
    try:
        for a, b in zip(starts.tolist(), ends.tolist()):
            done, want, pos = a * width, b * width, first + int(rows[a]) * width
            while done < want:
                got = os.preadv(fd, [flat[done:want]], pos)
                if got <= 0:
                    raise OSError(f"short read from {acts.filename}")
                done, pos = done + got, pos + got
    finally:
        os.close(fd)
    return out


def _open_mapped_file(acts: np.ndarray) -> tuple[int, int] | None:
    """``(descriptor, byte position of acts[0, 0])`` of the file that a C-contiguous 2-D
    read-only or shared memmap maps, opened for reading; None when that cannot be established.

    A slice of a memmap keeps its parent's ``offset``, so the position is computed from the data
    addresses: ``np.memmap`` maps the file from ``offset`` rounded down to the allocation
    granularity. The file is opened by its path and kept only if its device and inode are those
    of the mapping (from ``/proc/self/maps``, Linux), so that a file deleted or replaced at the
    same path since it was mapped is never read instead.
    """
    mm = getattr(acts, "_mmap", None)
    path = getattr(acts, "filename", None)
    if (mm is None or path is None or acts.ndim != 2 or not acts.flags.c_contiguous
            or getattr(acts, "mode", "r") == "c"):
        return None
    try:
        base = np.frombuffer(mm, dtype=np.uint8).ctypes.data
    except (TypeError, ValueError):  # a closed map
        return None
    inode = _mapped_inode(base)
    if inode is None:
        return None
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    info = os.fstat(fd)
    if (info.st_dev, info.st_ino) != inode:
        os.close(fd)
        return None
    start = acts.offset - acts.offset % mmap.ALLOCATIONGRANULARITY
    return fd, start + acts.ctypes.data - base


def _mapped_inode(address: int) -> tuple[int, int] | None:
    """(device, inode) of the file mapped at ``address``, from ``/proc/self/maps``."""
    try:
        with open("/proc/self/maps") as maps:
            for line in maps:
                fields = line.split()
                low, high = (int(v, 16) for v in fields[0].split("-"))
                if low <= address < high:
                    major, minor = (int(v, 16) for v in fields[3].split(":"))
                    return os.makedev(major, minor), int(fields[4])
    except (OSError, ValueError, IndexError):
        return None
    return None


def check_finite(acts: np.ndarray, chunk_rows: int) -> None:
    """Raise :class:`InputError` if ``acts`` (N, D) holds NaN or inf; reads it chunk by chunk."""
    for start, stop in row_chunks(len(acts), chunk_rows):
        ok = bool(np.isfinite(acts[start:stop]).all())
        release_pages(acts)
        if not ok:
            raise InputError("activations contain NaN or inf values.")


def unique_counts(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(labels, return_counts=True)`` for (N,) int labels; by counting (O(N)) when
    they are small non-negative integers, the usual case (15x faster for 10^6 labels)."""
    if len(labels) and labels.dtype.kind in "iu" and labels.min() >= 0 \
            and labels.max() < max(2**16, 2 * len(labels)):
        counts = np.bincount(labels)
        present = np.flatnonzero(counts)
        return present.astype(labels.dtype), counts[present]
    return np.unique(labels, return_counts=True)


def class_positions(labels: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """(N,) position in the sorted ``classes`` of each label (all must be present), as int16
    when there are fewer than 2^15 classes (numpy then sorts them by radix, in O(N))."""
    dtype = np.int16 if len(classes) < 2**15 else np.intp
    if len(classes) and classes.dtype.kind in "iu" and classes[0] >= 0 \
            and classes[-1] < max(2**16, 2 * len(labels)):
        table = np.zeros(int(classes[-1]) + 1, dtype=dtype)
        table[classes] = np.arange(len(classes), dtype=dtype)
        return table[labels]
    return np.searchsorted(classes, labels).astype(dtype)


def split_by_class(cls: np.ndarray, n_classes: int) -> list[np.ndarray]:
    """Sorted sample indices of each class.

    Parameters
    ----------
    cls
        (N,) class position of every sample, in ``0 .. n_classes - 1``.
    n_classes
        K.

    Returns
    -------
    list of np.ndarray
        K int64 arrays; the k-th holds ``np.flatnonzero(cls == k)``.
    """
    order = np.argsort(cls, kind="stable")
    bounds = np.cumsum(np.bincount(cls, minlength=n_classes))[:-1]
    return [part.astype(np.int64, copy=False) for part in np.split(order, bounds)]
