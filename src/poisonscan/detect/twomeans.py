"""Seeded 2-means restarts, all run together: the detector's search for the best split of a class.

Activation clustering needs many k-means restarts per class (50 by default, see
:func:`poisonscan.detect.cluster.cluster_class`), on data of about 5,000 x 10. There,
scikit-learn's ``KMeans(n_init=50)`` spends its time in per-iteration overhead (about 70 us an
iteration for some 100,000 multiply-adds), much of it Python holding the GIL, and it was the
longest phase of the detection stage (``docs/scale.md``). With k = 2, Lloyd's assignment step
is a linear test, ``x . (c1 - c0) > (|c1|^2 - |c0|^2) / 2``, so one (R, d) x (d, m) matmul
assigns every sample for all R restarts at once, and one (R, m) x (m, d + 1) matmul gives the
new sums and counts. This module runs the restarts that way, in NumPy; larger k stays with
scikit-learn.

The algorithm is scikit-learn's ``KMeans(n_clusters=2, init="k-means++", algorithm="lloyd")``:
greedy k-means++ seeding with ``2 + int(log 2) = 2`` local trials, Lloyd iterations on the
centred data until the centres move by at most ``tol`` times the mean feature variance (squared
shift, summed), an empty cluster moved to the sample farthest from the other centre, and the
restart of lowest inertia kept. Only the random streams differ, so individual restarts differ.
Where a class has a dominant split, the best of 50 reaches it as scikit-learn's does
(``tests/test_twomeans.py``; on MNIST's activations the same split in every class,
``benchmarks/restarts.py``); where it has none, either lands on one of several splits of nearly
equal inertia, depending on the seed.
"""

from __future__ import annotations

import numpy as np

__all__ = ["two_means_restarts"]

#: Elements of one (restarts, samples) working array; restarts run in batches that fit it.
_BATCH_ELEMENTS = 500_000
_LOCAL_TRIALS = 2  # scikit-learn's 2 + int(log(n_clusters)) for n_clusters = 2


