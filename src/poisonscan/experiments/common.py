"""Shared pieces of the paper reproductions: result container, Markdown tables, scan rows."""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .._io import write_json, write_text
from ..data.dataset import Dataset
from ..pipeline import ScanResult
from ..train import TrainConfig

__all__ = ["ExperimentResult", "Table", "Timer", "cluster_cell", "markdown_table",
           "save_run_report", "scan_row", "subsample"]


@dataclass
class Table:
    """A titled table: ``columns`` names and ``rows`` of values in that order."""

    title: str
    columns: list[str]
    rows: list[list[Any]] = field(default_factory=list)


@dataclass
class ExperimentResult:
    """What one ``poisonscan reproduce NAME`` run measured."""

    name: str
    description: str
    tables: list[Table] = field(default_factory=list)
    runs: list[dict[str, Any]] = field(default_factory=list)
    wall_s: float = 0.0
    notes: list[str] = field(default_factory=list)

    def to_markdown(self) -> str:
        parts = [f"### `{self.name}`: {self.description}", ""]
        for t in self.tables:
            parts += [f"**{t.title}**", "", markdown_table(t.columns, t.rows), ""]
        parts += [f"- {n}" for n in self.notes]
        parts.append(f"- wall time of `poisonscan reproduce {self.name}`: {self.wall_s:.0f} s")
        return "\n".join(parts) + "\n"

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description, "wall_s": self.wall_s,
                "tables": [{"title": t.title, "columns": t.columns, "rows": t.rows}
                           for t in self.tables],
                "runs": self.runs, "notes": self.notes}

    def write(self, out_dir: str | os.PathLike[str]) -> None:
        """Write ``results.json`` and ``results.md`` into ``out_dir`` (atomically)."""
        out = Path(out_dir)
        write_json(out / "results.json", self.to_dict())
        write_text(out / "results.md", self.to_markdown())


def _cell(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4f}" if abs(v) < 10 else f"{v:.1f}"
    return "-" if v is None else str(v)


def markdown_table(columns: list[str], rows: list[list[Any]]) -> str:
    """A GitHub-flavoured Markdown table; floats below 10 with 4 decimals."""
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def scan_row(result: ScanResult) -> dict[str, Any]:
    """Detection and model figures of one scan, as a flat dict."""
    ev = result.evaluation
    row: dict[str, Any] = {
        "n_samples": int(len(result.detection.is_poison)),
        "n_flagged": int(result.detection.is_poison.sum()),
        "poisoned_classes": result.detection.poisoned_classes,
        **{k: round(v, 2) for k, v in result.timings.items()},
        **result.model_metrics,
    }
    if ev is not None:
        o = ev.overall
        row.update(precision=o.precision, recall=o.recall, f1=o.f1, fpr=o.fpr,
                   accuracy=o.accuracy, n_poison=o.tp + o.fn,
                   per_class={c: {"accuracy": m.accuracy, "f1": m.f1}
                              for c, m in ev.per_class.items()},
                   poison_per_cluster={c: list(n) for c, n in ev.poison_per_cluster.items()})
    return row


def cluster_cell(result: ScanResult, label: int) -> str:
    """``"9,282 (19) / 4,238 (721)"``: the size of each cluster of class ``label`` and, in
    parentheses, how many of its samples are poison (needs ground truth)."""
    cls = next(c for c in result.detection.classes if c.label == label)
    poison = result.evaluation.poison_per_cluster.get(label) if result.evaluation else None
    if poison is None:
        return " / ".join(f"{cl.size:,}" for cl in cls.clusters)
    return " / ".join(f"{cl.size:,} ({poison[cl.cluster]:,})" for cl in cls.clusters)


class Timer:
    """``with Timer() as t: ...`` then ``t.s`` seconds."""

    def __enter__(self) -> "Timer":
        self._start = time.perf_counter()
        self.s = 0.0
        return self

    def __exit__(self, *exc: object) -> None:
        self.s = time.perf_counter() - self._start


def save_run_report(out_dir: str | os.PathLike[str] | None, run: str, result: ScanResult,
                    data: Dataset, description: str, config: TrainConfig) -> None:
    """Write the scan's report (``report.html``, ``report.json``, ...) to ``out_dir/run``."""
    if out_dir is None:
        return
    from ..report.files import write_scan  # noqa: PLC0415  (matplotlib only when reporting)

    write_scan(Path(out_dir) / run, result, data, source=description,
               parameters={"train": {**asdict(config), "arch": result.spec.arch}})


def subsample(data: Dataset, max_samples: int | None, seed: int = 0) -> Dataset:
    """A seeded random slice of ``max_samples`` training and ``max_samples // 4`` test samples.

    For quick runs of an experiment's pipeline (tests); None returns ``data`` unchanged.
    """
    if max_samples is None or max_samples >= len(data.y):
        return data
    rng = np.random.default_rng(seed)
    data = data.take(np.sort(rng.choice(len(data.y), max_samples, replace=False)))
    if data.x_test is not None and data.y_test is not None:
        t = np.sort(rng.choice(len(data.y_test), min(len(data.y_test), max_samples // 4),
                               replace=False))
        data = data.replace(x_test=data.x_test[t], y_test=data.y_test[t])
    return data
