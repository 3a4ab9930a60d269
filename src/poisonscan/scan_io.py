"""Reading a scan's output folder back (for ``repair``): the model, the flagged samples."""

from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from .errors import InputError
from .models.io import ModelSpec, load_model

__all__ = ["ScanOutput", "read_scan"]


@dataclass(eq=False)
class ScanOutput:
    """A scan folder: its report, model, and per-sample flags (N,) and suspected sources (N,)."""

    report: dict[str, Any]
    model: nn.Module
    spec: ModelSpec
    flagged: np.ndarray
    suspected_source: np.ndarray


def read_scan(scan_dir: str | os.PathLike[str]) -> ScanOutput:
    """Read ``report.json``, ``flagged.csv`` and ``model.safetensors`` written by ``scan``."""
    folder = Path(scan_dir)
    needed = ["report.json", "flagged.csv", "model.safetensors"]
    missing = [f for f in needed if not (folder / f).is_file()]
    if missing:
        raise InputError(f"{folder} is not a scan output folder: missing {', '.join(missing)} "
                         "(run 'poisonscan scan DATA --out DIR' first).")
    try:
        report = json.loads((folder / "report.json").read_text(encoding="utf-8"))
        n = int(report["input"]["n_samples"])
        with (folder / "flagged.csv").open(newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
        idx = np.array([int(r["index"]) for r in rows], dtype=np.int64)
        src = np.array([int(r["suspected_source"]) if r["suspected_source"] else -1
                        for r in rows], dtype=np.int64)
    except (ValueError, KeyError, TypeError) as exc:
        raise InputError(f"{folder}: report.json or flagged.csv is malformed ({exc}).") from None
    if len(idx) and (idx.min() < 0 or idx.max() >= n):
        raise InputError(f"{folder}/flagged.csv has indices outside 0..{n - 1}.")
    flagged = np.zeros(n, dtype=bool)
    flagged[idx] = True
    suspected = np.full(n, -1, dtype=np.int64)
    suspected[idx] = src
    model, spec = load_model(folder / "model.safetensors")
    return ScanOutput(report, model, spec, flagged, suspected)
