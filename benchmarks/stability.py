"""Diagnosis of the traffic-signs false positives: are they stable clusters?

Hennig's cluster-wise bootstrap stability ("Cluster-wise assessment of cluster stability",
2007; R's ``fpc::clusterboot``): draw ``B`` resamples of a class with replacement, cluster
each resample the way the detector does (best of 50 seeded 2-means restarts on the same
ICA scores), and record, for the detector's candidate cluster, its largest Jaccard
similarity with a cluster of the resample (on the distinct resampled points). The mean over
the resamples is the cluster's stability: below 0.5 Hennig calls a cluster "dissolved", from
0.75 on "valid, stable". The ICA projection is kept fixed (only the clustering is resampled).

Reads the models that ``poisonscan reproduce traffic-signs --out docs/results/traffic-signs``
saved (``scan-0.15/model.safetensors``, ``scan-0.33/...``), rebuilds the same seeded poisoned
data, extracts the activations and re-runs the default detector's clustering (same seed, so
the same clusters as the committed reports). Writes ``benchmarks/results/stability.json``.

    python benchmarks/stability.py --data-dir ../shared/datasets
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
from poisonscan.detect.cluster import screen_restarts
from poisonscan.experiments.signs import SPEED_LIMIT_60, STICKER, STOP
from poisonscan.scan_io import read_scan


def bootstrap_stability(x: np.ndarray, members: np.ndarray, *, resamples: int = 20,
                        n_init: int = 50, seed: int = 0) -> list[float]:
    """Per-resample Jaccard of the cluster ``members`` ((n,) bool) of ``x`` ((n, d))."""
    rng = np.random.default_rng(seed)
    out = []
    for b in range(resamples):
        idx = rng.integers(0, len(x), len(x))
        centres = screen_restarts(x[idx], 2, n_init, seed + 1 + b)
        seen = np.unique(idx)
        d = ((x[seen, None, :] - centres[None]) ** 2).sum(-1)
        assign, own = d.argmin(1), members[seen]
        out.append(max(float((own & (assign == j)).sum() / max((own | (assign == j)).sum(), 1))
                       for j in range(2)))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--results-dir", default="docs/results/traffic-signs")
    parser.add_argument("--resamples", type=int, default=20)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" /
                                             "stability.json"))
    args = parser.parse_args()
    clean = load_gtsrb(args.data_dir)
    out: dict = {"resamples": args.resamples, "runs": []}
    for rate in (0.15, 0.33):
        run_dir = Path(args.results_dir) / f"scan-{rate:.2f}"
        data = poison_dataset(clean, get_trigger("patch", **STICKER), [(STOP, SPEED_LIMIT_60)],
                              rate=rate, seed=0)
        scanned = read_scan(run_dir)
        acts = extract_activations(scanned.model, data.x)
        flagged = set(scanned.report["summary"]["poisoned_classes"])
        det = ActivationClustering(random_state=0, analysis="relative-size")
        det.fit_detect(acts, data.y)
        start, classes = time.perf_counter(), []
        for cc in det.classes_:
            (c,) = cc.candidates
            members = cc.assignment == c
            per = bootstrap_stability(cc.reduced, members, resamples=args.resamples)
            classes.append({"label": cc.label, "class_size": int(len(members)),
                            "cluster_size": int(members.sum()),
                            "poison_in_cluster": int(data.is_poison[cc.indices[members]].sum()),
                            "flagged_in_report": cc.label in flagged,
                            "stability": round(float(np.mean(per)), 3),
                            "per_resample": [round(j, 3) for j in per]})
        out["runs"].append({"rate": rate, "stability_s": round(time.perf_counter() - start, 1),
                            "classes": classes})
        for row in classes:
            if row["flagged_in_report"] or row["poison_in_cluster"]:
                print(rate, {k: v for k, v in row.items() if k != "per_resample"})
    write_json(args.out, out)


if __name__ == "__main__":
    main()
