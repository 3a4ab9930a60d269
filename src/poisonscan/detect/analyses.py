"""Cluster analyses: deciding which clusters are poison. A small registry of pluggable rules.

Every analysis judges the *candidate* clusters of each class (all but the largest) and returns one
:class:`Finding` per candidate: the statistic it computed, the threshold it compared it with, and
the verdict. Add one by subclassing :class:`Analysis` and decorating it with :func:`register`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..errors import InputError
from .chunks import take_rows
from .cluster import ClassClusters
from .result import Vote

__all__ = ["ANALYSES", "Analysis", "Finding", "Reclassifier", "register"]

Reclassifier = Callable[[np.ndarray, np.ndarray], np.ndarray]
"""``reclassifier(keep, query) -> predictions``: train a fresh model on the samples where the
(N,) bool mask ``keep`` is True, and return its (M,) predicted labels for the (M,) indices
``query``."""


#: Most classes listed in :attr:`Finding.votes`.
MAX_VOTES = 5


@dataclass(frozen=True)
class Finding:
    """One analysis's verdict on one candidate cluster.

    ``is_poison`` is ``statistic <= threshold`` or ``statistic >= threshold`` as ``rule`` says.
    ``votes`` (exclusionary reclassification only) is the evidence behind ``l/p``: what the
    retrained model called the cluster's samples, most common class first (at most
    :data:`MAX_VOTES` classes), so a reader can see how many samples a verdict rests on.
    """

    label: int
    cluster: int
    statistic: float
    threshold: float
    rule: str
    is_poison: bool
    suspected_source: int | None = None
    votes: tuple[Vote, ...] | None = None


@dataclass(frozen=True)
class AnalysisInput:
    """What every analysis may use: the clustered classes and the full-dimensional data."""

    classes: list[ClassClusters]
    activations: np.ndarray
    labels: np.ndarray
    reclassifier: Reclassifier | None


class Analysis:
    """Base class: ``name`` and ``statistic_name`` identify it; ``analyze`` judges candidates."""

    name: ClassVar[str]
    statistic_name: ClassVar[str]

    def __init__(self, threshold: float, size_threshold: float) -> None:
        self.threshold = threshold
        self.size_threshold = size_threshold

    def analyze(self, data: AnalysisInput) -> list[Finding]:
        raise NotImplementedError


ANALYSES: dict[str, type[Analysis]] = {}


def register(cls: type[Analysis]) -> type[Analysis]:
    """Class decorator adding an analysis to :data:`ANALYSES` under its ``name``."""
    ANALYSES[cls.name] = cls
    return cls


@register
class ExclusionaryReclassification(Analysis):
    """The paper's analysis: retrain without the candidate clusters, then classify them.

    For a candidate of class ``l``: ``l`` = how many of its samples the new model puts in ``l``,
    ``p`` = the largest count for any other class ``C``. Poison iff ``l / p <= T``; ``C`` is then
    the suspected source class. Legitimate sub-populations are still recognised as ``l``;
    poison, whose trigger is no longer taught, is recognised as what it really shows.

    Retraining once per candidate (as the paper describes) costs one training per class, so
    the screening round retrains once without *every* candidate. On data with many classes
    that removes a large share of the training set (GTSRB, 43 classes: about 40%), and the
    weakened model misreads some legitimate clusters. Suspects (candidates the screening judges
    poison) are therefore confirmed by a second retraining without the candidates of the
    suspected classes only: the other classes' candidates are back in the training set, so the
    model is close to the one the paper's per-class retraining would give, and a suspect stays
    poison only if it is still recognised as another class. Within a suspected class every
    candidate stays out, as in the screening: poison left in a sibling cluster (with k > 2)
    would otherwise teach the trigger again. The confirmation is skipped when it would exclude
    the same clusters as the screening.
    """

    name = "exclusionary-reclassification"
    statistic_name = "l/p"

    def analyze(self, data: AnalysisInput) -> list[Finding]:
        if data.reclassifier is None:
            raise InputError("analysis 'exclusionary-reclassification' needs a reclassifier "
                             "(a function that retrains on a subset); poisonscan.scan() builds "
                             "one. Pass reclassifier=... or choose another analysis.")
        groups = [(cc, c, cc.indices[cc.assignment == c]) for cc in data.classes
                  for c in cc.candidates]
        if not groups:
            return []
        findings = self._round(data, groups)
        suspected = {f.label for f in findings if f.is_poison}
        retest = [g for g in groups if g[0].label in suspected]
        if retest and len(retest) < len(groups):
            confirmed = {(f.label, f.cluster): f for f in self._round(data, retest)}
            findings = [confirmed.get((f.label, f.cluster), f) for f in findings]
        return findings

    def _round(self, data: AnalysisInput, groups: list) -> list[Finding]:
        """Retrain without every cluster of ``groups``, then judge each of them."""
        keep = np.ones(len(data.labels), dtype=bool)
        for _, _, idx in groups:
            keep[idx] = False
        query = np.concatenate([idx for _, _, idx in groups])
        predictions = data.reclassifier(keep, query)
        n_classes = int(max(data.labels.max(), predictions.max())) + 1
        findings, start = [], 0
        for cc, c, idx in groups:
            counts = np.bincount(predictions[start:start + len(idx)], minlength=n_classes)
            start += len(idx)
            order = np.argsort(-counts, kind="stable")[:MAX_VOTES]
            votes = tuple(Vote(int(k), int(counts[k])) for k in order if counts[k] > 0)
            own = int(counts[cc.label])
            counts[cc.label] = -1
            other = int(np.argmax(counts))
            ratio = own / counts[other] if counts[other] > 0 else float("inf")
            poison = bool(ratio <= self.threshold)
            findings.append(Finding(cc.label, c, float(ratio), self.threshold, "<=", poison,
                                    other if poison else None, votes))
        return findings


@register
class RelativeSize(Analysis):
    """Poison iff the cluster holds at most ``size_threshold`` of its class.

    Cheap but blind: a clean class with an uneven split is flagged too.
    """

    name = "relative-size"
    statistic_name = "relative size"

    def analyze(self, data: AnalysisInput) -> list[Finding]:
        out = []
        for cc in data.classes:
            for c in cc.candidates:
                rel = float(cc.sizes[c] / cc.sizes.sum())
                out.append(Finding(cc.label, c, rel, self.size_threshold, "<=",
                                   rel <= self.size_threshold))
        return out


@register
class Silhouette(Analysis):
    """Poison iff the cluster's mean silhouette is >= ``threshold`` (well separated) and it
    holds at most ``size_threshold`` of its class."""

    name = "silhouette"
    statistic_name = "silhouette"

    def analyze(self, data: AnalysisInput) -> list[Finding]:
        out = []
        for cc in data.classes:
            for c in cc.candidates:
                sil = float(np.nan_to_num(cc.silhouette[c], nan=-1.0))
                small = cc.sizes[c] / cc.sizes.sum() <= self.size_threshold
                out.append(Finding(cc.label, c, sil, self.threshold, ">=",
                                   bool(small and sil >= self.threshold)))
        return out


@register
class Distance(Analysis):
    """Poison iff the cluster's centroid, in the full activation space, is closer to another
    class's main cluster than to its own class's main cluster by the factor ``threshold``.

    The statistic is ``d_own / d_nearest_other`` (poison iff >= threshold); the nearest other
    class is the suspected source.
    """

    name = "distance"
    statistic_name = "d_own/d_other"

    def analyze(self, data: AnalysisInput) -> list[Finding]:
        acts = data.activations
        main = {cc.label: take_rows(acts, cc.indices[cc.assignment == cc.majority])
                .mean(0, dtype=np.float64) for cc in data.classes}
        out = []
        for cc in data.classes:
            others = [lab for lab in main if lab != cc.label]
            if not others:
                continue
            other_centres = np.stack([main[lab] for lab in others])
            for c in cc.candidates:
                centre = take_rows(acts, cc.indices[cc.assignment == c]).mean(0, dtype=np.float64)
                d_own = float(np.linalg.norm(centre - main[cc.label]))
                d_other = np.linalg.norm(other_centres - centre, axis=1)
                nearest = int(np.argmin(d_other))
                ratio = d_own / max(float(d_other[nearest]), 1e-12)
                poison = bool(ratio >= self.threshold)
                out.append(Finding(cc.label, c, ratio, self.threshold, ">=", poison,
                                   others[nearest] if poison else None))
        return out
