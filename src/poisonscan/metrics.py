"""Detection quality against ground truth, and attack metrics of a model."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

__all__ = ["DetectionMetrics", "Evaluation", "detection_metrics", "evaluate_detection",
           "attack_success_rate"]


@dataclass(frozen=True)
class DetectionMetrics:
    """Confusion counts and rates of flagged-vs-poison.

    Conventions for empty denominators: with nothing to find, recall (TPR) is 1; with nothing
    flagged, precision is 1 if there was nothing to find and 0 otherwise; with no clean
    samples, FPR is 0.
    """

    tp: int
    fp: int
    fn: int
    tn: int

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else float(self.fn == 0)

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    tpr = recall

    @property
    def fpr(self) -> float:
        return self.fp / (self.fp + self.tn) if self.fp + self.tn else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    @property
    def accuracy(self) -> float:
        n = self.tp + self.fp + self.fn + self.tn
        return (self.tp + self.tn) / n if n else 1.0

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "precision": self.precision, "recall": self.recall,
                "tpr": self.tpr, "fpr": self.fpr, "f1": self.f1, "accuracy": self.accuracy}


def detection_metrics(truth: np.ndarray, flagged: np.ndarray) -> DetectionMetrics:
    """Confusion counts of (N,) bool ``flagged`` against (N,) bool ``truth``."""
    truth, flagged = np.asarray(truth, bool), np.asarray(flagged, bool)
    return DetectionMetrics(tp=int(np.sum(truth & flagged)), fp=int(np.sum(~truth & flagged)),
                            fn=int(np.sum(truth & ~flagged)), tn=int(np.sum(~truth & ~flagged)))


@dataclass(frozen=True)
class Evaluation:
    """Overall and per-class (by training label) detection metrics.

    ``poison_per_cluster`` maps a class to the number of true poison samples in each of its
    clusters (by cluster id), when the clusters were given: it says whether a missed poison
    shared a cluster with clean samples or had one of its own.
    """

    overall: DetectionMetrics
    per_class: dict[int, DetectionMetrics]
    poison_per_cluster: dict[int, tuple[int, ...]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out = {"overall": self.overall.to_dict(),
               "per_class": {str(k): v.to_dict() for k, v in self.per_class.items()}}
        if self.poison_per_cluster:
            out["poison_per_cluster"] = {str(k): list(v)
                                         for k, v in self.poison_per_cluster.items()}
        return out


def evaluate_detection(truth: np.ndarray, flagged: np.ndarray, labels: np.ndarray, *,
                       clusters: np.ndarray | None = None,
                       segments: np.ndarray | None = None) -> Evaluation:
    """Metrics overall and for each class of ``labels``.

    Parameters
    ----------
    truth, flagged
        (N,) bool: the sample is poison; the sample was flagged.
    labels
        (N,) int training labels: the classes the metrics are split by.
    clusters
        (N,) int cluster id of each sample within its class (``DetectionResult.cluster``);
        when given, :attr:`Evaluation.poison_per_cluster` counts the poison in each cluster
        (classes whose ids are -1, too small to cluster, are left out).
    segments
        (N,) int: the classes the detector clustered, when not ``labels`` (the predictions,
        for ``segment_by="prediction"``); only used with ``clusters``.
    """
    truth, flagged, labels = np.asarray(truth, bool), np.asarray(flagged, bool), np.asarray(labels)
    per_class: dict[int, DetectionMetrics] = {}
    for c in np.unique(labels):
        member = labels == c
        per_class[int(c)] = detection_metrics(truth[member], flagged[member])
    per_cluster: dict[int, tuple[int, ...]] = {}
    if clusters is not None:
        clusters = np.asarray(clusters)
        segments = labels if segments is None else np.asarray(segments)
        for name, arr in (("clusters", clusters), ("segments", segments)):
            if arr.shape != truth.shape:
                raise ValueError(f"{name} must have shape {truth.shape} like truth; "
                                 f"got {arr.shape}")
        for c in np.unique(segments):
            member = segments == c
            ids = clusters[member]
            if ids.min() < 0:  # a class too small to cluster: no cluster ids
                continue
            counts = np.bincount(ids[truth[member]], minlength=int(ids.max()) + 1)
            per_cluster[int(c)] = tuple(int(n) for n in counts)
    return Evaluation(detection_metrics(truth, flagged), per_class, per_cluster)


def attack_success_rate(predictions: np.ndarray, targets: np.ndarray) -> float:
    """Share of triggered inputs that the model puts in the attacker's target class."""
    return float(np.mean(predictions == targets)) if len(targets) else float("nan")
