"""Detection quality against ground truth, and attack metrics of a model."""

from __future__ import annotations

from dataclasses import asdict, dataclass
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
    """Overall and per-class (by training label) detection metrics."""

    overall: DetectionMetrics
    per_class: dict[int, DetectionMetrics]

    def to_dict(self) -> dict[str, Any]:
        return {"overall": self.overall.to_dict(),
                "per_class": {str(k): v.to_dict() for k, v in self.per_class.items()}}


def evaluate_detection(truth: np.ndarray, flagged: np.ndarray, labels: np.ndarray) -> Evaluation:
    """Metrics overall and for each class of ``labels`` (N,)."""
    per_class = {int(c): detection_metrics(truth[labels == c], flagged[labels == c])
                 for c in np.unique(labels)}
    return Evaluation(detection_metrics(truth, flagged), per_class)


def attack_success_rate(predictions: np.ndarray, targets: np.ndarray) -> float:
    """Share of triggered inputs that the model puts in the attacker's target class."""
    return float(np.mean(predictions == targets)) if len(targets) else float("nan")
