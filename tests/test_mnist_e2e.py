"""End to end on a slice of real MNIST (../shared/datasets): poison, train, extract, detect."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from poisonscan import scan
from poisonscan.attacks import get_trigger, parse_mapping, poison_dataset
from poisonscan.data import load_mnist
from poisonscan.presets import preset


@pytest.mark.slow
def test_mnist_slice_pattern_all_to_next(mnist_dir: Path) -> None:
    full = load_mnist(mnist_dir)
    clean = full.replace(x=full.x[:12000], y=full.y[:12000], x_test=full.x_test[:2000],
                         y_test=full.y_test[:2000])
    data = poison_dataset(clean, get_trigger("pattern"), parse_mapping("all-to-next", 10),
                          rate=0.15, seed=0)
    paper = preset("paper")  # the default's figures are in benchmarks/grid (full MNIST)
    result = scan(data, detector=paper.detector_of(), train_config=paper.train_config(),
                  progress=False)
    assert result.model_metrics["test_accuracy"] > 0.95
    assert result.model_metrics["attack_success_rate"] > 0.8  # the backdoor was learned
    ev = result.evaluation.overall
    assert ev.f1 > 0.95, result.evaluation.to_dict()
    # suspected sources of the flagged poison are the true sources
    flagged_poison = result.detection.is_poison & data.is_poison
    suspected = result.detection.suspected_source[flagged_poison]
    agree = np.mean(suspected == data.source[flagged_poison])
    assert agree > 0.95
