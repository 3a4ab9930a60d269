"""Clustering one class's reduced activations, and the per-sample figures that follow."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.cluster import KMeans

__all__ = ["ClassClusters", "RESTART_BUDGET", "MIN_RESTARTS", "cluster_class", "restarts_for",
           "silhouette_samples"]

#: Default cap on k-means work per class, in restarts x samples: 0, no cap (see
#: :func:`restarts_for` for why).
RESTART_BUDGET = 0
#: Fewest restarts a large class gets under a budget.
MIN_RESTARTS = 5


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

    @property
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

    def margin(self) -> np.ndarray:
        """(n,) how far each sample sits towards a minority cluster, in (-1, 1).

        ``(d_major - d_minor) / (d_major + d_minor)`` with ``d_major`` the distance to the
        largest cluster's centre and ``d_minor`` to the nearest other centre; > 0 inside a
        minority cluster.
        """
        d = np.linalg.norm(self.reduced[:, None, :] - self.centers[None, :, :], axis=2)
        d_major = d[:, self.majority].copy()
        d[:, self.majority] = np.inf
        d_minor = d.min(axis=1) if len(self.centers) > 1 else d_major
        return (d_major - d_minor) / np.maximum(d_major + d_minor, 1e-12)


def restarts_for(n_samples: int, n_init: int, restart_budget: int = RESTART_BUDGET) -> int:
    """k-means restarts for a class of ``n_samples``: ``n_init``, or fewer under an opt-in cap.

    Every restart runs k-means++ seeding and Lloyd's iterations on *all* the class's samples, so
    its cost grows with n (about 30 ms per restart at 100,000 x 10 on one core, so 1.5 s per
    class for 50). With ``restart_budget > 0`` a class gets the full ``n_init`` while
    ``n_samples * n_init`` is within the budget, else ``restart_budget // n_samples`` restarts,
    at least :data:`MIN_RESTARTS` (never more than ``n_init``). No restart is fitted on a
    subsample. The cap is off by default because it changes the answer: the chance that one
    restart finds the poison split does not grow with n (5% to 40% per class on the 1M x 512
    benchmark of ``benchmarks/scale.py``), and with a budget of 500,000 (5 restarts at 100,000
    samples) one class of ten lost its poison cluster (F1 0.73 instead of 1.00).

    Parameters
    ----------
    n_samples
        Samples in the class.
    n_init
        Requested restarts.
    restart_budget
        Most restarts x samples per class; 0 for no cap.

    Returns
    -------
    int
        Restarts to run, in ``[min(n_init, MIN_RESTARTS), n_init]``.
    """
    if restart_budget <= 0 or n_samples * n_init <= restart_budget:
        return int(n_init)
    return int(min(n_init, max(MIN_RESTARTS, restart_budget // max(1, n_samples))))


def silhouette_samples(x: np.ndarray, labels: np.ndarray, n_clusters: int, *,
                       chunk: int = 256) -> np.ndarray:
    """(m,) silhouette coefficient of each sample of ``x`` (m, d) under ``labels`` (m,).

    The definition of :func:`sklearn.metrics.silhouette_samples` (Euclidean; 0 for a sample
    alone in its cluster; clusters absent from ``labels`` ignored), computed with one matmul per
    ``chunk`` rows instead of scikit-learn's per-sample loop: 6x faster at m = 5000, equal to
    1e-14. Memory: one (chunk, m) float64 block.
    """
    m = len(x)
    present = np.bincount(labels, minlength=n_clusters).astype(np.float64)
    onehot = (labels[:, None] == np.arange(n_clusters)).astype(np.float64)
    sq = np.einsum("ij,ij->i", x, x)
    out = np.empty(m)
    block = np.empty((min(chunk, m), m))
    for a in range(0, m, chunk):
        b = min(a + chunk, m)
        rows = np.arange(b - a)
        d = np.matmul(x[a:b], x.T, out=block[:b - a])
        d *= -2.0
        d += sq[a:b, None]
        d += sq
        np.maximum(d, 0.0, out=d)
        d[rows, rows + a] = 0.0
        np.sqrt(d, out=d)
        sums = d @ onehot
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
    restart_budget: int = 0,
) -> ClassClusters:
    """k-means (k-means++ init, ``n_init`` seeded restarts) on one class's reduced activations.

    Many restarts matter: a 10% poison cluster is easy to miss by k-means++ seeding, and on
    MNIST 10 restarts returned a split of higher inertia than the poison/clean split (which 50
    restarts found). Each restart costs milliseconds at this size.

    The silhouette is computed on at most ``silhouette_sample_size`` samples (a seeded random
    subset) to keep its O(n^2) cost bounded.

    ``restart_budget`` > 0 caps the restarts of a very large class (:func:`restarts_for`); the
    default 0 runs exactly ``n_init``. :class:`~poisonscan.detect.ActivationClustering` passes
    its own ``restart_budget`` (500,000 by default).
    """
    n_init = restarts_for(len(reduced), n_init, restart_budget)
    km = KMeans(n_clusters=n_clusters, n_init=n_init, random_state=random_state).fit(reduced)
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
