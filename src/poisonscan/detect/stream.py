"""Per-class ICA/PCA reduction that streams the activations instead of copying them.

The in-memory path (:func:`poisonscan.detect.reduce.reduce`) copies each class's rows to float64
and runs FastICA on all D features. This module computes the same reduction from sufficient
statistics, reading the (N, D) activations in row chunks (a ``np.memmap`` works, and its pages are
released as they are used, see :mod:`poisonscan.detect.chunks`):

1. one pass accumulates, per class, the Gram matrix of ``[x - s, 1]``: the rows shifted by the
   class's first row ``s`` and a column of ones, so that it holds the count ``n``, the sums
   ``t`` and ``G = sum (x - s)(x - s)^T`` (one matmul per chunk and class, in float32 for
   float32/float16 activations and float64 otherwise, accumulated in float64; the shift keeps
   the centring free of cancellation, and the chunk size changes the result only by rounding,
   about 1e-6 relative in float32; chunks are shared among threads, each with its own
   accumulators, merged in order; a class's columns that have not varied so far, such as dead
   ReLU units, are left out of the matmul, exactly: see :mod:`poisonscan.detect.gram`);
2. the centred scatter ``C = G - t t^T / n`` restricted to the varying features (standard
   deviation above 1e-7 of the largest; a constant feature, such as a dead ReLU unit, has
   exactly zero variance since its shifted values are exact zeros) gives, by ``eigh``, the
   top-``d`` principal axes ``V`` (D', d) and variances ``lam`` (d,);
3. a second pass projects every row (in the matmul dtype of step 1): ``pca``: ``(x - mean) V``;
   ``ica``: the same scores divided by ``sqrt(lam / n)``, i.e. whitened to unit variance.
   Other work can run beside it (``screen``: the detector's k-means restarts on each class's
   subsample, whose rows it reduces on demand).

Why the ``ica`` output needs no FastICA iterations
--------------------------------------------------
FastICA(whiten="unit-variance") whitens the centred data onto its top principal axes exactly as
in step 3 (``X1 = K Xc^T sqrt(n)`` with ``K = (u / d)^T``), then rotates the whitened data by an
orthogonal ``W`` (its fixed-point iteration re-orthogonalises ``W`` at every step, converged or
not), and the final unit-variance rescaling is the identity on white data. So its sources are
``X1^T W^T``: an orthogonal rotation of our whitened scores. Everything the detector computes
from them (k-means++ seeding, Lloyd iterations, inertia, silhouettes, margins, the plots'
projection along the centre difference) depends only on Euclidean distances, which a rotation
leaves unchanged; the clusters are the same. The ``reduced`` coordinates are the unit-variance
sources up to that rotation (apply ``FastICA(whiten=False)`` to them to orient the axes). Skipping
the rotation matters at scale: on 100,000 samples the 400 FastICA iterations (which never
converge on Gaussian-noise components) cost about 2.8 s per class.

Classes with fewer samples than features are reduced from their gathered rows through the
``n x n`` dual Gram matrix instead (same axes, cheaper); the per-class ``D x D`` matrices of the
streaming pass are grouped so that at most ``gram_budget`` bytes of them exist at once.
"""

from __future__ import annotations

import functools
import queue
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
from joblib import Parallel, delayed, effective_n_jobs
from scipy.linalg import eigh
from scipy.sparse.linalg import eigsh

from ..errors import InputError
from .chunks import class_positions, release_pages, split_by_class, take_rows, thread_limits
from .gram import ClassGrams, work_dtype

__all__ = ["ClassAxes", "GRAM_BUDGET", "reduce_classes"]

#: Most bytes of per-class D x D Gram matrices held at once by the streaming pass.
GRAM_BUDGET = 256 * 2**20
_RTOL = 1e-7  # a feature varies when its std exceeds _RTOL x the largest std (see _varying)
_METHODS = ("ica", "pca")
_EIGSH_MIN = 200  # classes of more samples get their dual eigenpairs from ARPACK


