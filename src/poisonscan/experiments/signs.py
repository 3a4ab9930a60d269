"""Traffic-sign experiments on GTSRB, standing in for the paper's LISA experiment.

LISA (the paper's data: stop signs with a sticker, relabelled speed limit) cannot be obtained
here. GTSRB (43 classes, 32x32 RGB) has the same classes: a yellow square sticker is put on
stop signs (class 14), which are relabelled as a speed-limit sign.

``multimodal`` merges GTSRB's classes into five super-classes, so every class a detector sees
is a mixture of several sign types (strongly multimodal), the hard case for 2-means.
"""

from __future__ import annotations

import os

import numpy as np

from ..attacks import get_trigger, poison_dataset
from ..data.builtin import load_gtsrb
from ..data.dataset import Dataset
from ..pipeline import scan
from ..presets import preset
from ..train import TrainConfig
from .common import (ExperimentResult, Table, cluster_cell, save_run_report, scan_row,
                     subsample)

__all__ = ["STOP", "SUPER_CLASSES", "run_multimodal", "run_traffic_signs", "sign_train_config",
           "to_superclasses"]

STOP = 14
SPEED_LIMIT_60 = 3
SPEED_LIMIT_30 = 1
SUPER_CLASSES = {
    "speed limit": [0, 1, 2, 3, 4, 5, 7, 8],
    "other prohibitory": [9, 10, 15, 16],
    "danger/warning": [11, *range(18, 32)],
    "mandatory": list(range(33, 41)),
    "other": [6, 12, 13, 14, 17, 32, 41, 42],
}
SIGN_EPOCHS = 4
SIGN_LR = 3e-3
SIGN_JITTER = 1.0  # gamma 0.5-2, gain +-10% per channel
STICKER = {"size": 4}


def sign_train_config(seed: int, epochs: int | None = None) -> TrainConfig:
    """Training for sign models: random affine warps (``augment``) and photometric jitter,
    with a cosine learning-rate decay from 3e-3.

    Exclusionary reclassification needs this on GTSRB: a class's images come in tracks of 30
    frames of one physical sign, and the retrained model must recognise signs it has not seen.
    The recipe is the best of five (same cost) on clean GTSRB with every 5th track held out
    (``benchmarks/sign_training.py``), chosen without any detection result.
    """
    return TrainConfig(epochs=epochs or SIGN_EPOCHS, seed=seed, augment=True,
                       lr=SIGN_LR, schedule="cosine", jitter=SIGN_JITTER, holdout=0.0)


def run_traffic_signs(data_dir: str | os.PathLike[str] | None, *,
                      rates: tuple[float, ...] = (0.15, 0.33), seed: int = 0,
                      progress: bool = False, max_samples: int | None = None,
                      epochs: int | None = None,
                      out_dir: str | os.PathLike[str] | None = None,
                      preset_name: str = "paper") -> ExperimentResult:
    """Stop signs with a sticker relabelled speed limit 60 (class 3), at each rate."""
    clean = subsample(load_gtsrb(data_dir), max_samples, seed)
    res = ExperimentResult("traffic-signs", "GTSRB (substitute for LISA): stop signs with a 4x4 "
                           "yellow sticker relabelled 'speed limit 60', default detector")
    table = Table("Detection", ["poison rate", "poison samples", "flagged", "precision",
                                "recall", "F1", "FPR", "clean classes called clean",
                                "target's clusters: size (poison)", "clean acc",
                                "attack success", "scan s"])
    for rate in rates:
        data = poison_dataset(clean, get_trigger("patch", **STICKER), [(STOP, SPEED_LIMIT_60)],
                              rate=rate, seed=seed)
        config = sign_train_config(seed, epochs)
        result = scan(data, detector=preset(preset_name).detector_of(random_state=seed),
                      train_config=config, progress=progress)
        row = scan_row(result)
        row["rate"] = rate
        res.runs.append(row)
        save_run_report(out_dir, f"scan-{rate:.2f}", result, data,
                        f"GTSRB, stop + sticker -> speed limit 60, rate {rate}", config)
        clean_ok = sum(1 for c in result.detection.classes
                       if c.label != SPEED_LIMIT_60 and c.verdict == "clean")
        table.rows.append([f"{rate:.0%}", row["n_poison"], row["n_flagged"], row["precision"],
                           row["recall"], row["f1"], row["fpr"], f"{clean_ok}/42",
                           cluster_cell(result, SPEED_LIMIT_60), row["test_accuracy"],
                           row["attack_success_rate"], row["total"]])
    res.tables = [table]
    res.notes.append("rate = share of the target class (speed limit 60, 1,410 clean images) "
                     "that is poison; class 1 (speed limit 30) has too few stop signs to copy "
                     "for 33%")
    res.notes.append(f"model: the default colour CNN trained {SIGN_EPOCHS} epochs (Adam, cosine "
                     f"decay from lr {SIGN_LR:g}) with random affine warps (scale +-10%, rotation "
                     "+-10 degrees, shift +-8%) and photometric jitter (gamma 0.5-2, gain +-10% "
                     "per channel); the recipe was chosen on held-out clean tracks "
                     "(benchmarks/sign_training.py)")
    return res


