"""The building blocks of ``report.html``: HTML tables, and each cluster's figures against the
analysis's threshold as text (``l/p = 0.0256 \u2264 1``, ``read as 14 'stop': 248``)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape
from typing import Any

from ..detect.analyses import ANALYSES
from .summary import class_label

__all__ = ["ANALYSIS_NOTES", "cluster_table", "compare_text", "num", "pct", "table",
           "votes_text"]

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


def cluster_table(cls: dict[str, Any], analysis: str,
                   truth: Sequence[int] | None = None,
                   names: Sequence[str] | None = None) -> str:
    """The clusters of one class with their figures; ``truth``: true poison in each cluster,
    ``names``: class names."""
    stat_name = getattr(ANALYSES.get(analysis), "statistic_name", "statistic")
    rows, marks = [], []
    for cl in cls["clusters"]:
        if cl["rule"] is None:
            test, verdict = "largest cluster, presumed legitimate", "kept"
        else:
            test = escape(compare_text(stat_name, cl["statistic"], cl["rule"], cl["threshold"],
                                       cl["is_poison"]))
            if votes := votes_text(cl.get("votes"), names):
                test += f'<br><span class="note">{escape(votes)}</span>'
            verdict = "flagged" if cl["is_poison"] else "kept"
            if cl["is_poison"] and cl["suspected_source"] is not None:
                verdict += f" (source {class_label(cl['suspected_source'], names)})"
        sil = "\u2013" if cl["silhouette"] is None else f"{cl['silhouette']:.3f}"
        rows.append([str(cl["cluster"]), f"{cl['size']:,}", pct(cl["relative_size"]), sil,
                     test, f"<b>{escape(verdict)}</b>" if cl["is_poison"] else escape(verdict)])
        if truth is not None:
            rows[-1].insert(2, f"{truth[cl['cluster']]:,}")
        marks.append("flagged" if cl["is_poison"] else "")
    header = ["cluster", "size", "relative size", "silhouette", "statistic vs threshold",
              "verdict"]
    if truth is not None:
        header.insert(2, "poison (ground truth)")
    note = ANALYSIS_NOTES.get(analysis, "")
    return table(header, rows, marks) + (
        f'<p class="note">{escape(analysis)}: {escape(note)}</p>' if note else "")