@dataclass(frozen=True)
class ClassAxes:
    """The affine map that reduces one class: ``reduced = (x - mean) @ weights``.

    Attributes
    ----------
    mean
        (D,) float64 class mean.
    weights
        (D, d) float64 principal axes (zero rows at constant features), divided by the standard
        deviations ``sqrt(variances / n)`` for ``ica``.
    variances
        (d,) eigenvalues of the class's centred scatter matrix, largest first.
    """

    mean: np.ndarray
    weights: np.ndarray
    variances: np.ndarray


def _chunk_segments(acts: np.ndarray, rows: np.ndarray | None, local: np.ndarray,
                    n_classes: int, start: int, stop: int) -> Iterator[tuple[int, np.ndarray]]:
    """``(class, its rows among rows start:stop)`` for each local class present, rows in index
    order. The rows of ``acts`` itself are gathered class by class (a few hundred rows that stay
    in cache, not the whole chunk at once); scattered ``rows`` are read together, not mapped
    (see :func:`poisonscan.detect.chunks.take_rows`)."""
    cls = local[start:stop] if rows is None else local[rows[start:stop]]
    order = np.argsort(cls, kind="stable")
    counts = np.bincount(cls, minlength=n_classes)
    ends = np.cumsum(counts)
    block = None if rows is None else take_rows(acts, rows[start:stop])
    for c in np.flatnonzero(counts):
        pick = order[ends[c] - counts[c]:ends[c]]
        yield int(c), acts[start + pick] if block is None else block[pick]
    if block is None:
        release_pages(acts)


def _in_threads(work, threads: int) -> list:
    """``[work(0), ..., work(threads - 1)]``, run in threads with single-threaded BLAS."""
    if threads == 1:
        return [work(0)]
    with thread_limits().limit(limits=1, user_api="blas"):
        return Parallel(n_jobs=threads, prefer="threads")(delayed(work)(w)
                                                           for w in range(threads))


def _varying(variance: np.ndarray) -> np.ndarray:
    """Features whose standard deviation exceeds ``_RTOL`` x the largest one.

    A feature constant within the class (a dead ReLU unit) has exactly zero variance here:
    its shifted values are exact zeros.
    """
    std = np.sqrt(np.maximum(variance, 0.0))
    return std > _RTOL * max(float(std.max()), np.finfo(np.float64).tiny)


def _check_finite(values: np.ndarray) -> None:
    if not np.isfinite(values).all():
        raise InputError("activations contain NaN or inf values.")


def _eig_axes(scatter: np.ndarray, keep: np.ndarray, n: int, mean: np.ndarray, method: str,
              n_components: int) -> ClassAxes:
    """Top principal axes of the centred ``scatter`` (D, D) over the features ``keep``."""
    idx = np.flatnonzero(keep)
    weights = np.zeros((len(mean), max(1, min(n_components, len(idx)))))
    if len(idx) == 0:  # every feature constant: nothing to separate (reduced = zeros)
        return ClassAxes(mean, weights, np.zeros(1))
    d = weights.shape[1]
    lam, vec = eigh(scatter[np.ix_(idx, idx)], subset_by_index=[len(idx) - d, len(idx) - 1])
    lam, vec = lam[::-1], _fix_signs(vec[:, ::-1])
    weights[idx] = _scale(vec, lam, n, method)
    return ClassAxes(mean, weights, lam)


def _signs(vec: np.ndarray) -> np.ndarray:
    """(d,) +-1 that make each column's largest-magnitude entry positive (a deterministic sign)."""
    pick = np.argmax(np.abs(vec), axis=0)
    return np.where(vec[pick, np.arange(vec.shape[1])] < 0, -1.0, 1.0)


def _fix_signs(vec: np.ndarray) -> np.ndarray:
    return vec * _signs(vec)


def _scale(vec: np.ndarray, lam: np.ndarray, n: int, method: str) -> np.ndarray:
    """Axes for ``pca``; axes / std for ``ica``, zeroing components of (numerically) no variance."""
    if method == "pca":
        return vec
    live = lam > max(float(lam[0]), 0.0) * 1e-12
    return np.where(live, vec / np.sqrt(np.where(live, lam, 1.0) / n), 0.0)


