"""A compact text summary of a scan report, and of a repair, for the terminal (the verdicts
and their evidence are read by :mod:`.evidence`, as ``report.html`` reads them)."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from typing import Any

from .evidence import (class_label, classes_with, cluster_level, scan_verdict, share_of_class,
                       shown_clusters, source_votes, training_text)

__all__ = ["format_repair", "format_summary"]


_NAME_WIDTH = 28  # longer class names are shortened in the middle ("...")
_WIDTH = 100  # the summary's lines are wrapped at this width where they are prose
_MAX_REASON_LINES = 10  # suspicious classes whose reasons are printed below the table


def _fmt(value: float | None) -> str:
    return "inf" if value is None else f"{value:.3g}"


def _classes_text(labels: Sequence[int], names: Sequence[str] | None, limit: int = 8) -> str:
    """``"class 4"``, ``"classes 1, 8"``, ``"classes 1, 2, ... and 12 more"``."""
    shown = ", ".join(class_label(k, names) for k in labels[:limit])
    more = f" and {len(labels) - limit:,} more" if len(labels) > limit else ""
    return f"class{'es' if len(labels) != 1 else ''} {shown}{more}"


def _wrap(text: str, indent: str = "", more: str = "  ") -> list[str]:
    return textwrap.wrap(text, _WIDTH, initial_indent=indent, subsequent_indent=more,
                         break_long_words=False, break_on_hyphens=False) or [indent]


def _verdict_lines(report: dict[str, Any], names: Sequence[str] | None) -> list[str]:
    """The summary's first line(s): the scan's verdict in words."""
    verdict = scan_verdict(report)
    poisoned, suspicious = classes_with(report, "poisoned"), classes_with(report, "suspicious")
    if verdict == "inconclusive":
        reason = (report["summary"].get("verdict_reason")
                  or "the model was not fit to be judged; nothing is flagged")
        text = f"verdict: inconclusive - {reason}"
    elif verdict == "poisoned":
        text = f"verdict: poisoned ({_classes_text(poisoned, names)})"
        if suspicious:
            text += (f"; suspicious: {_classes_text(suspicious, names)} (weak evidence, see "
                     "report.html)")
    elif verdict == "suspicious":
        text = (f"verdict: suspicious, nothing flagged ({_classes_text(suspicious, names)}: "
                "weak evidence, see report.html)")
    else:
        text = f"verdict: {verdict}"
    return _wrap(text)


def _reason_lines(report: dict[str, Any], names: Sequence[str] | None) -> list[str]:
    """One (wrapped) line per suspicious class: why its evidence is weak."""
    weak = [c for c in report["classes"] if c.get("verdict") == "suspicious"]
    lines = []
    for c in weak[:_MAX_REASON_LINES]:
        clusters = [cl for cl in c.get("clusters", []) if cluster_level(cl) == "suspicious"]
        parts = []
        for cl in clusters:
            why = "; ".join(cl.get("reasons") or ()) or "weak evidence"
            parts.append(why if len(clusters) == 1 else f"cluster {cl.get('cluster')}: {why}")
        lines += _wrap(f"class {class_label(c['label'], names)} suspicious: "
                       + ("; ".join(parts) or "weak evidence"), "  ", "    ")
    if len(weak) > _MAX_REASON_LINES:
        lines.append(f"  ({len(weak) - _MAX_REASON_LINES:,} more in report.html)")
    return lines


def format_summary(report: dict[str, Any], *, max_rows: int = 50) -> str:
    """The scan's verdict, one line per class, why the suspicious classes are only suspicious,
    then totals, the model's fitness and timings.

    The first line states the scan's verdict (``verdict: poisoned (classes 1, 8)``,
    ``verdict: inconclusive - <why, and what to do>``). Each class's line shows its cluster
    sizes and, for its poison or suspicious cluster (else each judged cluster), the analysis
    statistic, the votes for the suspected source out of the cluster's size and the cluster's
    share of its class: how strong the evidence is. Below the table, each suspicious class
    (at most ten) gets a line with the reasons its evidence is weak.

    With more than ``max_rows`` classes, only the poisoned and suspicious ones get a line, and
    one more line counts the clean (and too small) classes left out (``report.json`` and
    ``report.html`` list them all). Classes too small to judge are named on a line of their own.
    """
    det = report["parameters"]["detector"]
    names = report["input"].get("class_names")  # image folders, text files, GTSRB
    width = min(max((len(n) for n in names), default=0), _NAME_WIDTH) if names else 0

    def name(label: int) -> str:
        if not names:
            return ""
        text = names[label]
        if len(text) > width:  # keep both ends: names often differ only at one of them
            head = (width - 2) // 2
            text = text[:head] + "..." + text[len(text) - (width - 3 - head):]
        return f" {text:<{width}}"

    classes = report["classes"]
    if len(classes) > max_rows:
        classes = [c for c in classes if c["verdict"] in ("poisoned", "suspicious")]
    rows = []
    for c in classes:
        sizes = "/".join(str(cl["size"]) for cl in c["clusters"]) or "-"
        shown = shown_clusters(c)
        stat = ", ".join(_fmt(cl.get("statistic")) for cl in shown) or "-"
        votes = [source_votes(cl, c["label"]) for cl in shown]
        vote = ", ".join("-" if v is None else f"{v}/{cl['size']}"
                         for v, cl in zip(votes, shown)
                         ) if any(v is not None for v in votes) else "-"
        share = ", ".join(f"{share_of_class(cl, c):.0%}" for cl in shown) or "-"
        verdict = c["verdict"]
        if verdict == "too-small":
            verdict = f"not judged: fewer than {report['summary']['min_class_size']} samples"
        level = {"poisoned": "poison", "suspicious": "suspicious"}.get(c["verdict"])
        sources = [cl["suspected_source"] for cl in c["clusters"]
                   if level and cluster_level(cl) == level
                   and cl.get("suspected_source") is not None]
        if sources:
            verdict += " (from class " + ", ".join(class_label(k, names) for k in sources) + ")"
        rows.append((f"{c['label']:>5}{name(c['label'])}  {c['n_samples']:>7}", sizes, stat,
                     vote, share, verdict))
    header = ("class", "cluster sizes", "statistic", "votes", "share")
    w = [max([len(h), *(len(r[i + 1]) for r in rows)]) for i, h in enumerate(header[1:])]
    lines = [*_verdict_lines(report, names),
             f"analysis: {det['analysis']}  reduce: {det['reduce']}({det['n_components']})  "
             f"k={det['n_clusters']}",
             f"{'class':>5}{' ' * (width + 1) if names else ''}  {'n':>7}  "
             f"{header[1]:<{w[0]}}  {header[2]:>{w[1]}}  {header[3]:>{w[2]}}  "
             f"{header[4]:>{w[3]}}  verdict"]
    lines += [f"{head}  {sizes:<{w[0]}}  {stat:>{w[1]}}  {vote:>{w[2]}}  {share:>{w[3]}}  "
              f"{verdict}" for head, sizes, stat, vote, share, verdict in rows]
    left_out = len(report["classes"]) - len(classes)
    if left_out:
        small = len(report["summary"].get("too_small_classes", []))
        clean = left_out - small
        kinds = f"{clean:,} clean class{'es' if clean != 1 else ''}" + (
            f" and {small:,} too small to judge" if small else "")
        lines.append(f"{'':>5}  ({kinds} not listed; report.html and report.json have every "
                     "class)")
    lines += _reason_lines(report, names)
    s = report["summary"]
    flagged = (f"flagged {s['n_flagged']} of {report['input']['n_samples']} samples; "
               f"poisoned classes: {s['poisoned_classes'] or 'none'}")
    suspicious = classes_with(report, "suspicious")
    if suspicious:
        n_suspicious = s.get("n_suspicious")
        flagged += (f"; suspicious: {'' if n_suspicious is None else f'{n_suspicious} samples '}"
                    f"in classes {suspicious}")
    lines.append(flagged)
    if s.get("too_small_classes"):
        lines.append(f"not judged (fewer than {s['min_class_size']} samples each): classes "
                     f"{s['too_small_classes']}")
    if fitness := training_text(report.get("training")):
        lines += _wrap(f"model: {fitness}")
    model = report["model"]
    if "test_accuracy" in model:
        extra = (f", attack success {model['attack_success_rate']:.2%}"
                 if "attack_success_rate" in model else "")
        lines.append(f"model: clean test accuracy {model['test_accuracy']:.2%}{extra}")
    if "evaluation" in report:
        o = report["evaluation"]["overall"]
        lines.append(f"vs ground truth: precision {o['precision']:.4f}  recall {o['recall']:.4f}  "
                     f"F1 {o['f1']:.4f}  FPR {o['fpr']:.4f}")
    t = report["timings_s"]
    lines.append("time: " + "  ".join(f"{k} {v:.1f}s" for k, v in t.items()))
    return "\n".join(lines)


def format_repair(summary: dict[str, Any]) -> str:
    """Before/after table of a repair (``repair.json``)."""
    rows = [("scanned model", summary["before"]), ("repaired", summary["after"])]
    if summary.get("scratch"):
        rows.append(("retrained from scratch", summary["scratch"]))
    settle = summary.get("epochs_run", 0) - summary.get("epochs", 0)
    lines = [f"repair ({summary['mode']}): {summary['n_flagged']} flagged, "
             f"{summary['n_relabelled']} relabelled, {summary['n_removed']} removed"
             + (f"; {settle} more epoch{'s' * (settle > 1)} to settle the unflagged samples"
                if settle > 0 else ""),
             f"{'model':<24} {'clean acc':>10} {'attack success':>15} "
             f"{'flagged read as source':>23} {'unflagged read as label':>24}"]

    def cell(value: float | None, width: int) -> str:
        return f"{'-' if value is None else f'{value:.2%}':>{width}}"

    for name, m in rows:
        lines.append(f"{name:<24} {cell(m.get('test_accuracy'), 10)} "
                     f"{cell(m.get('attack_success_rate'), 15)} "
                     f"{cell(m.get('flagged_as_source_rate'), 23)} "
                     f"{cell(m.get('unflagged_as_label_rate'), 24)}")
    line = f"time: repair {summary['repair_s']:.1f}s"
    if summary["mode"] == "remove" and summary.get("scratch_s") == summary["repair_s"]:
        line += " (itself a retraining from scratch)"
    elif summary.get("scratch_s"):
        line += (f", retrain from scratch {summary['scratch_s']:.1f}s "
                 f"(repair takes {summary['repair_vs_scratch_time']:.0%} of it)")
    lines.append(line)
    if summary.get("warning"):
        lines.append(f"warning: {summary['warning']}")
    return "\n".join(lines)
