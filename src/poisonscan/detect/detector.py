"""``ActivationClustering``: per-class reduction, k-means, and a cluster analysis."""

from __future__ import annotations

from typing import Any

import numpy as np
from tqdm.auto import tqdm

from .._validation import check_choice, check_int, check_real, suggest
from ..data.dataset import check_labels
from ..errors import InputError
from .analyses import ANALYSES, AnalysisInput, Finding, Reclassifier
from .cluster import ClassClusters, cluster_class
from .reduce import REDUCERS, reduce
from .result import ClassReport, ClusterReport, DetectionResult

__all__ = ["ActivationClustering"]


class ActivationClustering:
    """Activation Clustering (Chen et al. 2018): find the poison cluster of each class.

    The activations are split by class (training label, or predicted label as in the paper's
    Algorithm 1); each class is reduced (``ica`` to 10 dimensions by default) and clustered with
    k-means; an analysis then judges every cluster but the largest. A class none of whose clusters
    is judged poison is reported ``"clean"``.

    Parameters
    ----------
    reduce : {"ica", "pca", "none"}
        Reduction of each class (see :mod:`poisonscan.detect.reduce` for how ICA is scaled).
    n_components : int
        Reduced dimension.
    n_clusters : int
        k of k-means, >= 2.
    n_init : int
        Seeded k-means++ restarts; the split of lowest inertia is kept.
    analysis : {"exclusionary-reclassification", "relative-size", "silhouette", "distance"}
        How clusters are judged (see :mod:`poisonscan.detect.analyses`).
    reclassification_threshold : float
        T of exclusionary reclassification: poison iff l/p <= T.
    size_threshold : float
        Largest relative size of a poison cluster for ``relative-size`` and ``silhouette``.
    silhouette_threshold : float
        Smallest silhouette of a poison cluster for ``silhouette``.
    distance_threshold : float
        Smallest d_own/d_other of a poison cluster for ``distance``.
    segment_by : {"label", "prediction"}
        Split the data by training label or by the model's prediction.
    silhouette_sample_size : int
        Samples per class used for the silhouette (seeded subset).
    random_state : int
        Seed of ICA/PCA and k-means.
    """

    _constraints: dict[str, Any] = {
        "reduce": list(REDUCERS), "analysis": list(ANALYSES),
        "segment_by": ["label", "prediction"],
        "n_components": (1, None), "n_clusters": (2, None), "n_init": (1, None),
        "silhouette_sample_size": (10, None), "random_state": (0, None),
        "reclassification_threshold": (0.0, None), "size_threshold": (0.0, 1.0),
        "silhouette_threshold": (-1.0, 1.0), "distance_threshold": (0.0, None),
    }

    def __init__(self, *, reduce: str = "ica", n_components: int = 10, n_clusters: int = 2,
                 n_init: int = 50, analysis: str = "exclusionary-reclassification",
                 reclassification_threshold: float = 1.0, size_threshold: float = 0.35,
                 silhouette_threshold: float = 0.10, distance_threshold: float = 1.0,
                 segment_by: str = "label", silhouette_sample_size: int = 5000,
                 random_state: int = 0) -> None:
        self.reduce = reduce
        self.n_components = n_components
        self.n_clusters = n_clusters
        self.n_init = n_init
        self.analysis = analysis
        self.reclassification_threshold = reclassification_threshold
        self.size_threshold = size_threshold
        self.silhouette_threshold = silhouette_threshold
        self.distance_threshold = distance_threshold
        self.segment_by = segment_by
        self.silhouette_sample_size = silhouette_sample_size
        self.random_state = random_state

    # -- scikit-learn style parameter handling ---------------------------------------------
    def get_params(self) -> dict[str, Any]:
        """The hyperparameters as a dict."""
        return {name: getattr(self, name) for name in self._constraints}

    def set_params(self, **params: Any) -> "ActivationClustering":
        """Set hyperparameters; an unknown name fails with a suggestion."""
        for name, value in params.items():
            if name not in self._constraints:
                raise InputError(f"unknown parameter {name!r} for ActivationClustering."
                                 + suggest(name, self._constraints))
            setattr(self, name, value)
        return self

    def _validate_params(self) -> None:
        for name, rule in self._constraints.items():
            value = getattr(self, name)
            if isinstance(rule, list):
                check_choice(name, value, rule)
            elif isinstance(rule[0], int):
                check_int(name, value, low=rule[0], high=rule[1])
            else:
                check_real(name, value, low=rule[0], high=rule[1])

    # -- detection -------------------------------------------------------------------------
    def fit_detect(self, activations: np.ndarray, labels: np.ndarray, *,
                   predictions: np.ndarray | None = None,
                   reclassifier: Reclassifier | None = None,
                   progress: bool = False) -> DetectionResult:
        """Cluster each class of ``activations`` and judge the clusters.

        Parameters
        ----------
        activations
            (N, D) activations (any float dtype; a ``np.memmap`` works).
        labels
            (N,) int training labels.
        predictions
            (N,) int model predictions; required when ``segment_by="prediction"``.
        reclassifier
            Required by ``exclusionary-reclassification`` (see
            :data:`poisonscan.detect.analyses.Reclassifier`).
        progress
            Show a progress bar over classes.

        Returns
        -------
        DetectionResult
            Also stored as ``self.result_``; the per-class clusterings as ``self.classes_``.
        """
        self._validate_params()
        acts = self._check_activations(activations)
        labels = check_labels("labels", labels, n=len(acts), n_name="activations")
        segments = labels
        if self.segment_by == "prediction":
            if predictions is None:
                raise InputError("segment_by='prediction' needs the model's predictions.")
            segments = check_labels("predictions", predictions, n=len(acts), n_name="activations")
        present = self.check_segments(segments)
        self.classes_ = [self._cluster(int(c), np.flatnonzero(segments == c), acts)
                         for c in tqdm(present, desc="cluster", unit="class",
                                       disable=not progress, leave=False)]
        analysis = ANALYSES[self.analysis](self._threshold(), self.size_threshold)
        findings = analysis.analyze(AnalysisInput(self.classes_, acts, labels, reclassifier))
        self.result_ = self._assemble(len(acts), findings)
        return self.result_

    def check_segments(self, segments: np.ndarray) -> np.ndarray:
        """Check that there are >= 2 classes, each large enough to reduce and cluster.

        Returns the sorted class labels. Called by :func:`poisonscan.scan` before training, so
        bad data fails fast.
        """
        present, counts = np.unique(segments, return_counts=True)
        if len(present) < 2:
            raise InputError(f"activation clustering needs at least 2 classes; the data has only "
                             f"class {present.tolist()}.")
        need = max(self.n_components if self.reduce != "none" else 0, self.n_clusters) + 1
        small = [(int(c), int(n)) for c, n in zip(present, counts) if n < need]
        if small:
            raise InputError(f"class {small[0][0]} has {small[0][1]} samples; each class needs at "
                             f"least {need} (n_components={self.n_components}, n_clusters="
                             f"{self.n_clusters}). Lower --n-components or drop the class.")
        return present

    def _check_activations(self, activations: np.ndarray) -> np.ndarray:
        acts = activations if isinstance(activations, np.ndarray) else np.asarray(activations)
        if acts.ndim != 2:
            raise InputError(f"activations must be a 2-D (N, D) array; got shape {acts.shape}.")
        if acts.dtype.kind != "f":
            acts = acts.astype(np.float32)
        if not np.isfinite(acts).all():
            raise InputError("activations contain NaN or inf values.")
        return acts

    def _threshold(self) -> float:
        return {"exclusionary-reclassification": self.reclassification_threshold,
                "silhouette": self.silhouette_threshold,
                "distance": self.distance_threshold}.get(self.analysis, self.size_threshold)

    def _cluster(self, label: int, indices: np.ndarray, acts: np.ndarray) -> ClassClusters:
        reduced = reduce(acts[indices], self.reduce, n_components=self.n_components,
                         random_state=self.random_state)
        return cluster_class(label, indices, reduced, n_clusters=self.n_clusters,
                             n_init=self.n_init, random_state=self.random_state,
                             silhouette_sample_size=self.silhouette_sample_size)

    def _assemble(self, n: int, findings: list[Finding]) -> DetectionResult:
        by_cluster = {(f.label, f.cluster): f for f in findings}
        is_poison = np.zeros(n, dtype=bool)
        score = np.zeros(n)
        cluster = np.zeros(n, dtype=np.int64)
        source = np.full(n, -1, dtype=np.int64)
        reports = []
        for cc in self.classes_:
            cluster[cc.indices] = cc.assignment
            score[cc.indices] = cc.margin()
            sizes = cc.sizes
            clusters = []
            for c in range(len(cc.centers)):
                f = by_cluster.get((cc.label, c))
                poison = bool(f is not None and f.is_poison)
                if poison:
                    members = cc.indices[cc.assignment == c]
                    is_poison[members] = True
                    source[members] = -1 if f.suspected_source is None else f.suspected_source
                clusters.append(ClusterReport(
                    cluster=c, size=int(sizes[c]), relative_size=float(sizes[c] / sizes.sum()),
                    silhouette=float(cc.silhouette[c]), is_poison=poison,
                    statistic=None if f is None else f.statistic,
                    threshold=None if f is None else f.threshold,
                    rule=None if f is None else f.rule,
                    suspected_source=None if f is None else f.suspected_source))
            verdict = "poisoned" if any(c.is_poison for c in clusters) else "clean"
            reports.append(ClassReport(cc.label, int(sizes.sum()), verdict, tuple(clusters)))
        return DetectionResult(is_poison=is_poison, score=score, cluster=cluster,
                               suspected_source=source, classes=tuple(reports),
                               params=self.get_params())