def _axes_from_gram(gram: np.ndarray, shift: np.ndarray, method: str,
                    n_components: int) -> ClassAxes:
    """The axes of one class from its Gram matrix of ``[x - shift, 1]``
    (:meth:`poisonscan.detect.gram.ClassGrams.natural`)."""
    n, total = int(round(gram[-1, -1])), gram[:-1, -1]
    scatter = gram[:-1, :-1] - np.outer(total, total) / n  # eigh reads the lower triangle
    mean = shift + total / n
    return _eig_axes(scatter, _varying(np.diag(scatter) / n), n, mean, method, n_components)


def _accumulate_axes(acts: np.ndarray, rows: np.ndarray | None, local: np.ndarray,
                     shift: np.ndarray, method: str, n_components: int, chunk_rows: int,
                     threads: int) -> list[ClassAxes]:
    """Pass 1 for the classes ``0 .. len(shift) - 1`` of ``local``: the axes of each class.

    Chunk j is handled by worker ``j % threads``; each worker accumulates its own moments, which
    are merged in worker order, so the result is deterministic for a given chunk size and
    thread count (and equal across them up to rounding).
    """
    k, width = shift.shape
    n = len(acts) if rows is None else len(rows)
    starts = list(range(0, n, chunk_rows))
    threads = max(1, min(threads, len(starts)))
    work = work_dtype(acts.dtype)

    def accumulate(worker: int) -> list[np.ndarray]:
        acc = ClassGrams(shift, work)
        scratch = np.empty(chunk_rows * (width + 1), dtype=work)
        tmp = np.empty((width + 1) ** 2, dtype=work)
        for j in range(worker, len(starts), threads):
            for c, seg in _chunk_segments(acts, rows, local, k, starts[j],
                                          min(starts[j] + chunk_rows, n)):
                acc.add(c, seg, scratch, tmp)
        return [acc.natural(c) for c in range(k)]

    grams = _in_threads(accumulate, threads)
    for other in grams[1:]:  # in worker order: deterministic
        for c in range(k):
            grams[0][c] += other[c]
    for gram in grams[0]:
        _check_finite(gram)
    return [_axes_from_gram(grams[0][c], shift[c], method, n_components) for c in range(k)]


def _project(x: np.ndarray, mean: np.ndarray, weights: np.ndarray,
             buf: np.ndarray | None = None) -> np.ndarray:
    """``(x - mean) @ weights`` for rows ``x`` (m, D), in the dtype of ``mean`` and ``weights``
    (see :func:`poisonscan.detect.gram.work_dtype`); ``buf``: optional (>= m, D) scratch."""
    centred = np.subtract(x, mean, out=None if buf is None else buf[:len(x)])
    return centred @ weights


def _project_all(acts: np.ndarray, rows: np.ndarray | None, local: np.ndarray,
                 axes: list[ClassAxes], sizes: np.ndarray, chunk_rows: int, threads: int,
                 side: Callable[[], None] | None = None) -> list[np.ndarray]:
    """Pass 2: the reduced rows of every class, (n_c, d_c) float64 each.

    ``side`` (thread-safe, no arguments) is other work to run meanwhile: one thread runs it from
    the start while the others project, and each thread runs it once no chunk is left (so
    ``side`` should take its work from a shared queue). The chunks are taken from a shared
    queue too, so a thread whose side work is short (or none) projects the rest with the others;
    each chunk's rows go to fixed output positions, so the result does not depend on which
    thread reduced them.
    """
    k, width = len(sizes), acts.shape[1]
    n = len(acts) if rows is None else len(rows)
    starts = list(range(0, n, chunk_rows))
    threads = max(1, min(threads, len(starts) + (side is not None)))
    pending: queue.SimpleQueue[int] = queue.SimpleQueue()
    for j in range(len(starts)):
        pending.put(j)
    work = work_dtype(acts.dtype)
    cls = local if rows is None else local[rows]
    counts = np.stack([np.bincount(cls[a:a + chunk_rows], minlength=k) for a in starts])
    offsets = np.cumsum(counts, axis=0) - counts  # (chunks, k) first output row of each chunk
    out = [np.empty((int(sizes[c]), axes[c].weights.shape[1])) for c in range(k)]
    means = [a.mean.astype(work) for a in axes]
    weights = [a.weights.astype(work) for a in axes]

    def run(worker: int) -> None:
        if side is not None and threads > 1 and worker == threads - 1:
            side()  # this thread starts with the side work
        buf = np.empty((chunk_rows, width), dtype=work)
        while True:
            try:
                j = pending.get_nowait()
            except queue.Empty:
                break
            for c, seg in _chunk_segments(acts, rows, local, k, starts[j],
                                          min(starts[j] + chunk_rows, n)):
                first = int(offsets[j, c])
                out[c][first:first + len(seg)] = _project(seg, means[c], weights[c], buf)
        if side is not None:
            side()

    _in_threads(run, threads)
    return out


