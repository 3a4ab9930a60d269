"""The building blocks of ``report.html``: HTML tables, and each cluster's figures against the
analysis's threshold as text (``l/p = 0.0256 \u2264 1``, ``read as 14 'stop': 248``), with its
level (poison, suspicious, legitimate) and, for a suspicious cluster, why its evidence is weak."""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape
from typing import Any

from ..detect.analyses import ANALYSES
from ..detect.verdicts import MAX_SHARE, MIN_MAJORITY, MIN_VOTES, STRONG_RATIO
from .evidence import class_label, cluster_level

__all__ = ["ANALYSIS_NOTES", "LEVEL_NOTE", "cluster_table", "compare_text", "level_cell", "num",
           "pct", "table", "votes_text"]

#: One sentence per analysis: what its statistic means and when a cluster counts as poison.
ANALYSIS_NOTES = {
    "exclusionary-reclassification":
        "l/p: a model retrained without the cluster classifies its samples; l is how many it "
        "still puts in this class, p how many go to the most common other class (the suspected "
        "source). Poison when l/p \u2264 the threshold. Below it: how many samples the retrained "
        "model put in each class (most common first).",
    "relative-size": "The cluster's share of its class. Poison when at most the threshold.",
    "silhouette": "Mean silhouette of the cluster (how well it separates from the rest). Poison "
                  "when at least the threshold and the cluster is small enough.",
    "distance": "d_own/d_other: distance of the cluster's centre to its own class's main "
                "cluster over that to the nearest other class's. Poison when at least the "
                "threshold.",
}


#: What the levels of the cluster table mean (shown below it when a cluster is suspicious).
LEVEL_NOTE = (f"Level: poison when the evidence is strong on every count (at least {MIN_VOTES} "
              f"votes for the suspected source and at least {MIN_MAJORITY:.0%} of the "
              f"cluster's, l/p at most {STRONG_RATIO:g} x the threshold, a cluster of at most "
              f"{MAX_SHARE:.0%} of its class); suspicious when the analysis would call it "
              "poison but the evidence is weak, for the reasons given (or the model was not "
              "fit to be judged). Suspicious clusters are not flagged; see poisonscan's "
              "docs/verdicts.md.")


def pct(x: float) -> str:
    return f"{100 * x:.2f}%"


def num(x: float | None, digits: int = 3) -> str:
    return "\u221e" if x is None else f"{x:.{digits}g}"


def table(header: Sequence[str], rows: Sequence[Sequence[str]],
           row_classes: Sequence[str] | None = None) -> str:
    """An HTML table; cells are HTML already (escape them before)."""
    head = "".join(f"<th>{h}</th>" for h in header)
    body = "".join(
        f'<tr class="{row_classes[i] if row_classes else ""}">'
        + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for i, row in enumerate(rows))
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


_RULES = {"<=": "\u2264", ">=": "\u2265"}
_NEGATED = {"<=": ">", ">=": "<"}


def compare_text(name: str, statistic: float | None, rule: str, threshold: float,
                 is_poison: bool) -> str:
    """``"l/p = 0.0256 \u2264 1"``: a statistic against its threshold, as plain text.

    ``statistic`` None stands for infinity. Digits are added until the two numbers differ, so
    a statistic just past the threshold never reads as equal to it. A kept cluster whose
    statistic passes the rule failed another condition (the size limit of ``silhouette``).
    """
    value = math.inf if statistic is None else statistic
    passes = value <= threshold if rule == "<=" else value >= threshold
    digits = 3
    while (digits < 12 and value != threshold and math.isfinite(value)
           and num(value, digits) == num(threshold, digits)):
        digits += 1
    symbol = (_RULES if passes else _NEGATED).get(rule, rule)
    text = f"{name} = {num(statistic, digits)} {symbol} {num(threshold, digits)}"
    return text + (", but the cluster is too large" if passes and not is_poison else "")


def votes_text(votes: Sequence[dict[str, int]] | None,
               names: Sequence[str] | None = None) -> str:
    """``"read as 0: 2,938, 4: 1,280"``: what a retrained model called a cluster's samples
    (``"read as 14 'stop': 248"`` with class names)."""
    if not votes:
        return ""
    return "read as " + ", ".join(f"{class_label(v['label'], names)}: {v['count']:,}"
                                  for v in votes)


def level_cell(cl: dict[str, Any], names: Sequence[str] | None = None) -> str:
    """The level cell of one cluster's row (HTML): ``poison \u00b7 flagged (source 9)``,
    ``suspicious \u00b7 not flagged (source 8)`` and the reasons, ``legitimate \u00b7 kept``, or
    ``kept`` for the largest cluster (not judged)."""
    level = cluster_level(cl)
    if level is None:
        return "kept"
    source = cl.get("suspected_source")
    of = f" (source {class_label(source, names)})" if source is not None else ""
    if level == "poison":
        return f'<b class="flag">poison</b> \u00b7 <b>{escape("flagged" + of)}</b>'
    if level == "suspicious":
        reasons = "".join(f"<li>{escape(str(r))}</li>" for r in cl.get("reasons") or ())
        return (f'<b class="warn">suspicious</b> \u00b7 {escape("not flagged" + of)}'
                + (f'<ul class="why">{reasons}</ul>' if reasons else ""))
    return f"{escape(str(level))} \u00b7 kept"


def cluster_table(cls: dict[str, Any], analysis: str,
                   truth: Sequence[int] | None = None,
                   names: Sequence[str] | None = None) -> str:
    """The clusters of one class with their figures and levels; ``truth``: true poison in each
    cluster, ``names``: class names. Reads old reports (no ``level``) too."""
    stat_name = getattr(ANALYSES.get(analysis), "statistic_name", "statistic")
    rows, marks = [], []
    for cl in cls["clusters"]:
        level = cluster_level(cl)
        if cl.get("rule") is None:
            test = "largest cluster, presumed legitimate"
        else:
            test = escape(compare_text(stat_name, cl.get("statistic"), cl["rule"],
                                       cl["threshold"], level == "poison"
                                       or bool(cl.get("is_poison"))
                                       or level == "suspicious"))
            if votes := votes_text(cl.get("votes"), names):
                test += f'<br><span class="note">{escape(votes)}</span>'
        share = cl.get("relative_size")
        if share is None:
            share = cl["size"] / max(cls.get("n_samples") or 1, 1)
        sil = "\u2013" if cl.get("silhouette") is None else f"{cl['silhouette']:.3f}"
        rows.append([str(cl.get("cluster", len(rows))), f"{cl['size']:,}", pct(share), sil,
                     test, level_cell(cl, names)])
        if truth is not None:
            rows[-1].insert(2, f"{truth[cl.get('cluster', len(rows) - 1)]:,}")
        marks.append({"poison": "flagged", "suspicious": "suspicious"}.get(level or "", ""))
    header = ["cluster", "size", "relative size", "silhouette", "statistic vs threshold",
              "level"]
    if truth is not None:
        header.insert(2, "poison (ground truth)")
    note = ANALYSIS_NOTES.get(analysis, "")
    notes = f"{escape(analysis)}: {escape(note)}" if note else ""
    if "suspicious" in marks:
        notes += (" " if notes else "") + escape(LEVEL_NOTE)
    return table(header, rows, marks) + (f'<p class="note">{notes}</p>' if notes else "")
