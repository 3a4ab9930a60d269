"""k-means restarts: scikit-learn's ``KMeans(n_init=50)`` against poisonscan's batched 2-means.

For each class of a data set, both find the best of 50 seeded k-means++ restarts (k = 2), as
the detector's screening step does (:func:`poisonscan.detect.cluster.screen_restarts`). The
benchmark records, per data set:

- wall time of all classes one after the other on one thread, and split over two threads
  (the detector runs the restarts beside other work: how much of them holds the GIL matters);
- per class, the inertia each reaches (relative difference) and how many samples the two
  best splits put on different sides, and the same two figures for scikit-learn against itself
  with another seed (how much the answer depends on the seed at all);
- with ``--mnist``, the F1 of the smaller cluster against the planted poison, for both.

Data sets: ``planted``, 10 classes of 5,000 x 10 Gaussian scores with a 10% sub-cluster
shifted along one axis (seeded; shifts of 1.5 to 6 standard deviations: the weak ones leave no
dominant split, so any seed may land on another split of nearly equal inertia); and, with
``--mnist DIR``, the whitened 10-dim ICA scores of every class of full MNIST (pattern trigger,
all-to-next, 10% poison; the default CNN trained for the default epochs, about 2 minutes here),
subsampled to 5,000 per class as the detector does, for detector seeds 0-4.

    python benchmarks/restarts.py                       # planted only, ~10 s
    python benchmarks/restarts.py --mnist ../shared/datasets   # + real MNIST activations

Writes ``benchmarks/results/restarts.json``.
"""

from __future__ import annotations

import argparse
import platform
import threading
import time
from pathlib import Path

import numpy as np
from sklearn.cluster import KMeans
from threadpoolctl import threadpool_limits

from poisonscan._io import write_json
from poisonscan.detect.twomeans import two_means_restarts
from poisonscan.metrics import detection_metrics

N_INIT = 50


def _sklearn(x: np.ndarray, seed: int) -> np.ndarray:
    return KMeans(2, n_init=N_INIT, random_state=seed).fit(x).cluster_centers_


def _batched(x: np.ndarray, seed: int) -> np.ndarray:
    return two_means_restarts(x, N_INIT, seed)


METHODS = {"sklearn": _sklearn, "batched": _batched}


def _split(x: np.ndarray, centres: np.ndarray) -> tuple[np.ndarray, float]:
    d = ((x[:, None, :] - centres[None]) ** 2).sum(axis=2)
    return d.argmin(axis=1), float(d.min(axis=1).sum())


def _moved(a: np.ndarray, b: np.ndarray) -> int:
    """Samples that two 2-means assignments put on different sides (up to the cluster order)."""
    return int(min((a != b).sum(), (a == b).sum()))


def _timed(fn, classes: list[np.ndarray], seed: int, threads: int) -> float:
    def work(part: list[np.ndarray]) -> None:
        for x in part:
            fn(x, seed)
    parts = [classes[i::threads] for i in range(threads)]
    pool = [threading.Thread(target=work, args=(p,)) for p in parts]
    start = time.perf_counter()
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return time.perf_counter() - start