def _side_work(acts: np.ndarray, indices: list[np.ndarray], group: np.ndarray,
               axes: list[ClassAxes], screen: Callable) -> Callable[[], None]:
    """``side`` for :func:`_project_all`: ``screen(c, n_c, rows_of)`` for each class ``c`` of
    ``group``, one class at a time from a shared queue; ``rows_of(positions)`` reduces just
    those rows of the class (read from ``acts``, with the arithmetic of pass 2)."""
    pending: queue.SimpleQueue[int] = queue.SimpleQueue()
    for g in range(len(group)):
        pending.put(g)
    work = work_dtype(acts.dtype)

    def rows_of(g: int, positions: np.ndarray) -> np.ndarray:
        x = take_rows(acts, indices[group[g]][positions])
        return _project(x, axes[g].mean.astype(work), axes[g].weights.astype(work)).astype(
            np.float64)

    def side() -> None:
        while True:
            try:
                g = pending.get_nowait()
            except queue.Empty:
                return
            screen(int(group[g]), len(indices[group[g]]), functools.partial(rows_of, g))

    return side


def _dual(x: np.ndarray, method: str, n_components: int) -> np.ndarray:
    """Reduce one class from its rows ``x`` (n, D), n < D, through the dual Gram ``Xc Xc^T``.

    Like the streaming route, the centred rows and their Gram matrix are float32 for float32 or
    float16 activations (float64 otherwise), and the eigenproblem is solved in float64. The top
    ``d`` eigenpairs of a large Gram matrix come from ARPACK (``eigsh``, seeded start vector,
    converged to machine precision): on 1,200 x 1,200 they match ``eigh``'s to 1e-14 at a
    quarter of the time (0.02 s against 0.08 s).
    """
    _check_finite(x)
    work = work_dtype(x.dtype)
    keep = _varying(np.var(x, axis=0, dtype=np.float64))
    n, d = len(x), max(1, min(n_components, int(keep.sum()), len(x)))
    if not keep.any():
        return np.zeros((n, 1))
    xc = np.asarray(x[:, keep], dtype=work)  # a copy (boolean indexing), centred in place below
    xc -= xc.mean(axis=0, dtype=np.float64).astype(work)
    gram = (xc @ xc.T).astype(np.float64)  # (n, n); numpy's matmul releases the GIL
    if n > _EIGSH_MIN and d < n - 1:
        v0 = np.random.default_rng(0).standard_normal(n)  # not the ones vector: Xc^T 1 = 0
        lam, u = eigsh(gram, k=d, which="LA", v0=v0, tol=0)
        order = np.argsort(lam)[::-1]
        lam, u = lam[order], u[:, order]
    else:
        lam, u = eigh(gram, subset_by_index=[n - d, n - 1])
        lam, u = lam[::-1], u[:, ::-1]
    live = lam > max(float(lam[0]), 0.0) * 1e-12
    root = np.sqrt(np.where(live, lam, 1.0))
    u = u * _signs(xc.T @ u)  # the primal axes' signs, so both routes orient alike
    scores = u * (root if method == "pca" else np.sqrt(n))
    return np.where(live, scores, 0.0)


