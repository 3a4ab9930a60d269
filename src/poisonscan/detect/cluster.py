"""Clustering one class's reduced activations, and the per-sample figures that follow."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from sklearn.cluster import KMeans

from .twomeans import two_means_restarts

__all__ = ["ClassClusters", "RESTART_SAMPLE_SIZE", "best_of_restarts", "cluster_class",
           "restart_subsample", "screen_restarts", "silhouette_samples"]

#: Classes with more samples than this run their k-means restarts on a seeded subsample of this
#: size (see :func:`best_of_restarts`); smaller classes run them on all their samples.
RESTART_SAMPLE_SIZE = 5_000


@dataclass(frozen=True, eq=False)
class ClassClusters:
    """The clustering of one class (one segment of the data).

    Attributes
    ----------
    label
        The class (training or predicted label, depending on the segmentation).
    indices
        (n,) positions of the class's samples in the full dataset.
    reduced
        (n, d) reduced activations.
    assignment
        (n,) cluster id of each sample, 0..k-1.
    centers
        (k, d) cluster centres in the reduced space.
    silhouette
        (k,) mean silhouette coefficient of each cluster (NaN for an empty cluster).
    """

    label: int
    indices: np.ndarray
    reduced: np.ndarray
    assignment: np.ndarray
    centers: np.ndarray
    silhouette: np.ndarray

    @functools.cached_property
    def sizes(self) -> np.ndarray:
        """(k,) number of samples in each cluster."""
        return np.bincount(self.assignment, minlength=len(self.centers))

    @property
    def majority(self) -> int:
        """Id of the largest cluster (the one presumed legitimate)."""
        return int(np.argmax(self.sizes))

    @property
    def candidates(self) -> list[int]:
        """Ids of every non-empty cluster but the largest: the ones an analysis judges."""
        return [c for c in range(len(self.centers)) if c != self.majority and self.sizes[c] > 0]

    @functools.cached_property
    def margin(self) -> np.ndarray:
        """(n,) how far each sample sits towards a minority cluster, in (-1, 1).

        ``(d_major - d_minor) / (d_major + d_minor)`` with ``d_major`` the distance to the
        largest cluster's centre and ``d_minor`` to the nearest other centre; > 0 inside a
        minority cluster. Computed once (the detector computes it in the clustering workers).
        """
        d = np.empty((len(self.reduced), len(self.centers)))
        for c, centre in enumerate(self.centers):
            diff = self.reduced - centre
            d[:, c] = np.sqrt(np.einsum("ij,ij->i", diff, diff))
        d_major = d[:, self.majority].copy()
        d[:, self.majority] = np.inf
        d_minor = d.min(axis=1) if len(self.centers) > 1 else d_major
        return (d_major - d_minor) / np.maximum(d_major + d_minor, 1e-12)


def restart_subsample(n: int, n_clusters: int, random_state: int,
                      sample_size: int = RESTART_SAMPLE_SIZE) -> np.ndarray | None:
    """Sorted positions (m,) of the seeded subsample that a class of ``n`` samples runs its
    k-means restarts on (see :func:`best_of_restarts`); None when it restarts on all samples."""
    if sample_size == 0 or n <= sample_size:
        return None
    rng = np.random.default_rng(random_state)
    return np.sort(rng.choice(n, max(sample_size, n_clusters), replace=False))


def screen_restarts(x: np.ndarray, n_clusters: int, n_init: int, random_state: int) -> np.ndarray:
    """(k, d) centres of the lowest-inertia k-means of ``n_init`` seeded restarts on ``x``.

    k = 2 (the default) runs all restarts together (:func:`.twomeans.two_means_restarts`). On
    the ten 5,000-sample classes of MNIST's ICA scores that takes 0.24-0.26 s against 1.14-1.67
    s for scikit-learn's ``KMeans(n_init=50)``, on one thread, with the same splits
    (``benchmarks/restarts.py``). Other k use scikit-learn's ``KMeans(n_init=n_init)``.
    """
    if n_clusters == 2:
        return two_means_restarts(x, n_init, random_state)
    return _fit(KMeans(n_clusters=n_clusters, n_init=n_init, random_state=random_state),
                x).cluster_centers_


def _fit(kmeans: KMeans, x: np.ndarray) -> KMeans:
    """``kmeans.fit(x)``; when ``x`` has fewer distinct points than clusters (a class of
    identical activations, e.g. dead units), each distinct point is a cluster of its own and
    the other clusters stay empty (size 0, never judged poison), without fitting.

    scikit-learn would warn there. The case is detected before fitting rather than the warning
    silenced, because ``warnings.catch_warnings`` is not thread-safe: classes are clustered in
    threads, and one thread leaving it restores the filters under another's feet.
    """
    k = kmeans.n_clusters
    distinct = _distinct_rows(x, k)
    if len(distinct) >= k:
        return kmeans.fit(x)
    labels = np.zeros(len(x), dtype=np.int32)
    for j, row in enumerate(distinct[1:], start=1):
        labels[np.all(x == row, axis=1)] = j
    padding = np.repeat(distinct[:1], k - len(distinct), axis=0)
    kmeans.cluster_centers_ = np.concatenate([distinct, padding]).astype(np.float64)
    kmeans.labels_, kmeans.inertia_, kmeans.n_iter_ = labels, 0.0, 0
    return kmeans


def _distinct_rows(x: np.ndarray, at_most: int) -> np.ndarray:
    """Up to ``at_most`` distinct rows of ``x`` (n, d), in order of first appearance: one
    O(n d) pass per row found."""
    found = []
    rest = x
    while len(rest) and len(found) < at_most:
        found.append(rest[0])
        if len(found) < at_most:
            rest = rest[np.any(rest != rest[0], axis=1)]
    return np.array(found).reshape(len(found), x.shape[1])


def best_of_restarts(x: np.ndarray, n_clusters: int, n_init: int, random_state: int, *,
                     sample_size: int = RESTART_SAMPLE_SIZE,
                     centres: np.ndarray | None = None) -> KMeans:
    """The k-means of lowest inertia over ``n_init`` seeded restarts, for a class of any size.

    The restarts (:func:`screen_restarts`) run on the whole class if it has at most
    ``sample_size`` samples, else on a seeded subsample of ``sample_size`` samples
    (:func:`restart_subsample`). The best solution is then refined on all samples by
    scikit-learn's ``KMeans(init=centres)`` (the subsample-then-refine scheme of
    Bradley and Fayyad, "Refining initial points for k-means clustering", 1998). The chance that
    one restart finds a 10% poison split does not grow with n, so restarts on all 100,000
    samples of a class buy little that restarts on 5,000 do not, at 14 times the cost
    (scikit-learn's 50 restarts took 1.36 s per class at 100,000 x 10 and 0.095 s at 5,000, on
    one core of this machine).

    Parameters
    ----------
    x
        (n, d) reduced activations of one class.
    n_clusters, n_init, random_state
        k, restarts, seed.
    sample_size
        Largest class fitted directly, and the subsample size above it; 0: always direct.
    centres
        (k, d) result of :func:`screen_restarts` on ``x[restart_subsample(...)]``, when it was
        computed already (the streaming detector runs it while the other rows are reduced).

    Returns
    -------
    sklearn.cluster.KMeans
        The fitted estimator (``labels_``, ``cluster_centers_``, ``inertia_`` on all of ``x``).
    """
    if centres is None:
        pick = restart_subsample(len(x), n_clusters, random_state, sample_size)
        centres = screen_restarts(x if pick is None else x[pick], n_clusters, n_init,
                                  random_state)
    return _fit(KMeans(n_clusters=n_clusters, init=centres, n_init=1,
                       random_state=random_state), x)


def silhouette_samples(x: np.ndarray, labels: np.ndarray, n_clusters: int, *,
                       chunk: int = 256) -> np.ndarray:
    """(m,) silhouette coefficient of each sample of ``x`` (m, d) under ``labels`` (m,).

    The definition of :func:`sklearn.metrics.silhouette_samples` (Euclidean; 0 for a sample
    alone in its cluster; clusters absent from ``labels`` ignored), computed with one matmul per
    ``chunk`` rows instead of scikit-learn's per-sample loop. The distances are computed in
    float32 from the centred data (half the time of float64: 0.037 s against 0.075 s at
    m = 5000, d = 10, on one core of this machine); the result matches scikit-learn to about
    1e-6. Memory: one (chunk, m) float32 block.
    """
    m = len(x)
    x = np.asarray(x - x.mean(axis=0), dtype=np.float32)  # centred: no cancellation in float32
    present = np.bincount(labels, minlength=n_clusters).astype(np.float64)
    onehot = (labels[:, None] == np.arange(n_clusters)).astype(np.float32)
    sq = np.einsum("ij,ij->i", x, x)[:, None]
    ones = np.ones_like(sq)
    # |a - b|^2 = [a, |a|^2, 1] . [-2b, 1, |b|^2]: the squared distances come out of one matmul
    left, right = np.hstack([x, sq, ones]), np.hstack([-2.0 * x, ones, sq])
    out = np.empty(m)
    block = np.empty((min(chunk, m), m), dtype=np.float32)
    for a in range(0, m, chunk):
        b = min(a + chunk, m)
        rows = np.arange(b - a)
        d = np.matmul(left[a:b], right.T, out=block[:b - a])
        np.maximum(d, 0.0, out=d)
        d[rows, rows + a] = 0.0
        np.sqrt(d, out=d)
        sums = (d @ onehot).astype(np.float64)
        own = labels[a:b]
        with np.errstate(divide="ignore", invalid="ignore"):
            intra = sums[rows, own] / (present[own] - 1)
            other = sums / present
            other[:, present == 0] = np.inf
            other[rows, own] = np.inf
            inter = other.min(axis=1)
            out[a:b] = np.nan_to_num((inter - intra) / np.maximum(intra, inter))
    return out


def cluster_class(
    label: int,
    indices: np.ndarray,
    reduced: np.ndarray,
    *,
    n_clusters: int = 2,
    n_init: int = 50,
    random_state: int = 0,
    silhouette_sample_size: int = 5000,
    restart_sample_size: int = RESTART_SAMPLE_SIZE,
    centres: np.ndarray | None = None,
) -> ClassClusters:
    """k-means (k-means++ init, ``n_init`` seeded restarts) on one class's reduced activations.

    Many restarts matter: a 10% poison cluster is easy to miss by k-means++ seeding, and on
    MNIST 10 restarts returned a split of higher inertia than the poison/clean split (which 50
    restarts found). Classes of more than ``restart_sample_size`` samples run their restarts on
    a subsample and refine on all samples (:func:`best_of_restarts`; ``centres``: the
    subsample's best centres, when computed already).

    The silhouette is computed on at most ``silhouette_sample_size`` samples (a seeded random
    subset) to keep its O(n^2) cost bounded.
    """
    km = best_of_restarts(reduced, n_clusters, n_init, random_state,
                          sample_size=restart_sample_size, centres=centres)
    assignment = km.labels_.astype(np.int64)
    sil = np.full(n_clusters, np.nan)
    if len(np.unique(assignment)) > 1:
        rng = np.random.default_rng(random_state)
        pick = (rng.choice(len(reduced), silhouette_sample_size, replace=False)
                if len(reduced) > silhouette_sample_size else np.arange(len(reduced)))
        if len(np.unique(assignment[pick])) > 1:
            per_sample = silhouette_samples(reduced[pick], assignment[pick], n_clusters)
            for c in range(n_clusters):
                members = assignment[pick] == c
                if members.any():
                    sil[c] = per_sample[members].mean()
    return ClassClusters(label=int(label), indices=indices, reduced=reduced,
                         assignment=assignment, centers=km.cluster_centers_, silhouette=sil)
