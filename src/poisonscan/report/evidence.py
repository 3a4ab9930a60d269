"""Reading a scan report's verdicts and the evidence behind them (``report.json`` as a dict):
shared by the terminal summary and ``report.html``.

Reports written before verdict levels existed (no ``summary.verdict``, no cluster ``level``)
are read too: their verdicts are derived from ``is_poison`` and the class verdicts.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["VERDICT_ORDER", "class_label", "classes_with", "cluster_level", "scan_verdict",
           "share_of_class", "shown_clusters", "source_votes", "training_text"]


#: Order of class verdicts wherever classes are ranked: the worst first.
VERDICT_ORDER = {"poisoned": 0, "suspicious": 1, "clean": 2, "too-small": 3}


def class_label(k: int, names: Sequence[str] | None) -> str:
    """``"14"``, or ``"14 'stop'"`` when the data has class names."""
    return f"{k} {names[k]!r}" if names else str(k)


def cluster_level(cluster: dict[str, Any]) -> str | None:
    """A cluster's level: ``"poison"``, ``"suspicious"``, ``"legitimate"``, or None for the
    largest cluster of its class (not judged). Old reports (no ``level``) give poison or
    legitimate from ``is_poison``."""
    if "level" in cluster:
        return cluster["level"]
    if cluster.get("rule") is None:
        return None
    return "poison" if cluster.get("is_poison") else "legitimate"


def scan_verdict(report: dict[str, Any]) -> str:
    """The scan's verdict (``summary.verdict``), or for an old report without it
    ``"poisoned"``, ``"suspicious"`` or ``"clean"`` from its classes."""
    verdict = report.get("summary", {}).get("verdict")
    if verdict:
        return str(verdict)
    verdicts = {c.get("verdict") for c in report.get("classes", [])}
    return ("poisoned" if "poisoned" in verdicts
            else "suspicious" if "suspicious" in verdicts else "clean")


def classes_with(report: dict[str, Any], verdict: str) -> list[int]:
    """Labels of the classes with ``verdict`` (from the summary where it lists them)."""
    key = {"poisoned": "poisoned_classes", "suspicious": "suspicious_classes"}.get(verdict)
    listed = report.get("summary", {}).get(key) if key else None
    if listed is not None:
        return list(listed)
    return [c["label"] for c in report.get("classes", []) if c.get("verdict") == verdict]


def shown_clusters(cls: dict[str, Any]) -> list[dict[str, Any]]:
    """The clusters whose evidence a one-line view of ``cls`` shows: its poison and suspicious
    clusters when it has any, else every judged cluster (all but the largest)."""
    judged = [cl for cl in cls.get("clusters", []) if cluster_level(cl) is not None]
    return [cl for cl in judged if cluster_level(cl) in ("poison", "suspicious")] or judged


def source_votes(cluster: dict[str, Any], label: int) -> int | None:
    """How many of the cluster's samples the retrained model read as its suspected source
    (as the most common other class than ``label`` when none is suspected); None without
    votes (analyses other than exclusionary reclassification)."""
    votes = cluster.get("votes")
    if not votes:
        return None
    source = cluster.get("suspected_source")
    if source is None:
        return max((v["count"] for v in votes if v["label"] != label), default=0)
    return next((v["count"] for v in votes if v["label"] == source), 0)


def share_of_class(cluster: dict[str, Any], cls: dict[str, Any]) -> float:
    share = cluster.get("relative_size")
    if share is None:
        share = cluster["size"] / max(cls.get("n_samples") or 1, 1)
    return float(share)


def _epochs(value: float | int | None) -> str:
    if value is None:
        return "? epochs"
    value = round(float(value), 2)
    return f"{value:g} epoch{'' if value == 1 else 's'}"


def training_text(training: Any, *, detail: bool = False) -> str | None:
    """``"held-out accuracy 96.3% (chance 10.0%), epoch 9 of 12 (stopped on the held-out
    loss)"`` (the weights of epoch 9 were kept), with ``", not converged"`` and ``", not fit
    to be judged"`` when so; ``detail`` also says when the model converged and is fit to be
    judged. None when the report has no measured training (a given model, the paper preset,
    an old report)."""
    if not isinstance(training, dict) or training.get("heldout_accuracy") is None:
        return None
    chance = training.get("chance_accuracy")
    head = f"held-out accuracy {training['heldout_accuracy']:.1%}" + (
        f" (chance {chance:.1%})" if chance is not None else "")
    run, best = training.get("epochs_run"), training.get("best_epoch")
    epochs = _epochs(run)
    if best is not None and run is not None and round(best, 2) != round(run, 2):
        epochs = f"epoch {round(float(best), 2):g} of {round(float(run), 2):g}"  # weights kept
    stopped = {"criterion": " (stopped on the held-out loss)",
               "max-epochs": " (the most allowed)",
               "epochs": " (fixed)"}.get(str(training.get("stopped")), "")
    parts = [head, epochs + stopped]
    converged, adequate = training.get("converged"), training.get("adequate")
    if converged is False:
        parts.append("not converged")
    elif detail and converged:
        parts.append("converged")
    if adequate is False:
        parts.append("not fit to be judged")
    elif detail and adequate:
        parts.append("fit to be judged")
    return ", ".join(parts)