def reduce_classes(acts: np.ndarray, segments: np.ndarray, classes: np.ndarray, *,
                   method: str = "ica", n_components: int = 10, chunk_rows: int = 4096,
                   gram_budget: int = GRAM_BUDGET, n_jobs: int = -1,
                   screen: Callable[[int, int, Callable[[np.ndarray], np.ndarray]], None]
                   | None = None) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Reduce every class of ``acts`` without copying more than one chunk or one small class.

    Parameters
    ----------
    acts
        (N, D) float activations; an ndarray or a ``np.memmap``.
    segments
        (N,) int class of each sample; every value must be in ``classes``.
    classes
        (K,) sorted class labels.
    method
        ``"ica"`` (unit-variance, clusters equal to FastICA's, see the module docstring) or
        ``"pca"`` (principal component scores).
    n_components
        d, capped at the number of varying features (and samples) of the class.
    chunk_rows
        Rows read per chunk; the result does not depend on it beyond rounding.
    gram_budget
        Most bytes of D x D accumulators held at once.
    n_jobs
        Threads (-1: one per core): over row chunks in the streaming passes, over classes for
        the dual route. Changes the result only by rounding.
    screen
        Optional work to overlap with the second streaming pass, called as
        ``screen(c, n_c, rows_of)`` once for each class ``c`` (position in ``classes``) of
        ``n_c`` >= D samples, from the pass's threads: ``rows_of(positions)`` returns the reduced
        rows at those (n_c,)-positions of the class, as (m, d_c) float64, computed like the
        pass's own. The detector runs the k-means restarts on each class's subsample there.

    Returns
    -------
    indices : list of np.ndarray
        K sorted (n_c,) int64 sample indices per class.
    reduced : list of np.ndarray
        K (n_c, d_c) float64 reduced activations per class.
    """
    if method not in _METHODS:
        raise InputError(f"streaming reduction supports {_METHODS}; got {method!r}.")
    cls = class_positions(segments, classes)
    indices = split_by_class(cls, len(classes))
    sizes = np.array([len(i) for i in indices])
    width = acts.shape[1]
    reduced: list[np.ndarray | None] = [None] * len(classes)
    primal = np.flatnonzero(sizes >= width)
    workers = effective_n_jobs(n_jobs)
    per_group = max(1, gram_budget // (8 * width * width * workers))
    for g in range(0, len(primal), per_group):
        group = primal[g:g + per_group]
        local = np.full(len(classes), -1, dtype=cls.dtype)
        local[group] = np.arange(len(group))
        everything = len(group) == len(classes)
        rows = None if everything else np.sort(np.concatenate([indices[c] for c in group]))
        shift = take_rows(acts, [int(indices[c][0]) for c in group]).astype(np.float64)
        _check_finite(shift)  # then a non-finite value elsewhere differs from it: a live column
        group_cls = local[cls]
        axes = _accumulate_axes(acts, rows, group_cls, shift, method, n_components, chunk_rows,
                                workers)
        side = None if screen is None else _side_work(acts, indices, group, axes, screen)
        outs = _project_all(acts, rows, group_cls, axes, sizes[group], chunk_rows, workers,
                            side)
        for c, out in zip(group, outs):
            reduced[c] = out
    dual = np.flatnonzero(sizes < width)

    def one(c: int) -> np.ndarray:
        return _dual(take_rows(acts, indices[c]), method, n_components)

    if len(dual):
        threads = min(workers, len(dual))
        with thread_limits().limit(limits=1 if threads > 1 else None, user_api="blas"):
            outs = Parallel(n_jobs=threads, prefer="threads")(delayed(one)(int(c)) for c in dual)
        for c, out in zip(dual, outs):
            reduced[c] = out
    return indices, reduced  # type: ignore[return-value]
