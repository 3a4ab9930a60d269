"""The relabel repair with and without its settle epochs, on text and on digits.

One epoch of relabel repair pulled a Rotten Tomatoes model towards the one class all flagged
sentences go back to (clean accuracy 75% -> 53%). ``repair`` now trains up to
``settle_epochs`` more epochs while the repaired model reads more than 5 points fewer unflagged
samples as their label than the scanned model (``docs/verdicts.md``). This measures both
settings on the same scans: Rotten Tomatoes (the ``text`` attack, negative -> positive, 10%)
and the embedded MNIST sample (the pattern attack, all-to-next, 10%, as ``poisonscan demo``),
each at seeds 0, 1 and 2, fixed before running. Writes ``benchmarks/results/repair_settle.json``.

    python benchmarks/repair_settle.py --data-dir ../shared/datasets
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from poisonscan import ActivationClustering, TrainConfig, scan
from poisonscan._io import write_json
from poisonscan.attacks import get_trigger, parse_mapping, poison_dataset
from poisonscan.data import load_dataset
from poisonscan.repair import repair

CASES = {  # name: (data set, attack, mapping, epochs of the scan)
    "rt-polarity": ("rt-polarity", "text", "0:1", 3),
    "mnist-sample": ("mnist-sample", "pattern", "all-to-next", 10),
}
SEEDS = (0, 1, 2)
SETTLE = (0, 2)  # never; the default


def _figures(figures: dict[str, float]) -> dict[str, float]:
    return {k: round(v, 4) for k, v in figures.items()}


def run_case(name: str, seed: int, data_dir: str) -> dict[str, object]:
    dataset, attack, mapping, epochs = CASES[name]
    clean = load_dataset(dataset, data_dir)
    data = poison_dataset(clean, get_trigger(attack), parse_mapping(mapping, clean.n_classes),
                          rate=0.1, seed=seed)
    config = TrainConfig(epochs=epochs, holdout=0.0, seed=seed)  # the paper's recipe, as recorded
    result = scan(data, detector=ActivationClustering(random_state=seed, verdict_rule="paper"),
                  train_config=config,
                  progress=False)
    det = result.detection
    row: dict[str, object] = {"case": name, "seed": seed, "n_flagged": int(det.is_poison.sum())}
    for settle in SETTLE:
        start = time.perf_counter()
        rep = repair(result.model, result.spec, data, det.is_poison, det.suspected_source,
                     config=TrainConfig(epochs=1, seed=seed),
                     scratch_config=config if settle == SETTLE[-1] else None,
                     settle_epochs=settle, progress=False)
        row[f"settle_{settle}"] = {"epochs_run": rep.epochs_run, "before": _figures(rep.before),
                                   "after": _figures(rep.after),
                                   "repair_s": round(rep.repair_s, 2),
                                   "total_s": round(time.perf_counter() - start, 2)}
        if rep.scratch is not None:
            row["scratch"] = _figures(rep.scratch)
    print(row, flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", default="../shared/datasets")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"
                                             / "repair_settle.json"))
    args = parser.parse_args()
    rows = [run_case(name, seed, args.data_dir) for name in CASES for seed in SEEDS]
    write_json(args.out, {"benchmark": "repair_settle", "rate": 0.1, "seeds": list(SEEDS),
                          "settle_epochs": list(SETTLE), "runs": rows})


if __name__ == "__main__":
    main()
