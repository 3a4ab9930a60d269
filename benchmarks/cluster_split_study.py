"""One-off study (issue 23, item 3): does another clustering isolate the poison that 2-means
leaves mixed with clean samples?

On the development cases of ``benchmarks/grid/dev.toml`` the default scan missed the poison of
two one-to-one attacks on the MNIST sample (``sample-pattern-3to8-10``,
``sample-pixel-4to9-10``): 2-means split the target class by the shapes of its digits, and the
poison (44 of 444 samples) fell on both sides. This reads the activations those scans cached
and the poisoned data they scanned, and clusters the target class (and some clean classes)
with each method below, using ground truth only to count the poison in each cluster:

- ``kmeans-k``: k-means on the class's ICA-10 reduction, k = 2..6 (the cluster holding the most
  poison is shown);
- ``gmm-bic``: a Gaussian mixture (full covariance) on the same reduction, k = 1..6 chosen by
  BIC;
- ``bisect-ica`` / ``bisect-pca``: recursive bisection, each part reduced again from the full
  activations and split in two while a 2-component mixture has a lower BIC than one (parts of
  at least 2% of the class, 10 samples).

Run the development grid first, then::

    python benchmarks/grid/run.py benchmarks/grid/dev.toml --work /tmp/gridwork-dev
    python benchmarks/cluster_split_study.py --work /tmp/gridwork-dev

Writes ``benchmarks/results/cluster_split_study.json``.
"""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

import numpy as np
from sklearn.cluster import KMeans
from sklearn.mixture import GaussianMixture

from poisonscan import load_dataset
from poisonscan._io import write_json
from poisonscan.detect.reduce import reduce

CASES = [("sample-pattern-3to8-10", 8), ("sample-pixel-4to9-10", 9),
         ("sample-pattern-next-15", 2), ("sample-patch-2to5-15", 5),
         ("sample-clean-10", 3), ("sample-clean-10", 8), ("sample-clean-11", 1),
         ("sample-clean-12", 7)]


def _mixture(z: np.ndarray, k: int) -> GaussianMixture:
    return GaussianMixture(k, covariance_type="full", random_state=0, n_init=2,
                           reg_covar=1e-4).fit(z)


def _bisect(acts: np.ndarray, idx: np.ndarray, min_size: int, method: str) -> list[np.ndarray]:
    if len(idx) < 2 * min_size:
        return [idx]
    z = reduce(acts[idx].astype(np.float64), method, n_components=10, random_state=0)
    two = _mixture(z, 2)
    if two.bic(z) >= _mixture(z, 1).bic(z):
        return [idx]
    lab = two.predict(z)
    parts = [idx[lab == c] for c in range(2)]
    if min(len(p) for p in parts) < min_size:
        return [idx]
    return [leaf for p in parts for leaf in _bisect(acts, p, min_size, method)]


def _clusters(labels: np.ndarray, poison: np.ndarray) -> list[list[int]]:
    """[size, poison] of each cluster, largest first."""
    out = [[int((labels == c).sum()), int(poison[labels == c].sum())] for c in np.unique(labels)]
    return sorted(out, key=lambda sp: -sp[0])


def study(work: Path) -> list[dict[str, object]]:
    sample = load_dataset("mnist-sample")
    rows = []
    for case, label in CASES:
        acts = np.load(work / case / "activations.npy", mmap_mode="r")
        if (work / f"{case}.npz").is_file():
            with np.load(work / f"{case}.npz", allow_pickle=False) as d:
                y, is_poison = d["y"], d["is_poison"]
        else:  # a clean case scans the sample itself
            y, is_poison = sample.y, np.zeros(len(sample.y), bool)
        idx = np.flatnonzero(y == label)
        poison = is_poison[idx]
        z = reduce(np.asarray(acts[idx], dtype=np.float64), "ica", n_components=10,
                   random_state=0)
        row: dict[str, object] = {"case": case, "class": label, "n": len(idx),
                                  "poison": int(poison.sum())}
        for k in range(2, 7):
            row[f"kmeans-{k}"] = _clusters(KMeans(k, n_init=10, random_state=0).fit_predict(z),
                                           poison)
        bics = [_mixture(z, k).bic(z) for k in range(1, 7)]
        best = int(np.argmin(bics)) + 1
        row["gmm-bic"] = {"k": best, "clusters": _clusters(_mixture(z, best).predict(z), poison)}
        for method in ("ica", "pca"):
            leaves = _bisect(np.asarray(acts), idx, max(10, len(idx) // 50), method)
            row[f"bisect-{method}"] = sorted(([len(leaf), int(is_poison[leaf].sum())]
                                              for leaf in leaves), key=lambda sp: -sp[0])
        print(case, label, {k: v for k, v in row.items() if k.startswith(("gmm", "bisect"))},
              flush=True)
        rows.append(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", required=True, help="the dev grid's --work folder")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" /
                                             "cluster_split_study.json"))
    args = parser.parse_args()
    warnings.filterwarnings("ignore")  # FastICA and mixtures on small parts
    write_json(Path(args.out), {"machine": "2 CPU cores", "rows": study(Path(args.work))})


if __name__ == "__main__":
    main()
