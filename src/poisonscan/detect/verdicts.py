"""Verdict levels: how strong the evidence against a cluster is.

An analysis answers yes or no for each candidate cluster (:class:`~.analyses.Finding`). The
paper stops there, and a "yes" resting on 2 votes of 3 samples, on a model that reads the
cluster half as its label, or on a cluster of half its class, is shown as certainly as one
resting on 1,280 votes to 2. With ``verdict_rule="graded"`` (the default) a "yes" is a
**poison** cluster only when the evidence is strong on every count below, and **suspicious**
otherwise; the reasons it is weak are kept. Only poison clusters are flagged (and relabelled by
``repair``, and fail ``scan --fail-on-poison``); suspicious ones are shown to the reader.

The rule (stated in ``docs/verdicts.md`` before it was measured on the development cases of
``benchmarks/grid/dev.toml``, and the same for every data set):

- ``votes``: the suspected source got at least :data:`MIN_VOTES` of the cluster's samples
  (a handful of samples is never called poison on a handful of votes);
- ``majority``: it got at least :data:`MIN_MAJORITY` of them (poison, its trigger untaught,
  is read as its one true class; a look-alike cluster's votes spread);
- ``margin``: ``l/p`` is at most :data:`STRONG_RATIO` times the threshold (the retrained model
  reads the cluster as the source at least twice as often as its label, at ``T = 1``);
- ``share``: the cluster holds at most :data:`MAX_SHARE` of its class (poison above a third
  of its class is unusual; a split near half the class is the mark of an uneven clean class).

Analyses without votes (``relative-size``, ``silhouette``, ``distance``) are graded on the
cluster's size (at least :data:`MIN_VOTES` samples) and share only.
"""

from __future__ import annotations

from .analyses import Finding

__all__ = ["LEVELS", "MAX_SHARE", "MIN_MAJORITY", "MIN_VOTES", "STRONG_RATIO", "VERDICT_RULES",
           "grade"]

#: How findings become levels: ``graded`` (this module) or ``paper`` (every yes is poison).
VERDICT_RULES = ("graded", "paper")
#: A candidate cluster's level; the largest cluster of a class has none.
LEVELS = ("poison", "suspicious", "legitimate")

MIN_VOTES = 10
MIN_MAJORITY = 0.5
STRONG_RATIO = 0.5
MAX_SHARE = 0.4


def grade(finding: Finding, size: int, class_size: int,
          rule: str = "graded") -> tuple[str, tuple[str, ...]]:
    """The level of one judged cluster and, when it is only suspicious, why.

    Parameters
    ----------
    finding
        The analysis's verdict on the cluster.
    size, class_size
        Samples in the cluster and in its class.
    rule
        ``"graded"`` or ``"paper"`` (see :data:`VERDICT_RULES`).

    Returns
    -------
    level : str
        ``"poison"``, ``"suspicious"`` or ``"legitimate"``.
    reasons : tuple of str
        Why the evidence is weak (empty unless ``level == "suspicious"``).
    """
    if not finding.is_poison:
        return "legitimate", ()
    if rule == "paper":
        return "poison", ()
    weak = []
    share = size / class_size
    if finding.votes is not None:
        source = next((v.count for v in finding.votes if v.label == finding.suspected_source), 0)
        if source < MIN_VOTES:
            weak.append(f"only {source} vote{'s' * (source != 1)} for the suspected source "
                        f"(fewer than {MIN_VOTES})")
        if source < MIN_MAJORITY * size:
            weak.append(f"the suspected source has {source} of the {size} votes (less than "
                        f"{MIN_MAJORITY:.0%})")
        if finding.statistic > STRONG_RATIO * finding.threshold:
            weak.append(f"l/p {finding.statistic:.2f} is above {STRONG_RATIO:g} x the threshold "
                        f"{finding.threshold:g}")
    elif size < MIN_VOTES:
        weak.append(f"only {size} sample{'s' * (size != 1)} (fewer than {MIN_VOTES})")
    if share > MAX_SHARE:
        weak.append(f"the cluster holds {share:.0%} of its class (over {MAX_SHARE:.0%})")
    return ("suspicious", tuple(weak)) if weak else ("poison", ())
