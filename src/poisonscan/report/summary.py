"""A compact text summary of a scan report, for the terminal."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["class_label", "format_repair", "format_summary"]


_NAME_WIDTH = 28  # longer class names are shortened in the middle ("...")


def class_label(k: int, names: Sequence[str] | None) -> str:
    """``"14"``, or ``"14 'stop'"`` when the data has class names."""
    return f"{k} {names[k]!r}" if names else str(k)


def _fmt(value: float | None) -> str:
    return "inf" if value is None else f"{value:.3g}"


def format_summary(report: dict[str, Any], *, max_rows: int = 50) -> str:
    """One line per class (sizes, analysis statistic, verdict), then totals and timings.

    With more than ``max_rows`` classes, only the poisoned ones get a line, and one more line
    counts the clean (and too small) classes left out (``report.json`` and ``report.html`` list
    them all). Classes too small to judge are named on a line of their own.
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

    lines = [f"analysis: {det['analysis']}  reduce: {det['reduce']}({det['n_components']})  "
             f"k={det['n_clusters']}",
             f"{'class':>5}{' ' * (width + 1) if names else ''}  {'n':>7}  {'cluster sizes':<18} "
             f"{'statistic':>10}  verdict"]
    classes = report["classes"]
    if len(classes) > max_rows:
        classes = [c for c in classes if c["verdict"] == "poisoned"]
    for c in classes:
        sizes = "/".join(str(cl["size"]) for cl in c["clusters"])
        stats = [cl for cl in c["clusters"] if cl["rule"] is not None]
        stat = ", ".join(_fmt(cl["statistic"]) for cl in stats) or "-"
        verdict = c["verdict"]
        if verdict == "too-small":
            verdict = f"not judged: fewer than {report['summary']['min_class_size']} samples"
        sources = [cl["suspected_source"] for cl in c["clusters"]
                   if cl["is_poison"] and cl["suspected_source"] is not None]
        if sources:
            verdict += " (from class " + ", ".join(class_label(k, names) for k in sources) + ")"
        lines.append(f"{c['label']:>5}{name(c['label'])}  {c['n_samples']:>7}  {sizes:<18} "
                     f"{stat:>10}  {verdict}")
    left_out = len(report["classes"]) - len(classes)
    if left_out:
        small = len(report["summary"].get("too_small_classes", []))
        clean = left_out - small
        kinds = f"{clean:,} clean class{'es' if clean != 1 else ''}" + (
            f" and {small:,} too small to judge" if small else "")
        lines.append(f"{'':>5}  ({kinds} not listed; report.html and report.json have every "
                     "class)")
    s = report["summary"]
    lines.append(f"flagged {s['n_flagged']} of {report['input']['n_samples']} samples; "
                 f"poisoned classes: {s['poisoned_classes'] or 'none'}")
    if s.get("too_small_classes"):
        lines.append(f"not judged (fewer than {s['min_class_size']} samples each): classes "
                     f"{s['too_small_classes']}")
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
