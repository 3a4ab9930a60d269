"""``ActivationClustering``: per-class reduction, k-means, and a cluster analysis."""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
from joblib import Parallel, delayed, effective_n_jobs
from tqdm.auto import tqdm

from .._validation import check_choice, check_int, check_real, suggest
from ..data.dataset import check_labels
from ..errors import InputError
from .analyses import ANALYSES, AnalysisInput, Finding, Reclassifier
from .chunks import (check_finite, chunk_rows_for, class_positions, split_by_class, take_rows,
                     thread_limits, unique_counts)
from .cluster import (RESTART_SAMPLE_SIZE, ClassClusters, cluster_class, restart_subsample,
                      screen_restarts)
from .reduce import REDUCERS, reduce
from .stream import reduce_classes
from .result import ClassReport, ClusterReport, DetectionResult
from .verdicts import VERDICT_RULES, grade

__all__ = ["ActivationClustering", "PROCESS_CLASSES"]

#: Above this many classes, k-means runs in worker processes instead of threads.
PROCESS_CLASSES = 32


class ActivationClustering:
    """Activation Clustering (Chen et al. 2018): find the poison cluster of each class.

    The activations are split by class (training label, or predicted label as in the paper's
    Algorithm 1); each class is reduced (``ica`` to 10 dimensions by default) and clustered with
    k-means; an analysis then judges every cluster but the largest. A class none of whose clusters
    is judged poison is reported ``"clean"``. A class with too few samples to reduce and cluster
    (fewer than ``n_components + 1``, or ``n_clusters + 1``; see :meth:`min_class_size`) is
    reported ``"too-small"``: it is not judged, and its samples stay in every retraining.

    ``ica`` and ``pca`` are computed by streaming the activations (:mod:`poisonscan.detect.stream`):
    per-class covariances accumulated in float64 over row chunks (by float32 matmuls for float32
    data), their top principal axes, and a projection pass, so no per-class copy of the
    full-dimensional data is made and a ``np.memmap`` of any size works with a bounded memory
    footprint. ``ica`` clusters equal those of FastICA's unit-variance sources (k-means is
    invariant to the orthogonal rotation that is all FastICA adds to the whitened scores; see
    that module). ``none`` clusters the raw varying features and copies one class at a time.

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
    restart_sample_size : int
        Classes with more samples run their ``n_init`` restarts on a seeded subsample of this
        size, then refine the best solution on all samples
        (:func:`poisonscan.detect.cluster.best_of_restarts`); 0 runs every restart on all
        samples.
    verdict_rule : {"graded", "paper"}
        ``graded``: a cluster the analysis calls poison is flagged only when the evidence is
        strong, and is ``suspicious`` (shown, not flagged) otherwise
        (:mod:`poisonscan.detect.verdicts`); ``paper``: every such cluster is flagged.
    """

    _constraints: dict[str, Any] = {
        "reduce": list(REDUCERS), "analysis": list(ANALYSES),
        "segment_by": ["label", "prediction"],
        "n_components": (1, None), "n_clusters": (2, None), "n_init": (1, None),
        "silhouette_sample_size": (10, None), "random_state": (0, None),
        "reclassification_threshold": (0.0, None), "size_threshold": (0.0, 1.0),
        "silhouette_threshold": (-1.0, 1.0), "distance_threshold": (0.0, None),
        "restart_sample_size": (0, None), "verdict_rule": list(VERDICT_RULES),
    }

    def __init__(self, *, reduce: str = "ica", n_components: int = 10, n_clusters: int = 2,
                 n_init: int = 50, analysis: str = "exclusionary-reclassification",
                 reclassification_threshold: float = 1.0, size_threshold: float = 0.35,
                 silhouette_threshold: float = 0.10, distance_threshold: float = 1.0,
                 segment_by: str = "label", silhouette_sample_size: int = 5000,
                 random_state: int = 0,
                 restart_sample_size: int = RESTART_SAMPLE_SIZE,
                 verdict_rule: str = "graded") -> None:
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
        self.restart_sample_size = restart_sample_size
        self.verdict_rule = verdict_rule

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
                   progress: bool = False, chunk_rows: int | None = None,
                   n_jobs: int = -1) -> DetectionResult:
        """Cluster each class of ``activations`` and judge the clusters.

        Parameters
        ----------
        activations
            (N, D) activations (any float dtype). A ``np.memmap`` (e.g. the activation cache of
            :mod:`poisonscan.cache`, or ``np.load(path, mmap_mode="r")``) is read in chunks and
            never loaded whole.
        labels
            (N,) int training labels.
        predictions
            (N,) int model predictions; required when ``segment_by="prediction"``.
        reclassifier
            Required by ``exclusionary-reclassification`` (see
            :data:`poisonscan.detect.analyses.Reclassifier`).
        progress
            Show a progress bar over classes.
        chunk_rows
            Rows read per chunk (default: 32 MiB of float64 rows). Does not change the result.
        n_jobs
            Threads over classes for k-means and for classes with fewer samples than features
            (-1: one per core). Does not change the result.

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
        present, sizes = self._counted_segments(segments)
        chunk = chunk_rows_for(acts.shape[1], chunk_rows)
        judged = sizes >= self.min_class_size()  # the others are reduced (cheaply), no more
        centres: dict[int, np.ndarray] = {}  # k-means restarts run beside the second pass
        if self.reduce == "none":  # the raw features: one class copied at a time
            check_finite(acts, chunk)
            groups = split_by_class(class_positions(segments, present), len(present))
            reduced = (reduce(take_rows(acts, idx), "none") if ok else None
                       for idx, ok in zip(groups, judged))
        else:
            groups, reduced = reduce_classes(acts, segments, present, method=self.reduce,
                                             n_components=self.n_components, chunk_rows=chunk,
                                             n_jobs=n_jobs,
                                             screen=functools.partial(self._screen, centres))
        self.classes_ = self._cluster_all(present, judged, groups, reduced, n_jobs, progress,
                                          centres)
        analysis = ANALYSES[self.analysis](self._threshold(), self.size_threshold)
        findings = analysis.analyze(AnalysisInput(self.classes_, acts, labels, reclassifier))
        too_small = {int(c): int(n) for c, n, ok in zip(present, sizes, judged) if not ok}
        self.result_ = self._assemble(len(acts), findings, too_small)
        return self.result_

    def min_class_size(self) -> int:
        """Fewest samples a class needs to be judged: one more than its reduced dimension and
        than ``n_clusters``. Smaller classes are reported ``"too-small"``."""
        return max(self.n_components if self.reduce != "none" else 0, self.n_clusters) + 1

    def check_segments(self, segments: np.ndarray) -> np.ndarray:
        """Check that there are >= 2 classes and that at least one can be judged (has
        :meth:`min_class_size` samples).

        Returns the sorted class labels. Called by :func:`poisonscan.scan` before training, so
        bad data fails fast.
        """
        return self._counted_segments(segments)[0]

    def _counted_segments(self, segments: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`check_segments`, returning the sorted labels and their sample counts."""
        present, counts = unique_counts(segments)
        if len(present) < 2:
            has = f"only class {present.tolist()}" if len(present) else "no samples"
            raise InputError(f"activation clustering needs at least 2 classes; the data has "
                             f"{has}.")
        need = self.min_class_size()
        if counts.max() < need:
            raise InputError(f"no class has the {need} samples needed to judge it (n_components="
                             f"{self.n_components}, n_clusters={self.n_clusters}); the largest "
                             f"has {int(counts.max())}. Lower --n-components or add data.")
        return present, counts

    def _check_activations(self, activations: np.ndarray) -> np.ndarray:
        acts = activations if isinstance(activations, np.ndarray) else np.asarray(activations)
        if acts.ndim != 2:
            raise InputError(f"activations must be a 2-D (N, D) array; got shape {acts.shape}.")
        if acts.dtype.kind != "f":
            acts = acts.astype(np.float32)
        return acts  # NaN/inf are caught while streaming (by the per-class minima and maxima)

    def _threshold(self) -> float:
        return {"exclusionary-reclassification": self.reclassification_threshold,
                "silhouette": self.silhouette_threshold,
                "distance": self.distance_threshold}.get(self.analysis, self.size_threshold)

    def _screen(self, centres: dict[int, np.ndarray], c: int, n: int, rows_of) -> None:
        """Store in ``centres[c]`` the best of the k-means restarts on the subsample of class
        ``c`` (``n`` samples), if it has one; ``rows_of(positions)`` gives its reduced rows.

        Run by :func:`reduce_classes` while its second pass reduces the other rows, so that
        the restarts overlap the pass instead of following it.
        """
        pick = restart_subsample(n, self.n_clusters, self.random_state,
                                 self.restart_sample_size)
        if pick is not None:
            with thread_limits().limit(limits=1, user_api="openmp"):
                centres[c] = screen_restarts(rows_of(pick), self.n_clusters, self.n_init,
                                             self.random_state)

    def _cluster_all(self, present: np.ndarray, judged: np.ndarray, groups, reduced,
                     n_jobs: int, progress: bool,
                     centres: dict[int, np.ndarray]) -> list[ClassClusters]:
        """k-means of every ``judged`` class, each single-threaded inside (on (n, 10) data extra
        BLAS or OpenMP threads only add overhead: 2.7x slower for 1,200-sample classes here).

        Up to ``PROCESS_CLASSES`` classes run in threads. More classes run in worker processes:
        scikit-learn's k-means releases the GIL for many short steps, and threads then wait on
        each other (200 classes of 1,200 samples: 22.8 s in 2 threads, 9.3 s in one, 5.0 s in
        2 processes).
        """
        n_judged = int(judged.sum())
        workers = min(effective_n_jobs(n_jobs), n_judged)
        params = {"n_clusters": self.n_clusters, "n_init": self.n_init,
                  "random_state": self.random_state,
                  "silhouette_sample_size": self.silhouette_sample_size,
                  "restart_sample_size": self.restart_sample_size}
        jobs = (delayed(_cluster_one)(int(c), idx, red, {**params, "centres": centres.get(i)})
                for i, (c, idx, red, ok) in enumerate(zip(present, groups, reduced, judged))
                if ok)
        with thread_limits().limit(limits=1):
            if workers == 1:
                done = (func(*args, **kwargs) for func, args, kwargs in jobs)
            else:  # loky workers are limited to cores // workers = 1 thread each
                backend = "threads" if n_judged <= PROCESS_CLASSES else "processes"
                done = Parallel(n_jobs=workers, prefer=backend, return_as="generator")(jobs)
            return list(tqdm(done, total=n_judged, desc="cluster", unit="class",
                             disable=not progress, leave=False))

    def _assemble(self, n: int, findings: list[Finding],
                  too_small: dict[int, int]) -> DetectionResult:
        by_cluster = {(f.label, f.cluster): f for f in findings}
        marked = {"poison": np.zeros(n, dtype=bool), "suspicious": np.zeros(n, dtype=bool)}
        score = np.zeros(n)
        cluster = np.full(n, -1, dtype=np.int64)
        source = np.full(n, -1, dtype=np.int64)
        reports = []
        for cc in self.classes_:
            cluster[cc.indices] = cc.assignment
            score[cc.indices] = cc.margin
            sizes = cc.sizes
            clusters = []
            for c in range(len(cc.centers)):
                f = by_cluster.get((cc.label, c))
                level, reasons = (None, ()) if f is None else grade(
                    f, int(sizes[c]), int(sizes.sum()), self.verdict_rule)
                if level in marked:
                    members = cc.indices[cc.assignment == c]
                    marked[level][members] = True
                    source[members] = -1 if f.suspected_source is None else f.suspected_source
                clusters.append(ClusterReport(
                    cluster=c, size=int(sizes[c]), relative_size=float(sizes[c] / sizes.sum()),
                    silhouette=float(cc.silhouette[c]), is_poison=level == "poison",
                    statistic=None if f is None else f.statistic,
                    threshold=None if f is None else f.threshold,
                    rule=None if f is None else f.rule,
                    suspected_source=None if f is None else f.suspected_source,
                    votes=None if f is None else f.votes, level=level, reasons=reasons))
            levels = {cl.level for cl in clusters}
            verdict = ("poisoned" if "poison" in levels
                       else "suspicious" if "suspicious" in levels else "clean")
            reports.append(ClassReport(cc.label, int(sizes.sum()), verdict, tuple(clusters)))
        reports += [ClassReport(label, size, "too-small", ()) for label, size in too_small.items()]
        reports.sort(key=lambda r: r.label)
        return DetectionResult(is_poison=marked["poison"], score=score, cluster=cluster,
                               suspected_source=source, classes=tuple(reports),
                               params=self.get_params(), min_class_size=self.min_class_size(),
                               is_suspicious=marked["suspicious"])

def _cluster_one(label: int, indices: np.ndarray, reduced: np.ndarray,
                 params: dict[str, Any]) -> ClassClusters:
    """:func:`cluster_class` with one OpenMP thread: OpenMP's thread count is a per-thread
    setting, so the limit set around the pool does not reach the pool's threads."""
    with thread_limits().limit(limits=1, user_api="openmp"):
        clusters = cluster_class(label, indices, reduced, **params)
        clusters.margin  # noqa: B018  (computed here, in parallel, and cached)
        return clusters
