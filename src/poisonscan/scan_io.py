"""Reading a scan's output folder back (for ``repair``): the model, the flagged samples.

``flagged.csv`` is meant to be looked at and edited (a row deleted keeps that sample out of the
repair; a ``suspected_source`` changed or emptied relabels or drops it), often in a spreadsheet.
So it is read as a spreadsheet may save it again: with a UTF-8 byte-order mark, CRLF line ends,
``;`` or tab separators, blank rows, and any encoding in the columns that are not read. Only
``index``, ``suspected_source`` and ``verdict`` are read; a bad cell is named by its line. Rows
whose verdict is ``suspicious`` are left out unless asked for (``include_suspicious``); a file
without the ``verdict`` column (written before verdict levels) counts every row as flagged.
"""

from __future__ import annotations

import csv
import io
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from .data.text import header_separator
from .errors import InputError
from .models.io import ModelSpec, load_model

__all__ = ["ScanOutput", "read_scan", "read_flagged"]

_NEEDED = ("index", "suspected_source")


@dataclass(eq=False)
class ScanOutput:
    """A scan folder: its report, model, and per-sample flags (N,) and suspected sources (N,)."""

    report: dict[str, Any]
    model: nn.Module
    spec: ModelSpec
    flagged: np.ndarray
    suspected_source: np.ndarray


def read_scan(scan_dir: str | os.PathLike[str], *,
              include_suspicious: bool = False) -> ScanOutput:
    """Read ``report.json``, ``flagged.csv`` and ``model.safetensors`` written by ``scan``;
    ``include_suspicious`` takes the suspicious rows of ``flagged.csv`` as flagged too."""
    folder = Path(scan_dir)
    needed = ["report.json", "flagged.csv", "model.safetensors"]
    missing = [f for f in needed if not (folder / f).is_file()]
    if missing:
        raise InputError(f"{folder} is not a scan output folder: missing {', '.join(missing)} "
                         "(run 'poisonscan scan DATA --out DIR' first).")
    try:
        report = json.loads((folder / "report.json").read_text(encoding="utf-8"))
        n = int(report["input"]["n_samples"])
    except (ValueError, KeyError, TypeError) as exc:
        raise InputError(f"{folder}/report.json is not a scan report ({exc}).") from None
    model, spec = load_model(folder / "model.safetensors")
    flagged, suspected = read_flagged(folder / "flagged.csv", n_samples=n,
                                      n_classes=spec.n_classes,
                                      include_suspicious=include_suspicious)
    return ScanOutput(report, model, spec, flagged, suspected)


def read_flagged(path: str | os.PathLike[str], *, n_samples: int, n_classes: int,
                 include_suspicious: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """The flags and suspected sources held in a ``flagged.csv``.

    Parameters
    ----------
    path
        The file, as ``scan`` wrote it or as a spreadsheet saved it again.
    n_samples
        N, the number of samples scanned: an ``index`` must be in ``0..N-1``.
    n_classes
        K: a ``suspected_source`` must be empty (unknown) or a class id in ``0..K-1``.
    include_suspicious
        Take the rows whose ``verdict`` is ``suspicious`` too (by default only ``poisoned``
        rows, and every row of a file without the column).

    Returns
    -------
    flagged : (N,) bool
        True for the samples the file lists.
    suspected_source : (N,) int64
        Their suspected source class; -1 where the file leaves it empty and for unlisted samples.

    Raises
    ------
    InputError
        A needed column is missing, a cell is not what it should be (its line is named), or one
        sample is listed twice with different sources.
    """
    path = Path(path)
    text = path.read_bytes().decode("utf-8-sig", errors="replace")
    header = text.splitlines()[0] if text.strip() else ""
    rows = csv.reader(io.StringIO(text), delimiter=header_separator(header))
    columns = [c.strip().lower() for c in next(rows, [])]
    if any(c not in columns for c in _NEEDED):
        raise InputError(f"{path} needs the columns {' and '.join(_NEEDED)} (as scan writes "
                         f"them); its header is {columns}.")
    at = [columns.index(c) for c in _NEEDED]
    verdict_at = columns.index("verdict") if "verdict" in columns else None
    flagged = np.zeros(n_samples, dtype=bool)
    suspected = np.full(n_samples, -1, dtype=np.int64)
    first_line: dict[int, int] = {}
    for row in rows:
        cells = [c.strip() for c in row]
        if not any(cells):  # a blank row
            continue
        line = rows.line_num
        cells += [""] * (len(columns) - len(cells))
        if verdict_at is not None:
            verdict = cells[verdict_at].lower()
            if verdict not in ("poisoned", "suspicious"):
                raise InputError(f"{path} line {line}: verdict {cells[verdict_at]!r} is not "
                                 "'poisoned' or 'suspicious'.")
            if verdict == "suspicious" and not include_suspicious:
                continue
        index = _whole(cells[at[0]], path, line, "index", n_samples, "a sample index", "")
        source = (_whole(cells[at[1]], path, line, "suspected_source", n_classes, "a class id",
                         " (or empty: source unknown, the sample is then left out)")
                  if cells[at[1]] else -1)
        if flagged[index] and suspected[index] != source:
            raise InputError(f"{path} line {line}: sample {index} is listed again (first on line "
                             f"{first_line[index]}) with another suspected_source.")
        first_line.setdefault(index, line)
        flagged[index], suspected[index] = True, source
    return flagged, suspected


def _whole(cell: str, path: Path, line: int, column: str, bound: int, meaning: str,
           hint: str) -> int:
    """``cell`` as an int in ``0..bound-1``, or an InputError naming the file, line and column."""
    try:
        value = int(cell)
    except ValueError:
        value = -1
    if not 0 <= value < bound:
        raise InputError(f"{path} line {line}: {column} {cell!r} is not {meaning} in "
                         f"0..{bound - 1}{hint}.")
    return value