def two_means_restarts(x: np.ndarray, n_init: int, random_state: int, *, max_iter: int = 300,
                       tol: float = 1e-4) -> np.ndarray:
    """(2, d) centres of the lowest-inertia run of ``n_init`` seeded 2-means restarts on ``x``.

    Parameters
    ----------
    x
        (m, d) data, m >= 2.
    n_init
        Number of restarts (k-means++ seedings), >= 1.
    random_state
        Seed of every random draw; all draws are made up front, so the result does not depend
        on how the restarts are batched.
    max_iter, tol
        Lloyd iterations per restart at most, and the relative convergence tolerance
        (scikit-learn's meaning and defaults).

    Returns
    -------
    numpy.ndarray
        (2, d) float64 centres.
    """
    x = np.asarray(x, dtype=np.float64)
    m = len(x)
    mean = x.mean(axis=0)
    xc = x - mean
    rng = np.random.default_rng(random_state)
    first = rng.integers(m, size=n_init)
    draws = rng.random((n_init, _LOCAL_TRIALS))
    data = _Centred(xc, tol * float(np.mean(np.var(x, axis=0))))
    batch = max(1, _BATCH_ELEMENTS // (m * _LOCAL_TRIALS))
    best, best_inertia, best_ones = None, np.inf, None
    for a in range(0, n_init, batch):
        centres = data.lloyd(data.seed(first[a:a + batch], draws[a:a + batch]), max_iter)
        inertia, ones = data.inertia(centres)
        for c, i, o in zip(centres, inertia, ones):
            # scikit-learn's rule: a later restart replaces the best only if its inertia is
            # lower and its clustering differs (not the same split, up to the cluster order)
            if best is None or (i < best_inertia and not _same_split(o, best_ones)):
                best, best_inertia, best_ones = c, i, o
    return best + mean


def _same_split(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two 2-means assignments (m,) bool are the same partition."""
    return bool(np.array_equal(a, b) or np.array_equal(a, ~b))


class _Centred:
    """Centred data (m, d) with what every restart reuses: its transpose, the squared row norms,
    the rows with a column of ones (sums and counts in one matmul), and the absolute tolerance."""

    def __init__(self, xc: np.ndarray, tol: float) -> None:
        self.x = xc
        self.xt = np.ascontiguousarray(xc.T)
        self.sq = np.einsum("ij,ij->i", xc, xc)
        self.x1 = np.hstack([xc, np.ones((len(xc), 1))])
        self.total = self.x1.sum(axis=0)
        self.tol = tol

    def sqdist(self, centres: np.ndarray) -> np.ndarray:
        """(r, m) squared distances from each of ``centres`` (r, d) to every sample."""
        d = self.sq[None, :] - 2.0 * (centres @ self.xt)
        d += np.einsum("rd,rd->r", centres, centres)[:, None]
        return np.maximum(d, 0.0, out=d)

    def seed(self, first: np.ndarray, draws: np.ndarray) -> np.ndarray:
        """(r, 2, d) greedy k-means++ seeds: sample ``first`` (r,), then of ``_LOCAL_TRIALS``
        candidates drawn with probability proportional to D^2 (``draws`` (r, trials) uniform in
        [0, 1)), the one that leaves the lowest potential."""
        r, m = len(first), len(self.x)
        c0 = self.x[first]
        d0 = self.sqdist(c0)                                     # (r, m)
        cum = np.cumsum(d0, axis=1)
        target = draws * cum[:, -1:]
        cand = np.empty_like(draws, dtype=np.int64)
        for i in range(r):                                        # r searches, not m
            cand[i] = np.searchsorted(cum[i], target[i], side="right")
        np.minimum(cand, m - 1, out=cand)
        dc = self.sqdist(self.x[cand.ravel()]).reshape(r, _LOCAL_TRIALS, m)
        potential = np.minimum(dc, d0[:, None, :]).sum(axis=2)   # (r, trials)
        c1 = self.x[cand[np.arange(r), np.argmin(potential, axis=1)]]
        return np.stack([c0, c1], axis=1)

    def lloyd(self, centres: np.ndarray, max_iter: int) -> np.ndarray:
        """Lloyd's iterations on every restart of ``centres`` (r, 2, d) until each converges."""
        centres = centres.copy()
        active = np.arange(len(centres))
        m = len(self.x)
        for _ in range(max_iter):
            c = centres[active]
            w = c[:, 1] - c[:, 0]
            sq = np.einsum("rkd,rkd->rk", c, c)
            b = 0.5 * (sq[:, 1] - sq[:, 0])
            ones = (w @ self.xt) > b[:, None]                    # (a, m): nearer to centre 1
            s1 = ones.astype(np.float64) @ self.x1               # (a, d + 1): sums, count
            s0 = self.total - s1
            new = np.stack([s0[:, :-1] / np.maximum(s0[:, -1:], 1),
                            s1[:, :-1] / np.maximum(s1[:, -1:], 1)], axis=1)
            for i in np.flatnonzero((s1[:, -1] == 0) | (s0[:, -1] == 0)):
                kept = int(s1[i, -1] > 0)                # the cluster that has every sample
                far = int(np.argmax(self.sqdist(c[i, kept][None])[0]))
                new[i, 1 - kept] = self.x[far]
                new[i, kept] = (self.total[:-1] - self.x[far]) / (m - 1)
            shift = ((new - c) ** 2).sum(axis=(1, 2))
            centres[active] = new
            active = active[shift > self.tol]
            if not len(active):
                break
        return centres

    def inertia(self, centres: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(r,) sum of squared distances to the nearest centre, for each restart (r, 2, d), and
        (r, m) which samples are nearer to centre 1 (ties go to centre 0, as in scikit-learn)."""
        r, k, d = centres.shape
        dist = self.sqdist(centres.reshape(r * k, d)).reshape(r, k, -1)
        return dist.min(axis=1).sum(axis=1), dist[:, 1] < dist[:, 0]
