"""Check that ``poisonscan reproduce NAME --preset paper`` gives the published figures.

Compares every figure of each run in ``OUT/results.json`` with ``docs/results/NAME/results.json``
except wall-clock timings, and prints the differences (none expected: the paper preset trains
and decides exactly as the published runs did). Writes
``benchmarks/results/paper_preset_check.json`` (rows of other experiments kept)::

    poisonscan reproduce text --preset paper --out /tmp/text -q
    python benchmarks/paper_preset_check.py text /tmp/text
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from poisonscan._io import write_json

ROOT = Path(__file__).resolve().parents[1]
#: Run keys that are wall-clock seconds (besides every key ending in ``_s``).
TIMINGS = {"train", "extract", "detect", "reclassify", "total", "load", "repair_s", "scratch_s",
           "repair_vs_scratch_time", "scan_s", "reference_s"}


def _figures(value: object) -> object:
    """``value`` without its timings, at any depth."""
    if isinstance(value, dict):
        return {k: _figures(v) for k, v in value.items()
                if k not in TIMINGS and not k.endswith("_s")}
    if isinstance(value, list):
        return [_figures(v) for v in value]
    return value


def differences(published: dict, rerun: dict) -> list[str]:
    """The non-timing figures that differ between two results.json files, as lines."""
    out = []
    if len(published["runs"]) != len(rerun["runs"]):
        return [f"{len(published['runs'])} runs published, {len(rerun['runs'])} re-run"]
    for i, (a, b) in enumerate(zip(published["runs"], rerun["runs"])):
        a, b = _figures(a), _figures(b)
        for key in sorted(set(a) | set(b)):
            if a.get(key) != b.get(key):
                out.append(f"run {i} {key}: published {a.get(key)!r}, re-run {b.get(key)!r}")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name", help="the experiment (docs/results/NAME)")
    parser.add_argument("rerun", help="the --out folder of 'poisonscan reproduce NAME'")
    args = parser.parse_args()
    published = json.loads((ROOT / "docs" / "results" / args.name / "results.json").read_text())
    rerun = json.loads((Path(args.rerun) / "results.json").read_text())
    diff = differences(published, rerun)
    print("\n".join(diff) or f"{args.name}: every non-timing figure of "
          f"{len(rerun['runs'])} run(s) as published")
    out = ROOT / "benchmarks" / "results" / "paper_preset_check.json"
    rows = json.loads(out.read_text())["rows"] if out.exists() else []
    rows = [r for r in rows if r["experiment"] != args.name]
    rows.append({"experiment": args.name, "runs": len(rerun["runs"]), "differences": diff,
                 "wall_s": round(rerun.get("wall_s", 0.0), 1)})
    write_json(out, {"rows": sorted(rows, key=lambda r: r["experiment"])})


if __name__ == "__main__":
    main()
