"""The detector's output: typed, immutable, convertible to plain dicts for JSON."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

__all__ = ["ClusterReport", "ClassReport", "DetectionResult", "Vote"]


def _finite_or_none(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


@dataclass(frozen=True)
class Vote:
    """``count`` samples of a cluster were classified as ``label`` by a retrained model."""

    label: int
    count: int


@dataclass(frozen=True)
class ClusterReport:
    """One cluster of one class: its size and the analysis's figures about it.

    ``statistic``/``threshold``/``rule`` are None for the largest cluster, which is presumed
    legitimate and not analysed. ``statistic`` may be infinite (exclusionary reclassification
    when no sample was read as another class); :meth:`DetectionResult.to_dict` writes that, and
    a NaN silhouette, as None (JSON null). ``votes``: what the retrained model called the cluster's
    samples (exclusionary reclassification only, see :class:`~.analyses.Finding`).
    """

    cluster: int
    size: int
    relative_size: float
    silhouette: float | None
    is_poison: bool
    statistic: float | None = None
    threshold: float | None = None
    rule: str | None = None
    suspected_source: int | None = None
    votes: tuple[Vote, ...] | None = None
    level: str | None = None
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True)
class ClassReport:
    """The verdict on one class: ``"poisoned"`` if any cluster is poison, else ``"suspicious"``
    if any cluster is suspicious (see :mod:`~.verdicts`), else ``"clean"``; ``"too-small"``
    (and no clusters) if it had too few samples to be clustered and judged."""

    label: int
    n_samples: int
    verdict: str
    clusters: tuple[ClusterReport, ...]

    @property
    def poison_clusters(self) -> list[int]:
        """Ids of the clusters judged poison."""
        return [c.cluster for c in self.clusters if c.is_poison]

    @property
    def suspected_sources(self) -> list[int]:
        """Suspected source classes of the poison clusters, or of the suspicious ones when the
        class is only suspicious (where the analysis gives one)."""
        level = "poison" if self.verdict == "poisoned" else "suspicious"
        return [c.suspected_source for c in self.clusters
                if c.level == level and c.suspected_source is not None]


@dataclass(frozen=True, eq=False)
class DetectionResult:
    """What :meth:`ActivationClustering.fit_detect` found.

    Attributes
    ----------
    is_poison
        (N,) bool: the sample lies in a cluster judged poison.
    score
        (N,) float in (-1, 1): how far the sample sits towards a minority cluster of its class
        (> 0 inside one); rank flagged samples by it.
    cluster
        (N,) int: the sample's cluster id within its class (-1 in a class too small to judge).
    suspected_source
        (N,) int: suspected true class of flagged and suspicious samples, -1 elsewhere or when
        unknown.
    classes
        One :class:`ClassReport` per class, in label order.
    params
        The detector's hyperparameters.
    min_class_size
        Fewest samples a class needed to be judged; smaller ones have verdict ``"too-small"``.
    is_suspicious
        (N,) bool: the sample lies in a cluster judged only suspicious (not flagged).
    """

    is_poison: np.ndarray
    score: np.ndarray
    cluster: np.ndarray
    suspected_source: np.ndarray
    classes: tuple[ClassReport, ...]
    params: dict[str, Any] = field(default_factory=dict)
    min_class_size: int = 0
    is_suspicious: np.ndarray = None  # type: ignore[assignment]  (all False when not given)

    def __post_init__(self) -> None:
        if self.is_suspicious is None:
            object.__setattr__(self, "is_suspicious", np.zeros_like(self.is_poison))

    def downgraded(self, reason: str) -> "DetectionResult":
        """This result with every poison cluster only suspicious, for ``reason`` (e.g. the
        model was not fit to be judged): nothing is flagged."""
        classes = tuple(replace(c, verdict="suspicious" if c.verdict == "poisoned" else c.verdict,
                                clusters=tuple(replace(cl, is_poison=False, level="suspicious",
                                                       reasons=(*cl.reasons, reason))
                                               if cl.is_poison else cl for cl in c.clusters))
                        for c in self.classes)
        return replace(self, is_poison=np.zeros_like(self.is_poison), classes=classes,
                       is_suspicious=self.is_suspicious | self.is_poison)

    @property
    def flagged_indices(self) -> np.ndarray:
        """Sorted indices of the flagged samples."""
        return np.flatnonzero(self.is_poison)

    @property
    def poisoned_classes(self) -> list[int]:
        """Labels of the classes with a poison cluster."""
        return [c.label for c in self.classes if c.verdict == "poisoned"]

    @property
    def suspicious_classes(self) -> list[int]:
        """Labels of the classes with a suspicious cluster and no poison cluster."""
        return [c.label for c in self.classes if c.verdict == "suspicious"]

    def to_frame(self, labels: np.ndarray | None = None) -> Any:
        """One row per sample as a :class:`pandas.DataFrame`.

        Parameters
        ----------
        labels
            (N,) labels of the samples (e.g. ``data.y``); adds a ``label`` column.

        Returns
        -------
        pandas.DataFrame
            Columns ``index``, ``label`` (when given), ``is_poison``, ``score``, ``cluster``,
            ``suspected_source`` (-1 where unknown). Sort by ``score`` to rank samples.

        Raises
        ------
        ImportError
            pandas is not installed (it is optional: ``pip install pandas``).
        """
        try:
            import pandas as pd  # noqa: PLC0415
        except ImportError as exc:
            raise ImportError("DetectionResult.to_frame() needs pandas, which poisonscan does "
                              "not install; run 'pip install pandas' or use to_dict().") from exc
        n = len(self.is_poison)
        columns: dict[str, np.ndarray] = {"index": np.arange(n)}
        if labels is not None:
            labels = np.asarray(labels)
            if labels.shape != (n,):
                raise ValueError(f"labels must have shape ({n},); got {labels.shape}")
            columns["label"] = labels
        columns.update(is_poison=self.is_poison, score=self.score, cluster=self.cluster,
                       suspected_source=self.suspected_source)
        return pd.DataFrame(columns)

    def to_dict(self) -> dict[str, Any]:
        """Plain-Python summary (no per-sample arrays except ``flagged_indices``), JSON-ready."""
        classes = []
        for c in self.classes:
            d = asdict(c)
            for cl in d["clusters"]:
                cl["statistic"] = _finite_or_none(cl["statistic"])
                cl["silhouette"] = _finite_or_none(cl["silhouette"])
            d["poison_clusters"] = c.poison_clusters
            classes.append(d)
        return {
            "n_samples": int(len(self.is_poison)),
            "n_flagged": int(self.is_poison.sum()),
            "poisoned_classes": self.poisoned_classes,
            "n_suspicious": int(self.is_suspicious.sum()),
            "suspicious_classes": self.suspicious_classes,
            "min_class_size": self.min_class_size,
            "flagged_indices": self.flagged_indices.tolist(),
            "suspicious_indices": np.flatnonzero(self.is_suspicious).tolist(),
            "classes": classes,
            "params": dict(self.params),
        }
