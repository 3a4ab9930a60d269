"""Training to a stated criterion, and whether the trained model is fit to be judged.

Exclusionary reclassification calls a cluster poison when a model that never saw it reads it as
another class. A model that has not learned the classes misreads clean samples too, and then
every class looks poisoned: on the 4,000-digit MNIST sample, 3 fixed epochs gave 92.7% clean
accuracy, a backdoor never learned, and 9 of 10 classes called poisoned. So a scan

1. holds out a stratified share of the (untrusted) data (``TrainConfig.holdout``, 10%);
2. trains until the loss on it has not improved by :data:`MIN_IMPROVEMENT` (relative) for
   ``patience`` epochs, at most ``max_epochs``, and keeps the best epoch's weights
   (``epochs="auto"``, the default; a fixed number of epochs is checked :data:`MIN_CHECKS`
   times or more along the way);
3. calls the model **adequate** when it has converged (training stopped on the criterion, or
   over the last quarter of training the held-out loss fell by less than
   :data:`CONVERGED_DROP` of its whole fall from ``ln K``, or the held-out accuracy rose by
   less than :data:`CONVERGED_GAIN`) and reads held-out samples at least a third of the way
   from chance to perfect (``accuracy >= chance + (1 - chance) / 3``, :data:`MIN_LEARNED`;
   chance is the share of the largest held-out class).

A scan whose model is not adequate is *inconclusive* (:mod:`poisonscan.pipeline`): no class is
called poisoned on its evidence. The rule is generic and was stated in ``docs/verdicts.md``
before it was measured on ``benchmarks/grid/dev.toml`` (and changed twice on development
evidence, as that page records).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

from .train import INFERENCE_BATCH, TrainConfig, model_device, to_tensor, train_model

__all__ = ["CONVERGED_DROP", "CONVERGED_GAIN", "Fit", "MIN_CHECKS", "MIN_IMPROVEMENT",
           "MIN_LEARNED", "fit_model", "holdout_split"]

#: Smallest relative fall of the held-out loss that counts as an improvement (early stopping).
MIN_IMPROVEMENT = 0.01
#: A fixed-epoch run whose held-out loss still fell over its last quarter by this share of its
#: whole fall (from ln K, a model that knows nothing) had not converged.
CONVERGED_DROP = 0.05
#: ... or whose held-out accuracy still rose by this much (0.01 = 1 point) had not converged.
CONVERGED_GAIN = 0.01
#: An adequate model reads held-out samples at least this far from chance to perfect.
MIN_LEARNED = 1 / 3
#: Fewest held-out checks of a fixed-epoch run (1 epoch is checked every quarter epoch).
MIN_CHECKS = 4


@dataclass(frozen=True)
class Fit:
    """How a model was trained and whether it is fit to be judged (see the module docstring).

    ``epochs_run`` and ``best_epoch`` are in epochs of the training split (fractional when a
    check fell inside an epoch); ``retrain_epochs`` is what a retraining for exclusionary
    reclassification uses (``best_epoch`` rounded up). ``heldout_loss`` has one value per check,
    at ``check_epochs``. ``adequate`` is None when nothing was held out (not measured);
    ``reason`` says why a model is not adequate and what to do.
    """

    epochs: int | str
    epochs_run: float
    best_epoch: float
    retrain_epochs: int
    stopped: str
    heldout_size: int
    heldout_accuracy: float | None = None
    chance_accuracy: float | None = None
    heldout_loss: tuple[float, ...] = ()
    check_epochs: tuple[float, ...] = ()
    converged: bool | None = None
    adequate: bool | None = None
    reason: str | None = None

    def to_dict(self) -> dict[str, object]:
        d = asdict(self)
        d["heldout_loss"] = [round(v, 5) for v in self.heldout_loss]
        d["check_epochs"] = [round(v, 3) for v in self.check_epochs]
        return d


def holdout_split(y: np.ndarray, share: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Stratified, seeded split: (train indices, held-out indices), both sorted.

    Each class gives ``round(share * n)`` samples, and always keeps at least one to train on.
    """
    rng = np.random.default_rng(seed)
    held = []
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        k = min(int(round(share * len(idx))), len(idx) - 1)
        if k > 0:
            held.append(rng.choice(idx, size=k, replace=False))
    out = np.sort(np.concatenate(held)) if held else np.zeros(0, dtype=np.int64)
    keep = np.ones(len(y), dtype=bool)
    keep[out] = False
    return np.flatnonzero(keep), out


