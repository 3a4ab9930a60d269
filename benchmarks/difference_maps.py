"""How the report's difference figure looks for real poison and for false alarms, in numbers.

For every image cluster judged poison, the report draws the cluster's mean image beside the
mean of its suspected source's unflagged samples, and their difference
(``poisonscan.report.pictures``). This measures that difference map on two cases with both
kinds of flagged cluster, using ground truth only to say which kind each is:

- the 4,000-digit MNIST sample with 10% pattern poison from class 0 into class 1, scanned with
  the paper's training (``TrainConfig(epochs=3, holdout=0.0)``, seed 0): the poison cluster and
  a false alarm;
- the clusters flagged by a ``poisonscan reproduce traffic-signs`` run, read from its
  ``scan-*/flagged.csv`` (the seeded poisoned data is rebuilt as the experiment made it).

Per cluster: its size and poison share, the largest difference, and the share of the image
area where the difference exceeds 0.25 (a stamped trigger is a small area at a large
difference; another object differs over a large area). No verdict depends on these figures.
Writes ``benchmarks/results/difference_maps.json``.

    poisonscan reproduce traffic-signs --data-dir ../shared/datasets --out /tmp/ts
    python benchmarks/difference_maps.py --data-dir ../shared/datasets --signs /tmp/ts
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np

from poisonscan import ActivationClustering, TrainConfig, scan
from poisonscan._io import write_json
from poisonscan.attacks import get_trigger, pattern, poison_dataset
from poisonscan.data import Dataset, load_dataset
from poisonscan.data.builtin import load_gtsrb
from poisonscan.experiments.signs import SPEED_LIMIT_60, STICKER, STOP
from poisonscan.report.pictures import difference_map, mean_image

AREA_AT = 0.25  # a pixel counts towards the area when its difference exceeds this


def measure(data: Dataset, flagged: np.ndarray, cluster: np.ndarray,
            source: np.ndarray) -> list[dict]:
    """One row per flagged (label, cluster): ``flagged`` (N,) bool, ``cluster`` and ``source``
    (N,) int (the cluster id and suspected source of each flagged sample)."""
    rows = []
    for label, c in sorted({(int(data.y[i]), int(cluster[i])) for i in np.flatnonzero(flagged)}):
        members = np.flatnonzero(flagged & (data.y == label) & (cluster == c))
        src = int(source[members[0]])
        diff = difference_map(mean_image(data.x, members),
                              mean_image(data.x, np.flatnonzero((data.y == src) & ~flagged)))
        rows.append({"label": label, "cluster": c, "suspected_source": src,
                     "size": len(members),
                     "poison_share": round(float(data.is_poison[members].mean()), 3),
                     "max_difference": round(float(diff.max()), 3),
                     "area_above": round(float((diff > AREA_AT).mean()), 4)})
        print(rows[-1], flush=True)
    return rows


def mnist_sample() -> list[dict]:
    data = poison_dataset(load_dataset("mnist-sample"), pattern, [(0, 1)], rate=0.1, seed=0)
    result = scan(data, detector=ActivationClustering(verdict_rule="paper"),
                  train_config=TrainConfig(epochs=3, holdout=0.0), progress=False)
    det = result.detection
    return measure(data, det.is_poison, det.cluster, det.suspected_source)


def traffic_signs(folder: Path, data_dir: str | None) -> dict[str, list[dict]]:
    clean, out = load_gtsrb(data_dir), {}
    for rate in (0.15, 0.33):
        data = poison_dataset(clean, get_trigger("patch", **STICKER), [(STOP, SPEED_LIMIT_60)],
                              rate=rate, seed=0)
        flagged = np.zeros(len(data.y), dtype=bool)
        cluster, source = np.full(len(data.y), -1), np.full(len(data.y), -1)
        with (folder / f"scan-{rate:.2f}" / "flagged.csv").open(encoding="utf-8") as fh:
            for row in csv.DictReader(fh):  # as scan wrote it
                i = int(row["index"])
                flagged[i], cluster[i] = True, int(row["cluster"])
                source[i] = int(row["suspected_source"] or -1)
        out[f"{rate:.0%}"] = measure(data, flagged, cluster, source)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--signs", type=Path, help="output folder of 'reproduce traffic-signs'")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" /
                                             "difference_maps.json"))
    args = parser.parse_args()
    out = {"area_at": AREA_AT, "mnist_sample_0_to_1": mnist_sample()}
    if args.signs is not None:
        out["traffic_signs_seed0"] = traffic_signs(args.signs, args.data_dir)
    write_json(args.out, out)


if __name__ == "__main__":
    main()
