"""The four cluster analyses side by side, on the models the sign experiments saved.

A measurement, not a tuning step: each analysis runs at its default threshold, and the
detector's default (exclusionary reclassification, the paper's) is not changed by the result.
For each of the four models that ``make results`` saved (``docs/results/traffic-signs/
scan-0.15``, ``scan-0.33``, ``docs/results/multimodal/scan-1-source``, ``scan-3-source``), this
rebuilds the same seeded poisoned data, extracts the activations, clusters every class as the
default detector does (ICA 10, 2-means, seed 0), and judges the clusters with the three
analyses that need no retraining: ``relative-size``, ``silhouette`` and ``distance``.
Exclusionary reclassification is read from the run's own ``flagged.csv`` (it retrains twice
per run); the same clusters are checked by comparing the cluster sizes with ``report.json``.
Writes ``benchmarks/results/sign_analyses.json``.

    python benchmarks/sign_analyses.py --data-dir ../shared/datasets
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from poisonscan import ActivationClustering
from poisonscan._io import write_json
from poisonscan.activations import extract_activations
from poisonscan.attacks import get_trigger, poison_dataset
from poisonscan.data.builtin import load_gtsrb
from poisonscan.experiments.signs import (SPEED_LIMIT_30, SPEED_LIMIT_60, STICKER, STOP,
                                          to_superclasses)
from poisonscan.metrics import detection_metrics
from poisonscan.scan_io import read_scan

ANALYSES = ("relative-size", "silhouette", "distance")
RESULTS = Path("docs/results")


def runs(clean):
    """(name, scan folder, poisoned data) of the four saved sign runs, as ``reproduce`` made
    them with seed 0."""
    sticker = get_trigger("patch", **STICKER)
    for rate in (0.15, 0.33):
        yield (f"traffic-signs {rate:.0%}", RESULTS / "traffic-signs" / f"scan-{rate:.2f}",
               poison_dataset(clean, sticker, [(STOP, SPEED_LIMIT_60)], rate=rate, seed=0))
    for sources, mapping, rate in ((1, [(STOP, SPEED_LIMIT_30)], 0.25),
                                   (3, [(STOP, SPEED_LIMIT_30), (28, SPEED_LIMIT_30),
                                        (38, SPEED_LIMIT_30)], 0.33)):
        yield (f"multimodal, {sources} source{'s' if sources > 1 else ''}",
               RESULTS / "multimodal" / f"scan-{sources}-source",
               to_superclasses(poison_dataset(clean, sticker, mapping, rate=rate, seed=0)))


def scores(truth: np.ndarray, flagged: np.ndarray, labels: np.ndarray) -> dict:
    m = detection_metrics(truth, flagged)
    called = sorted(int(c) for c in np.unique(labels[flagged]))
    return {"flagged": int(flagged.sum()), "precision": round(m.precision, 4),
            "recall": round(m.recall, 4), "f1": round(m.f1, 4),
            "classes_called_poisoned": len(called), "n_classes": int(len(np.unique(labels)))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" /
                                             "sign_analyses.json"))
    args = parser.parse_args()
    clean = load_gtsrb(args.data_dir)
    out: dict = {"analyses": ["exclusionary-reclassification", *ANALYSES], "runs": []}
    for name, folder, data in runs(clean):
        start = time.perf_counter()
        scanned = read_scan(folder)
        if scanned.report["input"]["n_samples"] != len(data.y):
            raise SystemExit(f"{folder} was scanned on other data; run 'make results' first")
        acts = extract_activations(scanned.model, data.x)
        row: dict = {"run": name, "n_poison": int(data.is_poison.sum()),
                     "exclusionary-reclassification": scores(data.is_poison, scanned.flagged,
                                                             data.y)}
        for analysis in ANALYSES:
            det = ActivationClustering(random_state=0, analysis=analysis)
            result = det.fit_detect(acts, data.y)
            row[analysis] = scores(data.is_poison, result.is_poison, data.y)
        sizes = {str(cc.label): sorted(np.bincount(cc.assignment).tolist())
                 for cc in det.classes_}
        reported = {str(c["label"]): sorted(k["size"] for k in c["clusters"])
                    for c in scanned.report["classes"]}
        row["same_clusters_as_report"] = sizes == reported
        row["seconds"] = round(time.perf_counter() - start, 1)
        out["runs"].append(row)
        print(name, {k: (v["f1"] if isinstance(v, dict) else v) for k, v in row.items()})
    write_json(args.out, out)


if __name__ == "__main__":
    main()