class _HeldOut:
    """The training loop's monitor: held-out loss and accuracy at every check; with
    ``patience`` (early stopping) it keeps the best weights and stops on the criterion."""

    def __init__(self, x: np.ndarray, y: np.ndarray, every: int, patience: int | None) -> None:
        self.x, self.y = x, torch.from_numpy(np.asarray(y, dtype=np.int64))
        self.every, self.patience = every, patience
        self.losses: list[float] = []
        self.accuracies: list[float] = []
        self.steps: list[int] = []
        self.best = math.inf
        self.best_at = -1
        self.best_state: dict[str, torch.Tensor] | None = None
        self.stopped = False

    @torch.no_grad()
    def __call__(self, model: nn.Module, step: int) -> bool:
        model.eval()
        device = model_device(model)
        loss, correct = 0.0, 0
        for start in range(0, len(self.x), INFERENCE_BATCH):
            logits = model(to_tensor(self.x[start:start + INFERENCE_BATCH]).to(device)).cpu()
            target = self.y[start:start + INFERENCE_BATCH]
            loss += float(nn.functional.cross_entropy(logits, target, reduction="sum"))
            correct += int((logits.argmax(1) == target).sum())
        self.losses.append(loss / len(self.x))
        self.accuracies.append(correct / len(self.x))
        self.steps.append(step)
        if self.losses[-1] < self.best * (1 - MIN_IMPROVEMENT):
            self.best, self.best_at = self.losses[-1], len(self.losses) - 1
            if self.patience is not None:
                self.best_state = {k: v.detach().cpu().clone()
                                   for k, v in model.state_dict().items()}
        elif self.patience is not None and len(self.losses) - 1 - self.best_at >= self.patience:
            self.stopped = True
        return self.stopped


def fit_model(model: nn.Module, x: np.ndarray, y: np.ndarray, config: TrainConfig, *,
              progress: bool = True, desc: str = "train") -> Fit:
    """Train ``model`` in place as ``config`` says (see the module docstring) and measure it.

    Parameters
    ----------
    model
        A fresh model; trained in place and left in eval mode on the CPU.
    x, y
        The (untrusted) training data; ``config.holdout`` of it, stratified by ``y``, is held
        out (not trained on) when above 0.
    config
        Training settings; ``epochs="auto"`` stops on the held-out loss.

    Returns
    -------
    Fit
        The epochs run, the held-out figures and the adequacy verdict.
    """
    if config.holdout == 0:  # the paper's recipe: all data, fixed epochs, nothing measured
        train_model(model, x, y, config, progress=progress, desc=desc)
        epochs = int(config.epochs)
        return Fit(config.epochs, epochs, epochs, epochs, "epochs", 0)
    y = np.asarray(y)
    train_idx, held_idx = holdout_split(y, config.holdout, config.seed)
    steps_per_epoch = -(-len(train_idx) // config.batch_size)
    auto = config.epochs == "auto"
    every = (steps_per_epoch if auto
             else max(1, min(steps_per_epoch, int(config.epochs) * steps_per_epoch // MIN_CHECKS)))
    monitor = _HeldOut(x[held_idx], y[held_idx], every, config.patience if auto else None)
    train_model(model, x[train_idx], y[train_idx], config, progress=progress, desc=desc,
                monitor=monitor)
    if auto and monitor.best_state is not None:
        model.load_state_dict(monitor.best_state)
    final = monitor.best_at if auto else len(monitor.losses) - 1
    epochs_at = [s / steps_per_epoch for s in monitor.steps]
    converged = monitor.stopped or _flat_end(monitor.losses, monitor.accuracies,
                                                monitor.steps, int(y.max()) + 1)
    counts = np.bincount(y[held_idx])
    chance = float(counts.max() / counts.sum())
    accuracy = monitor.accuracies[final]
    reason = None
    if not converged:
        reason = (f"the model had not converged: over the last quarter of training its held-out "
                  f"loss still fell by more than {CONVERGED_DROP:.0%} of its whole fall and its "
                  f"held-out accuracy rose by {CONVERGED_GAIN:.0%} or more; train longer (leave "
                  "--epochs at 'auto', or raise it)")
    elif accuracy < chance + (1 - chance) * MIN_LEARNED:
        need = chance + (1 - chance) * MIN_LEARNED
        reason = (f"the model reads only {accuracy:.1%} of held-out samples correctly (chance "
                  f"{chance:.1%}; needed {need:.1%}): it has not learned the classes "
                  "well enough for its misreadings to be evidence; try more data, another "
                  "--arch, or --augment")
    best_epoch = epochs_at[final]
    return Fit(config.epochs, epochs_at[-1], best_epoch, max(1, math.ceil(best_epoch - 1e-9)),
               "criterion" if monitor.stopped else ("max-epochs" if auto else "epochs"),
               len(held_idx), accuracy, chance, tuple(monitor.losses), tuple(epochs_at),
               converged, reason is None, reason)


def _flat_end(losses: list[float], accuracies: list[float], steps: list[int],
              n_classes: int) -> bool:
    """Whether training had converged at its end: over the last quarter of training (from the
    last check at or before 3/4 of the steps to the end), the held-out loss fell by less than
    :data:`CONVERGED_DROP` of its whole fall, or the held-out accuracy rose by less than
    :data:`CONVERGED_GAIN`. The whole fall is from ``ln(n_classes)``, the loss of a model that
    knows nothing, to the end: a fall relative to the loss itself would call a model
    unconverged once its loss is small, whatever its accuracy."""
    if len(losses) < 2:
        return False
    cut = 0.75 * steps[-1]
    before = max((i for i, s in enumerate(steps) if s <= cut), default=0)
    start = min(losses[:before + 1])
    whole = max(math.log(max(n_classes, 2)) - losses[-1], 1e-12)
    gain = accuracies[-1] - max(accuracies[:before + 1])
    return (start - losses[-1]) < CONVERGED_DROP * whole or gain < CONVERGED_GAIN