def compare(name: str, classes: list[np.ndarray], seed: int,
            poison: list[np.ndarray] | None = None) -> dict:
    """Time both methods on ``classes`` and compare the splits they return."""
    out: dict = {"data": name, "seed": seed, "classes": len(classes),
                 "shape": list(classes[0].shape)}
    with threadpool_limits(1):
        for label, fn in METHODS.items():
            fn(classes[0], seed)  # warm-up
            out[f"{label}_s_1_thread"] = round(_timed(fn, classes, seed, 1), 4)
            out[f"{label}_s_2_threads"] = round(_timed(fn, classes, seed, 2), 4)
        per_class = []
        for i, x in enumerate(classes):
            (ls, inert_s), (lb, inert_b) = (_split(x, fn(x, seed)) for fn in METHODS.values())
            lo, inert_o = _split(x, _sklearn(x, seed + 1000))
            row = {"inertia_sklearn": inert_s, "inertia_batched": inert_b,
                   "relative_difference": (inert_b - inert_s) / inert_s,
                   "samples_moved": _moved(ls, lb),
                   "relative_difference_sklearn_other_seed": (inert_o - inert_s) / inert_s,
                   "samples_moved_sklearn_other_seed": _moved(ls, lo)}
            if poison is not None:
                for label, lab in (("sklearn", ls), ("batched", lb)):
                    small = lab == np.argmin(np.bincount(lab, minlength=2))
                    row[f"f1_{label}"] = detection_metrics(poison[i], small).f1
            per_class.append(row)
    out["per_class"] = per_class
    out["speedup_1_thread"] = round(out["sklearn_s_1_thread"] / out["batched_s_1_thread"], 2)
    out["speedup_2_threads"] = round(out["sklearn_s_2_threads"] / out["batched_s_2_threads"], 2)
    rel = [r["relative_difference"] for r in per_class]
    out["relative_difference_range"] = [min(rel), max(rel)]
    out["samples_moved_total"] = sum(r["samples_moved"] for r in per_class)
    out["samples_moved_sklearn_other_seed_total"] = sum(r["samples_moved_sklearn_other_seed"]
                                                        for r in per_class)
    print(f"{name} seed {seed}: sklearn {out['sklearn_s_1_thread']:.3f} s "
          f"(2 threads {out['sklearn_s_2_threads']:.3f}), batched {out['batched_s_1_thread']:.3f}"
          f" s (2 threads {out['batched_s_2_threads']:.3f}); inertia batched/sklearn - 1 in "
          f"[{min(rel):.2e}, {max(rel):.2e}]; samples moved {out['samples_moved_total']} "
          f"(scikit-learn, another seed: {out['samples_moved_sklearn_other_seed_total']})",
          flush=True)
    return out


def planted(seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    classes = []
    for shift in np.linspace(1.5, 6.0, 10):
        x = rng.standard_normal((5000, 10))
        x[:500, rng.integers(10)] += shift
        classes.append((x - x.mean(axis=0)) / x.std(axis=0))
    return classes


def mnist_scores(data_dir: str) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Whitened ICA scores (5,000-sample subsample, as the detector takes) and poison masks."""
    from poisonscan import (TrainConfig, extract_activations, load_dataset,  # noqa: PLC0415
                            train_model)
    from poisonscan.attacks import get_trigger, parse_mapping, poison_dataset  # noqa: PLC0415
    from poisonscan.detect.cluster import restart_subsample  # noqa: PLC0415
    from poisonscan.detect.stream import reduce_classes  # noqa: PLC0415
    from poisonscan.models import build_model  # noqa: PLC0415

    clean = load_dataset("mnist", data_dir)
    data = poison_dataset(clean, get_trigger("pattern"), parse_mapping("all-to-next", 10),
                          rate=0.10, seed=0)
    model = build_model(None, data.x.shape[1:], 10, seed=0)
    train_model(model, data.x, data.y, TrainConfig(epochs=3, holdout=0.0), progress=False)
    acts = extract_activations(model, data.x)
    groups, reduced = reduce_classes(acts, data.y, np.arange(10), method="ica", n_components=10)
    classes, poison = [], []
    for idx, red in zip(groups, reduced):
        pick = restart_subsample(len(idx), 2, 0)
        pick = np.arange(len(idx)) if pick is None else pick
        classes.append(np.asarray(red[pick], dtype=np.float64))
        poison.append(np.asarray(data.is_poison)[idx[pick]])
    return classes, poison


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mnist", metavar="DATA_DIR", help="also run on real MNIST activations")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "restarts.json"))
    args = parser.parse_args()
    runs = [compare("planted", planted(), seed) for seed in range(3)]
    if args.mnist:
        classes, poison = mnist_scores(args.mnist)
        runs += [compare("mnist-ica", classes, seed, poison) for seed in range(5)]
    write_json(Path(args.out), {"machine": platform.processor() or platform.machine(),
                                "n_init": N_INIT, "runs": runs})
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