def to_superclasses(data: Dataset, groups: dict[str, list[int]] = SUPER_CLASSES) -> Dataset:
    """Relabel every label array of ``data`` with the index of its group in ``groups``."""
    lookup = np.full(max(max(g) for g in groups.values()) + 1, -1, dtype=np.int64)
    for i, members in enumerate(groups.values()):
        lookup[members] = i
    fields = {k: lookup[getattr(data, k)] for k in
              ("y", "source", "y_test", "y_test_poison", "source_test_poison")
              if getattr(data, k) is not None}
    return data.replace(**fields, class_names=np.array(list(groups)), name=f"{data.name}-super")


def run_multimodal(data_dir: str | os.PathLike[str] | None, *, seed: int = 0,
                   progress: bool = False, max_samples: int | None = None,
                   epochs: int | None = None,
                   out_dir: str | os.PathLike[str] | None = None,
                      preset_name: str = "paper") -> ExperimentResult:
    """Five strongly multimodal super-classes; poison from one and from three sources."""
    clean = subsample(load_gtsrb(data_dir), max_samples, seed)
    names = list(SUPER_CLASSES)
    res = ExperimentResult("multimodal", "GTSRB merged into 5 super-classes (" +
                           ", ".join(names) + "), sticker trigger, target 'speed limit'")
    table = Table("Detection", ["run", "poison samples", "poison share of target",
                                "flagged", "precision", "recall", "F1", "FPR",
                                "classes called poisoned", "target's clusters: size (poison)",
                                "clean acc", "attack success", "scan s"])
    runs = [("stop -> speed limit", [(STOP, SPEED_LIMIT_30)], 0.25),
            ("stop, children crossing, keep right -> speed limit",
             [(STOP, SPEED_LIMIT_30), (28, SPEED_LIMIT_30), (38, SPEED_LIMIT_30)], 0.33)]
    for title, mapping, rate in runs:
        data = to_superclasses(poison_dataset(clean, get_trigger("patch", **STICKER), mapping,
                                              rate=rate, seed=seed))
        config = sign_train_config(seed, epochs)
        result = scan(data, detector=preset(preset_name).detector_of(random_state=seed),
                      train_config=config, progress=progress)
        row = scan_row(result)
        save_run_report(out_dir, f"scan-{len(mapping)}-source", result, data,
                        f"GTSRB super-classes, {title}", config)
        target = data.y == 0
        share = float(data.is_poison[target].mean())
        row.update(run=title, mapping=mapping, rate_of_original_target=rate, share=share)
        res.runs.append(row)
        table.rows.append([title, row["n_poison"], share, row["n_flagged"], row["precision"],
                           row["recall"], row["f1"], row["fpr"],
                           ", ".join(names[c] for c in row["poisoned_classes"]) or "none",
                           cluster_cell(result, 0), row["test_accuracy"],
                           row["attack_success_rate"], row["total"]])
    res.tables = [table]
    res.notes.append("poisoning happens on the 43 original classes (sources copied from the "
                     "named sign types into 'speed limit 30', rate = share of that class), "
                     "then every label is mapped to its super-class")
    return res
