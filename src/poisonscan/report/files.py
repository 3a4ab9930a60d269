"""Writing a scan's results: ``report.json``, ``flagged.csv``, ``report.html`` (with PNG plots
in ``plots/``) and the scanned model."""

from __future__ import annotations

import csv
import io
import os
import platform
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from .._io import write_json, write_text
from ..cache import data_fingerprint
from ..data.dataset import Dataset
from ..models.io import save_model
from ..pipeline import ScanResult
from .html import write_html_report
from .text import texts_of

__all__ = ["build_report", "write_scan", "flagged_csv", "versions"]


def versions() -> dict[str, str]:
    """Versions of poisonscan, Python and the libraries that shape the result."""
    import sklearn  # noqa: PLC0415
    import torch  # noqa: PLC0415

    from .. import __version__  # noqa: PLC0415

    return {"poisonscan": __version__, "python": platform.python_version(),
            "numpy": np.__version__, "scikit-learn": sklearn.__version__,
            "torch": torch.__version__}


def build_report(result: ScanResult, data: Dataset, *, source: str,
                 parameters: dict[str, Any]) -> dict[str, Any]:
    """The content of ``report.json`` as plain Python objects.

    Keys: ``flagged_indices`` (sorted), ``summary``, ``classes`` (per-class clusters, analysis
    figures and verdict), ``parameters``, ``model``, ``timings_s``, ``input``, ``versions``, and
    ``evaluation`` when the data has ground truth.
    """
    det = result.detection.to_dict()
    report: dict[str, Any] = {
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "input": {"source": source, "n_samples": int(len(data.y)),
                  "sample_shape": list(data.x.shape[1:]), "n_classes": data.n_classes,
                  "sha256": data_fingerprint(data.x, data.y),
                  **({"class_names": data.class_names.tolist()}
                     if data.class_names is not None else {})},
        "summary": {"verdict": result.verdict,
                    "verdict_reason": _verdict_reason(result),
                    "n_flagged": det["n_flagged"],
                    "poisoned_classes": det["poisoned_classes"],
                    "n_suspicious": det["n_suspicious"],
                    "suspicious_classes": det["suspicious_classes"],
                    "clean_classes": [c["label"] for c in det["classes"]
                                      if c["verdict"] == "clean"],
                    "too_small_classes": [c["label"] for c in det["classes"]
                                          if c["verdict"] == "too-small"],
                    "min_class_size": det["min_class_size"]},
        "flagged_indices": det["flagged_indices"],
        "suspicious_indices": det["suspicious_indices"],
        "training": None if result.fit is None else result.fit.to_dict(),
        "classes": det["classes"],
        "parameters": {"detector": det["params"], **parameters, "layer": result.layer},
        "model": {"arch": result.spec.arch, "n_classes": result.spec.n_classes,
                  "file": "model.safetensors", **result.model_metrics},
        "timings_s": {k: round(v, 3) for k, v in result.timings.items()},
        "versions": versions(),
    }
    if result.evaluation is not None:
        report["evaluation"] = result.evaluation.to_dict()
    return report


def _verdict_reason(result: ScanResult) -> str | None:
    """Why the scan is inconclusive (the model's inadequacy), or None."""
    if result.verdict != "inconclusive" or result.fit is None:
        return None
    return f"{result.fit.reason}. No class is called poisoned on this model's evidence."


def flagged_csv(result: ScanResult, labels: np.ndarray, *, files: np.ndarray | None = None,
                class_names: np.ndarray | None = None,
                texts: Sequence[str] | None = None) -> str:
    """CSV text with one row per flagged or suspicious sample: index, label, cluster (the
    sample's cluster id within its class, as in the report's cluster table), suspected_source,
    score, verdict (``poisoned``: flagged; ``suspicious``: weak evidence, which ``repair``
    leaves alone unless told to include it).

    With ``files`` ((N,) str, e.g. from an image folder) a ``file`` column names each sample's
    file; with ``class_names`` ((K,) str) ``label_name`` and ``suspected_source_name`` follow;
    with ``texts`` (one string per listed sample, in index order; :func:`listed_indices`) a
    last ``text`` column
    holds each flagged sentence. These text cells come from the data, which may be hostile: one
    that a spreadsheet would read as a formula gets a leading apostrophe (:func:`_cell`).
    """
    det = result.detection
    idx = listed_indices(result)
    if texts is not None and len(texts) != len(idx):
        raise ValueError(f"texts must hold one string per listed sample ({len(idx)}); "
                         f"got {len(texts)}.")
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["index", "label", "cluster", "suspected_source", "score", "verdict"]
                    + (["file"] if files is not None else [])
                    + (["label_name", "suspected_source_name"] if class_names is not None else [])
                    + (["text"] if texts is not None else []))
    src = det.suspected_source[idx]
    for j, (i, lab, k, s, sc) in enumerate(zip(idx.tolist(), labels[idx].tolist(),
                                               det.cluster[idx].tolist(), src.tolist(),
                                               det.score[idx].tolist())):
        row = [i, lab, k, "" if s < 0 else s, f"{sc:.6f}",
               "poisoned" if det.is_poison[i] else "suspicious"]
        if files is not None:
            row.append(_cell(files[i]))
        if class_names is not None:
            row += [_cell(class_names[lab]), "" if s < 0 else _cell(class_names[s])]
        if texts is not None:
            row.append(_cell(texts[j]))
        writer.writerow(row)
    return buf.getvalue()


def listed_indices(result: ScanResult) -> np.ndarray:
    """Sorted indices of the samples ``flagged.csv`` lists: flagged or suspicious."""
    return np.flatnonzero(result.detection.is_poison | result.detection.is_suspicious)


def _cell(value: object) -> str:
    """A text cell from the (untrusted) data, made inert for spreadsheets: a leading ``=``,
    ``+``, ``-``, ``@``, tab or carriage return gets an apostrophe before it, so that a
    poisoned sentence or file name cannot run as a formula when flagged.csv is opened."""
    text = str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def write_scan(out_dir: str | os.PathLike[str], result: ScanResult, data: Dataset, *,
               source: str, parameters: dict[str, Any], progress: bool = False,
               ) -> dict[str, Any]:
    """Write ``report.json``, ``flagged.csv``, ``model.safetensors``, ``report.html`` and
    ``plots/*.png`` into ``out_dir``.

    Every file is written atomically; returns the report. ``progress`` shows a progress bar
    while the report's figures are drawn (about 0.1 s per class).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    report = build_report(result, data, source=source, parameters=parameters)
    save_model(out / "model.safetensors", result.model, result.spec)
    texts = texts_of(data, listed_indices(result))
    write_text(out / "flagged.csv", flagged_csv(result, data.y, files=data.files,
                                                class_names=data.class_names, texts=texts))
    write_json(out / "report.json", report)
    write_html_report(out / "report.html", report, result, data, progress=progress)
    return report
