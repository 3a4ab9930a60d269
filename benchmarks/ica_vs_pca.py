"""Why ART's ICA path fails on MNIST, measured: FastICA with and without dead units.

Trains the default CNN on full MNIST (pattern trigger, all-to-next, given rate), extracts the
last-hidden-layer activations, and runs 2-means on each class after five reductions:

- ``ica-raw``: FastICA(10, unit variance) on all features, as IBM ART does;
- ``ica``: poisonscan's reduction, the same FastICA after dropping constant (dead) features;
- ``pca-raw``/``pca``: PCA(10) without/with the same feature filter;
- always the smaller cluster is flagged, so the F1 isolates the reduction + clustering.

Writes ``benchmarks/results/ica_vs_pca.json``.

    POISONSCAN_DATA=../shared/datasets python benchmarks/ica_vs_pca.py --rate 0.10
"""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

import numpy as np
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA, FastICA

from poisonscan import TrainConfig, extract_activations, load_dataset, train_model
from poisonscan._io import write_json
from poisonscan.attacks import get_trigger, parse_mapping, poison_dataset
from poisonscan.detect.reduce import informative_features, reduce
from poisonscan.metrics import detection_metrics
from poisonscan.models import build_model


def _ica_raw(x: np.ndarray) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return FastICA(10, whiten="unit-variance", max_iter=400, random_state=0).fit_transform(x)


REDUCTIONS = {
    "ica-raw": _ica_raw,
    "ica": lambda x: reduce(x, "ica"),
    "pca-raw": lambda x: PCA(10, random_state=0).fit_transform(x),
    "pca": lambda x: reduce(x, "pca"),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=0.10)
    parser.add_argument("--n-init", type=int, nargs="+", default=[10, 50])
    parser.add_argument("--data-dir")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "ica_vs_pca.json"))
    args = parser.parse_args()
    clean = load_dataset("mnist", args.data_dir)
    data = poison_dataset(clean, get_trigger("pattern"), parse_mapping("all-to-next", 10),
                          rate=args.rate, seed=0)
    model = build_model(None, data.x.shape[1:], 10, seed=0)
    train_model(model, data.x, data.y, TrainConfig(epochs=3, holdout=0.0), progress=False)
    acts = extract_activations(model, data.x).astype(np.float64)
    dead = {int(c): int((~informative_features(acts[data.y == c])).sum()) for c in range(10)}
    rows = []
    for name, fn in REDUCTIONS.items():
        reduced = {c: fn(acts[data.y == c]) for c in range(10)}
        for n_init in args.n_init:
            flagged = np.zeros(len(data.y), bool)
            for c in range(10):
                idx = np.flatnonzero(data.y == c)
                lab = KMeans(2, n_init=n_init, random_state=0).fit_predict(reduced[c])
                flagged[idx[lab == np.argmin(np.bincount(lab))]] = True
            m = detection_metrics(data.is_poison, flagged)
            rows.append({"reduction": name, "n_init": n_init, "f1": m.f1,
                         "precision": m.precision, "recall": m.recall})
            print(rows[-1], flush=True)
    write_json(args.out, {"benchmark": "ica_vs_pca", "rate": args.rate,
                          "dead_units_per_class": dead, "n_features": acts.shape[1],
                          "first_feature_constant_in_classes":
                          [c for c in range(10) if np.ptp(acts[data.y == c][:, 0]) == 0],
                          "rows": rows})


if __name__ == "__main__":
    main()
