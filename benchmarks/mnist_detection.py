"""Issue-2 benchmark: detection quality and wall time of ``scan`` on full MNIST.

Runs the default settings (ICA to 10 dims, 2-means, exclusionary reclassification, default
epochs) on MNIST poisoned with the pattern trigger, all-to-next, at 10%, 15% and 33%, and on
clean MNIST (rate 0); repeats one run to check that the same seed gives identical flagged
indices. Writes ``benchmarks/results/mnist_detection.json``.

    POISONSCAN_DATA=../shared/datasets python benchmarks/mnist_detection.py [--rates 0.1 0.33]
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import time
from pathlib import Path

import numpy as np
import torch

from poisonscan import ActivationClustering, TrainConfig, load_dataset, scan
from poisonscan._io import write_json
from poisonscan.attacks import get_trigger, parse_mapping, poison_dataset


def run_one(clean, rate: float, seed: int) -> dict:
    data = poison_dataset(clean, get_trigger("pattern"), parse_mapping("all-to-next", 10),
                          rate=rate, seed=seed)
    start = time.perf_counter()
    result = scan(data, detector=ActivationClustering(random_state=seed, verdict_rule="paper"),
                  train_config=TrainConfig(epochs=3, holdout=0.0, seed=seed), progress=False)
    wall = time.perf_counter() - start
    ev = result.evaluation.overall
    return {
        "rate": rate, "seed": seed, "n_samples": int(len(data.y)),
        "n_poison": int(data.is_poison.sum()), "n_flagged": int(result.detection.is_poison.sum()),
        "flagged_share": float(result.detection.is_poison.mean()),
        "precision": ev.precision, "recall": ev.recall, "f1": ev.f1, "fpr": ev.fpr,
        "poisoned_classes": result.detection.poisoned_classes,
        "test_accuracy": result.model_metrics.get("test_accuracy"),
        "attack_success_rate": result.model_metrics.get("attack_success_rate"),
        "timings_s": {k: round(v, 2) for k, v in result.timings.items()},
        "wall_s": round(wall, 2),
        "flagged_indices_sha": _digest(result.detection.flagged_indices),
    }


def _digest(idx: np.ndarray) -> str:
    import hashlib  # noqa: PLC0415
    return hashlib.sha256(np.asarray(idx, dtype=np.int64).tobytes()).hexdigest()[:16]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", type=float, nargs="+", default=[0.10, 0.15, 0.33, 0.0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--no-repeat", action="store_true", help="skip the determinism rerun")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" /
                                             "mnist_detection.json"))
    args = parser.parse_args()
    clean = load_dataset("mnist", args.data_dir)
    runs = []
    for rate in args.rates:
        runs.append(run_one(clean, rate, args.seed))
        print(json.dumps(runs[-1]), flush=True)
    repeat = None
    if not args.no_repeat:
        again = run_one(clean, args.rates[0], args.seed)
        repeat = {"rate": args.rates[0], "identical_flagged_indices":
                  again["flagged_indices_sha"] == runs[0]["flagged_indices_sha"]}
        print(json.dumps(repeat), flush=True)
    write_json(args.out, {
        "benchmark": "mnist_detection", "settings": "defaults: ica(10), 2-means, "
        "exclusionary-reclassification, TrainConfig() epochs", "runs": runs, "repeat": repeat,
        "machine": {"cpus": torch.get_num_threads(), "python": platform.python_version(),
                    "torch": torch.__version__},
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    })


if __name__ == "__main__":
    main()
