"""Named settings of a whole scan: the training recipe and the decision stage together.

``default`` is poisonscan's: train until the held-out loss stops improving and say whether the
model is fit to be judged (:mod:`poisonscan.fit`), then grade each verdict by the strength of
its evidence (:mod:`poisonscan.detect.verdicts`). ``paper`` is Chen et al.'s method exactly as
the reproductions in ``docs/results`` ran it: 3 epochs on all the data, and every cluster with
``l/p <= 1`` flagged. A preset only fills in what a caller leaves unset; options given
explicitly win.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ._validation import check_choice
from .detect.detector import ActivationClustering
from .train import TrainConfig

__all__ = ["PRESETS", "Preset", "preset"]


@dataclass(frozen=True)
class Preset:
    """Overrides of :class:`~poisonscan.TrainConfig` (``train``) and of
    :class:`~poisonscan.ActivationClustering` (``detector``) defaults."""

    description: str
    train: dict[str, Any] = field(default_factory=dict)
    detector: dict[str, Any] = field(default_factory=dict)

    def train_config(self, **given: Any) -> TrainConfig:
        """A :class:`TrainConfig` of this preset, with ``given`` values winning."""
        return TrainConfig(**{**self.train, **given})

    def detector_of(self, **given: Any) -> ActivationClustering:
        """An :class:`ActivationClustering` of this preset, with ``given`` values winning."""
        return ActivationClustering(**{**self.detector, **given})


PRESETS: dict[str, Preset] = {
    "default": Preset("train to a held-out criterion, check the model, graded verdicts"),
    "paper": Preset("Chen et al.: 3 epochs on all data, every l/p <= 1 flagged",
                    train={"epochs": 3, "holdout": 0.0}, detector={"verdict_rule": "paper"}),
}


def preset(name: str) -> Preset:
    """The preset called ``name`` (one of :data:`PRESETS`)."""
    return PRESETS[check_choice("preset", name, PRESETS)]
