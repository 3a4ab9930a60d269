"""Run a grid of poison-and-scan cases and tabulate the scan's verdicts (issue 23).

Each ``[[case]]`` of a grid file (see ``benchmarks/grid/dev.toml``) poisons a builtin dataset
with ``poisonscan poison`` (when it names an ``attack``), scans the result with ``poisonscan
scan`` and keeps one row of figures from its ``report.json``. The rows are written to
``OUT/results.json`` after every case (a restarted run skips the cases already there) and
tabulated in ``OUT/results.md``. Run from a checkout, with the builtin datasets in
``$POISONSCAN_DATA``::

    python benchmarks/grid/run.py benchmarks/grid/dev.toml [--slow] [--only NAME[,NAME...]]
    python benchmarks/grid/run.py benchmarks/grid/dev.toml --table-only

``--out DIR``: default ``benchmarks/results/grid/<grid stem>/``; ``--work DIR``: poisoned data
and scan outputs (default a new folder under /tmp); ``--rerun``: run the cases already in
results.json again. ``--only`` runs the named cases (slow or not) and replaces their rows.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path
from typing import Any

import numpy as np

CLI = [sys.executable, "-m", "poisonscan.cli"]
RESULTS = Path(__file__).resolve().parents[1] / "results" / "grid"
Row = dict[str, Any]
COLUMNS = ["case", "scan verdict", "F1", "precision", "recall", "FPR",
           "clean classes called poisoned", "clean classes called suspicious",
           "targets poisoned / targets", "clean acc", "attack success", "held-out acc",
           "epochs", "scan s"]


def run_cli(args: list[str]) -> tuple[int, str]:
    """Run ``poisonscan ARGS`` in this Python environment.

    Returns
    -------
    tuple of int and str
        The exit code and the last non-empty line of stderr ("" if none).
    """
    proc = subprocess.run([*CLI, *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                          text=True, check=False)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    return proc.returncode, lines[-1] if lines else ""


def target_classes(npz: Path) -> list[int]:
    """The classes of a poisoned ``.npz`` that hold poison (none without ``is_poison``)."""
    with np.load(npz, allow_pickle=False) as z:
        if "is_poison" not in z.files:
            return []
        return sorted(int(c) for c in np.unique(z["y"][z["is_poison"].astype(bool)]))


def class_verdicts(report: dict[str, Any]) -> dict[str, str]:
    """Label (as str) -> verdict of each class; ``classes`` may be a list or a dict."""
    classes = report.get("classes") or []
    items = (classes.items() if isinstance(classes, dict)
             else ((c.get("label"), c) for c in classes if isinstance(c, dict)))
    return {str(label): c.get("verdict") for label, c in items if isinstance(c, dict)}


def make_row(case: dict[str, Any], code: int, error: str, scan_s: float,
             report: dict[str, Any] | None, targets: list[int]) -> Row:
    """One result row of a case from its exit code, wall time, report and target classes."""
    row: Row = {"name": case["name"], "data": case["data"], "attack": case.get("attack"),
                "rate": case.get("rate"), "mapping": case.get("mapping"),
                "seed": case.get("seed", 0), "scan_args": case.get("scan_args", []),
                "exit": code, "error": error or None, "scan_s": round(scan_s, 3),
                "targets": targets}
    if report is None:
        return row
    summary, model = report.get("summary") or {}, report.get("model") or {}
    verdicts, tset = class_verdicts(report), {str(t) for t in targets}

    def count(verdict: str, target: bool) -> int:
        return sum(v == verdict and (lab in tset) == target for lab, v in verdicts.items())

    overall = (report.get("evaluation") or {}).get("overall") or {}
    n_flagged, n = summary.get("n_flagged"), (report.get("input") or {}).get("n_samples")
    fpr = overall.get("fpr") if overall else (n_flagged / n if n_flagged is not None and n
                                              else None)
    row.update(timings_s=report.get("timings_s"), scan_verdict=summary.get("verdict"),
               class_verdicts=verdicts, clean_called_poisoned=count("poisoned", False),
               clean_called_suspicious=count("suspicious", False),
               targets_poisoned=count("poisoned", True),
               targets_suspicious=count("suspicious", True), n_flagged=n_flagged,
               precision=overall.get("precision"), recall=overall.get("recall"),
               f1=overall.get("f1"), fpr=fpr, test_accuracy=model.get("test_accuracy"),
               attack_success_rate=model.get("attack_success_rate"),
               training=report.get("training"))
    return row


def run_case(case: dict[str, Any], work: Path) -> Row:
    """Poison (if the case has an attack) and scan one case; return its row."""
    name, seed = case["name"], str(case.get("seed", 0))
    data, npz, targets = str(case["data"]), work / f"{case['name']}.npz", []
    if case.get("attack"):
        code, err = run_cli(["poison", data, "--attack", case["attack"], "--rate",
                             str(case["rate"]), "--mapping", str(case["mapping"]), "--seed",
                             seed, "--out", str(npz), "-q", *case.get("poison_args", [])])
        if code != 0:
            return make_row(case, code, f"poison: {err}", 0.0, None, [])
        data, targets = str(npz), target_classes(npz)
    out = work / name
    (out / "report.json").unlink(missing_ok=True)  # never read a stale report
    start = time.perf_counter()
    code, err = run_cli(["scan", data, "--out", str(out), "--seed", seed, "-q",
                         *case.get("scan_args", [])])
    scan_s = time.perf_counter() - start
    if code not in (0, 3):
        return make_row(case, code, err, scan_s, None, targets)
    if not (out / "report.json").exists():
        return make_row(case, code, "scan wrote no report.json", scan_s, None, targets)
    report = json.loads((out / "report.json").read_text())
    return make_row(case, code, "", scan_s, report, targets)


def cell(value: Any) -> str:
    """A table cell: "-" for missing, floats with 3 decimals."""
    if value is None:
        return "-"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def table(results: dict[str, Any]) -> str:
    """The Markdown of ``results.md`` for the content of ``results.json``."""
    lines = ["Generated from results.json by benchmarks/grid/run.py.", "",
             "| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for r in results["rows"]:
        train = r.get("training") if isinstance(r.get("training"), dict) else {}
        verdict = r.get("scan_verdict") if r.get("exit") in (0, 3) else f"error ({r['exit']})"
        targets = (f"{r.get('targets_poisoned', '-')}/{len(r['targets'])}"
                   if r.get("targets") else None)
        values = [r["name"], verdict, r.get("f1"), r.get("precision"), r.get("recall"),
                  r.get("fpr"), r.get("clean_called_poisoned"),
                  r.get("clean_called_suspicious"), targets, r.get("test_accuracy"),
                  r.get("attack_success_rate"), train.get("heldout_accuracy"),
                  train.get("epochs_run"), r.get("scan_s")]
        lines.append("| " + " | ".join(cell(v) for v in values) + " |")
    return "\n".join(lines) + "\n"


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and :func:`os.replace`."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    p = argparse.ArgumentParser(description="Run a grid of poisonscan cases (issue 23).")
    p.add_argument("grid", type=Path, help="grid file (.toml) with [[case]] entries")
    p.add_argument("--out", type=Path, help="results folder (default "
                   "benchmarks/results/grid/<grid stem>/)")
    p.add_argument("--work", type=Path, help="folder of poisoned data and scan outputs")
    p.add_argument("--slow", action="store_true", help="also run the cases marked slow")
    p.add_argument("--only", help="comma-separated case names to run (replacing their rows)")
    p.add_argument("--rerun", action="store_true", help="rerun cases already in results.json")
    p.add_argument("--table-only", action="store_true", help="only rewrite results.md")
    args = p.parse_args(argv)
    out = args.out or RESULTS / args.grid.stem
    results_path = out / "results.json"
    results: dict[str, Any] = (json.loads(results_path.read_text()) if results_path.exists()
                               else {"rows": []})
    if args.table_only:
        write_atomic(out / "results.md", table(results))
        return 0
    cases: list[dict[str, Any]] = tomllib.loads(args.grid.read_text()).get("case", [])
    order = [c["name"] for c in cases]
    if len(set(order)) != len(order):
        p.error("the grid has duplicate case names")
    done = {r["name"]: r for r in results["rows"]}
    if args.only:
        only = args.only.split(",")
        if unknown := set(only) - set(order):
            p.error(f"no such case(s): {', '.join(sorted(unknown))}")
        todo = [c for c in cases if c["name"] in only]
    else:
        todo = [c for c in cases if (args.slow or not c.get("slow"))
                and (args.rerun or c["name"] not in done)]
    work = args.work or Path(tempfile.mkdtemp(prefix="poisonscan-grid-", dir="/tmp"))
    work.mkdir(parents=True, exist_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    print(f"{len(todo)} case(s); work folder {work}", flush=True)
    for case in todo:
        row = run_case(case, work)
        done[row["name"]] = row
        rank = {name: i for i, name in enumerate(order)}
        rows = sorted(done.values(), key=lambda r: rank.get(r["name"], len(order)))
        results = {"grid": str(args.grid), "machine": "2 CPU cores", "rows": rows}
        write_atomic(results_path, json.dumps(results, indent=1) + "\n")
        write_atomic(out / "results.md", table(results))
        verdict = row.get("scan_verdict") if not row["error"] else f"error: {row['error']}"
        print(f"{row['name']:<36} {cell(verdict):<12} F1 {cell(row.get('f1'))}  clean called "
              f"poisoned/suspicious {cell(row.get('clean_called_poisoned'))}/"
              f"{cell(row.get('clean_called_suspicious'))}  {row['scan_s']:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
