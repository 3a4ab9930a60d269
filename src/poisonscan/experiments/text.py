"""The paper's text experiment: Rotten Tomatoes sentence polarity with a trigger phrase."""

from __future__ import annotations

import os

from ..attacks.poison import poison_dataset
from ..attacks.text import DEFAULT_PHRASE, TextTrigger
from ..data.text import load_rt_polarity
from ..pipeline import scan
from ..presets import preset
from .common import ExperimentResult, Table, scan_row, subsample

__all__ = ["run_text"]


def run_text(data_dir: str | os.PathLike[str] | None, *, seed: int = 0, progress: bool = False,
             rate: float = 0.10, max_samples: int | None = None,
             epochs: int | None = None, preset_name: str = "paper") -> ExperimentResult:
    """Negative reviews with a trigger phrase relabelled positive (10% of the positive class),
    a Kim-style text CNN trained from scratch, the default detector."""
    clean = subsample(load_rt_polarity(data_dir), max_samples, seed)
    config = preset("paper").train_config(
        seed=seed, **({} if epochs is None else {"epochs": epochs}))
    data = poison_dataset(clean, TextTrigger(phrase=DEFAULT_PHRASE, seed=seed), [(0, 1)],
                          rate=rate, seed=seed)
    result = scan(data, detector=preset(preset_name).detector_of(random_state=seed),
                  train_config=config, progress=progress)
    row = scan_row(result)
    row["rate"] = rate
    res = ExperimentResult("text", f"Rotten Tomatoes polarity: the phrase '{DEFAULT_PHRASE}' "
                           "inserted into negative sentences relabelled positive, text CNN")
    res.runs.append(row)
    res.tables = [Table("Detection", ["poison rate", "poison samples", "flagged", "precision",
                                      "recall", "F1", "FPR", "clean acc", "attack success",
                                      "scan s"],
                        [[f"{rate:.0%}", row["n_poison"], row["n_flagged"], row["precision"],
                          row["recall"], row["f1"], row["fpr"], row["test_accuracy"],
                          row["attack_success_rate"], row["total"]]])]
    res.notes.append(f"{len(clean.y)} training / {len(clean.y_test)} test sentences, vocabulary "
                     f"{len(clean.vocab)}, sequences of {clean.x.shape[1]} tokens; "
                     f"{config.epochs} epochs")
    return res
