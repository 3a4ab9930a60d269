"""The paper's MNIST experiments: detection + repair (``mnist``) and the raw-pixel baseline."""

from __future__ import annotations

import os

import numpy as np

from ..attacks import get_trigger, parse_mapping, poison_dataset
from ..data.builtin import load_mnist
from ..data.dataset import Dataset
from ..metrics import evaluate_detection
from ..models.nets import build_model
from ..pipeline import scan
from ..presets import preset
from ..repair import DEFAULT_REPLAY, DEFAULT_SETTLE_EPOCHS, DISTURBANCE, repair
from ..train import TrainConfig, model_metrics, train_model
from .common import ExperimentResult, Table, Timer, scan_row, subsample

__all__ = ["run_mnist", "run_mnist_raw"]


def _poison(clean: Dataset, rate: float, seed: int) -> Dataset:
    return poison_dataset(clean, get_trigger("pattern"), parse_mapping("all-to-next", 10),
                          rate=rate, seed=seed)


def run_mnist(data_dir: str | os.PathLike[str] | None, *,
              rates: tuple[float, ...] = (0.10, 0.15, 0.33), seed: int = 0,
              progress: bool = False, max_samples: int | None = None,
              epochs: int | None = None, preset_name: str = "paper") -> ExperimentResult:
    """Pattern trigger, all-to-next, at each rate: per-class detection, then relabel repair.

    Also trains one model on the clean data, the reference for the repaired accuracy.
    """
    clean = subsample(load_mnist(data_dir), max_samples, seed)
    config = preset("paper").train_config(
        seed=seed, **({} if epochs is None else {"epochs": epochs}))
    reference = build_model(None, clean.x.shape[1:], 10, seed=seed)
    with Timer() as t_ref:
        train_model(reference, clean.x, clean.y, config, progress=progress, desc="clean model")
    clean_acc = model_metrics(reference, clean)["test_accuracy"]
    res = ExperimentResult("mnist", "MNIST, pattern trigger, all-to-next (label l -> l+1), "
                           "default detector (ICA 10, 2-means, exclusionary reclassification)")
    per_class = Table("Per-class detection accuracy / F1 by poison rate",
                      ["class"] + [f"{h} {r:.0%}" for r in rates for h in ("acc", "F1")])
    overall = Table("Detection and relabel repair",
                    ["poison rate", "precision", "recall", "F1", "clean acc before",
                     "attack success before", "clean acc after", "attack success after",
                     "clean-data model acc", "repair s", "retrain-from-scratch s",
                     "repair / scratch", "scan s"])
    class_rows: dict[int, list[float]] = {c: [] for c in range(10)}
    for rate in rates:
        data = _poison(clean, rate, seed)
        result = scan(data, detector=preset(preset_name).detector_of(random_state=seed),
                      train_config=config, progress=progress)
        rep = repair(result.model, result.spec, data, result.detection.is_poison,
                     result.detection.suspected_source, mode="relabel",
                     config=TrainConfig(epochs=1, seed=seed), scratch_config=config,
                     progress=progress)
        row = scan_row(result)
        row.update(rate=rate, repair=rep.to_dict(), clean_model_accuracy=clean_acc)
        res.runs.append(row)
        for c, m in result.evaluation.per_class.items():
            class_rows[c] += [m.accuracy, m.f1]
        overall.rows.append([f"{rate:.0%}", row["precision"], row["recall"], row["f1"],
                             rep.before["test_accuracy"], rep.before["attack_success_rate"],
                             rep.after["test_accuracy"], rep.after["attack_success_rate"],
                             clean_acc, rep.repair_s, rep.scratch_s,
                             rep.repair_s / rep.scratch_s, result.timings["total"]])
    per_class.rows = [[c, *v] for c, v in class_rows.items()]
    per_class.rows.append(["overall"] + [v for run in res.runs
                                         for v in (run["accuracy"], run["f1"])])
    res.tables = [per_class, overall]
    res.notes.append(f"clean-data reference model: test accuracy {clean_acc:.4f}, trained in "
                     f"{t_ref.s:.0f} s with the same settings ({config.epochs} epochs)")
    res.notes.append("repair: flagged samples relabelled to the suspected source class, then 1 "
                     f"epoch of continued training over them plus {DEFAULT_REPLAY:g}x as many "
                     f"unflagged samples, and up to {DEFAULT_SETTLE_EPOCHS} more while the model "
                     f"reads over {DISTURBANCE:.0%} fewer unflagged samples as their label than "
                     "before; epochs run: "
                     + " / ".join(str(run["repair"]["epochs_run"]) for run in res.runs))
    return res


def run_mnist_raw(data_dir: str | os.PathLike[str] | None, *,
                  rates: tuple[float, ...] = (0.10, 0.33), seed: int = 0,
                  progress: bool = False, max_samples: int | None = None,
                  epochs: int | None = None, preset_name: str = "paper") -> ExperimentResult:
    """The paper's baseline: the same clustering on raw pixels instead of activations.

    Both sides use ICA to 10 dimensions and 2-means per class and flag the smaller cluster
    (``relative-size`` with threshold 0.5), so the comparison isolates what is clustered.
    """
    clean = subsample(load_mnist(data_dir), max_samples, seed)
    config = preset("paper").train_config(
        seed=seed, **({} if epochs is None else {"epochs": epochs}))
    res = ExperimentResult("mnist-raw", "MNIST pattern all-to-next: clustering raw pixels vs "
                           "last-hidden-layer activations (ICA 10, 2-means, smaller cluster)")
    table = Table("Raw pixels vs activations", ["poison rate", "input", "accuracy", "precision",
                                                "recall", "F1"])
    detector = preset(preset_name).detector_of(analysis="relative-size", size_threshold=0.5,
                                               random_state=seed)
    for rate in rates:
        data = _poison(clean, rate, seed)
        on_acts = scan(data, detector=detector, train_config=config,
                       progress=progress)
        with Timer() as t_raw:
            raw = detector.fit_detect(data.x.reshape(len(data.x), -1).astype(np.float32) / 255,
                                      data.y, progress=progress)
        ev_raw = evaluate_detection(data.is_poison, raw.is_poison, data.y).overall
        ev_act = on_acts.evaluation.overall
        for name, ev in (("raw pixels", ev_raw), ("activations", ev_act)):
            table.rows.append([f"{rate:.0%}", name, ev.accuracy, ev.precision, ev.recall, ev.f1])
        res.runs.append({"rate": rate, "raw": ev_raw.to_dict(), "activations": ev_act.to_dict(),
                         "raw_cluster_s": t_raw.s, "activation_scan_s": on_acts.timings["total"]})
    res.tables = [table]
    res.notes.append("paper (Chen et al. 2018): raw-pixel clustering 58.6% accuracy / 15.8% F1 at "
                     "10% poison and 90.8% / 86.4% at 33%")
    return res
