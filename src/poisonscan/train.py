"""A short, plain, seeded PyTorch training loop and batched prediction."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from ._validation import check_choice, check_int, check_real
from .data.dataset import Dataset
from .errors import InputError
from .metrics import attack_success_rate
from .models.nets import MLP

SCHEDULES = ("constant", "cosine")

#: Samples per forward pass at inference (prediction, activation extraction). On 2 CPU cores,
#: batches of 1,024 took up to twice as long as batches of 128, with bit-identical outputs
#: (``benchmarks/inference_batch.py``).
INFERENCE_BATCH = 128

__all__ = ["INFERENCE_BATCH", "SCHEDULES", "Monitor", "TrainConfig", "accuracy", "augment",
           "model_device", "model_metrics", "predict", "to_tensor", "train_model"]


@dataclass(frozen=True)
class TrainConfig:
    """Training hyperparameters (Adam, cross-entropy).

    ``augment`` applies a seeded random affine warp to every image batch (:func:`augment`):
    it helps a model recognise images of objects it has not seen, such as the other physical
    signs of a traffic-sign class, on which exclusionary reclassification relies.

    ``schedule`` is the learning rate over training: ``"constant"`` (``lr`` throughout) or
    ``"cosine"`` (decays from ``lr`` to 0 along a half cosine, stepped every batch).
    ``jitter`` adds a random photometric change to every augmented image batch: a gamma in
    ``[1/(1+jitter), 1+jitter]`` and a gain of up to ``jitter/10`` per channel (0: none).

    ``device`` is where training runs (``"cpu"``, ``"cuda"``, ``"cuda:1"``, ...); the trained
    model is returned on the CPU, where prediction and activation extraction run.

    ``epochs="auto"`` (the default) trains until the loss on a held-out split of the data
    (``holdout``, stratified) has not improved by :data:`poisonscan.fit.MIN_IMPROVEMENT` for
    ``patience`` epochs, at most ``max_epochs``, and keeps the weights of the best epoch
    (:func:`poisonscan.fit.fit_model`). ``holdout`` is also used with a fixed number of epochs,
    to measure whether the model is fit to be judged (by :func:`~poisonscan.fit.fit_model`,
    which :func:`poisonscan.scan` calls); 0 trains on everything, as the paper's experiments
    do (:data:`poisonscan.presets.PRESETS`). :func:`train_model` with a fixed number of epochs
    trains on all it is given.
    """

    epochs: int | str = "auto"
    batch_size: int = 128
    lr: float = 1e-3
    seed: int = 0
    augment: bool = False
    schedule: str = "constant"
    jitter: float = 0.0
    device: str = "cpu"
    holdout: float = 0.1
    max_epochs: int = 40
    patience: int = 2

    def __post_init__(self) -> None:
        if self.epochs != "auto":
            check_int("epochs", self.epochs, low=1)
        check_real("holdout", self.holdout, low=0.0, high=0.5, high_open=True)
        if self.epochs == "auto" and self.holdout == 0:
            raise InputError("epochs='auto' stops on a held-out split; set holdout above 0 "
                             "(e.g. 0.1) or give a number of epochs.")
        check_int("max_epochs", self.max_epochs, low=1)
        check_int("patience", self.patience, low=1)
        if self.epochs == "auto" and self.schedule == "cosine":
            raise InputError("schedule 'cosine' needs a fixed number of epochs (--epochs N); "
                             "epochs 'auto' stops when the held-out loss stops improving.")
        check_int("batch_size", self.batch_size, low=1)
        check_real("lr", self.lr, low=0.0, low_open=True)
        check_int("seed", self.seed, low=0)
        if not isinstance(self.augment, bool):
            raise InputError(f"augment must be true or false; got {self.augment!r}.")
        check_choice("schedule", self.schedule, SCHEDULES)
        check_real("jitter", self.jitter, low=0.0)
        if self.jitter > 0 and not self.augment:
            raise InputError(f"jitter={self.jitter} changes augmented batches only; set "
                             "augment=True (--augment) or leave jitter at 0.")
        try:
            device = torch.device(self.device)
        except (RuntimeError, TypeError):
            raise InputError(f"device must be a torch device such as 'cpu' or 'cuda'; "
                             f"got {self.device!r}.") from None
        if device.type != "cpu":
            _check_available(device)


def _check_available(device: torch.device) -> None:
    """Fail with one line, before any training, when ``device`` cannot hold a tensor here."""
    try:
        torch.ones(1, device=device).cpu()
    except (AssertionError, RuntimeError, NotImplementedError) as exc:  # CPU builds: Assertion
        reason = str(exc).strip().split(". ")[0].splitlines()[0][:120] or type(exc).__name__
        raise InputError(f"device {str(device)!r} is not available on this machine ({reason}); "
                         f"use device 'cpu' (--device cpu).") from None


def to_tensor(x: np.ndarray) -> torch.Tensor:
    """Dataset samples to model input: uint8 images / 255, channels-last to NCHW, float32.

    (N, L) signed-integer arrays (text token ids) become int64 for the embedding.
    """
    if x.ndim == 2 and x.dtype.kind == "i":
        return torch.from_numpy(np.ascontiguousarray(x, dtype=np.int64))
    t = torch.from_numpy(np.ascontiguousarray(x))
    t = t.float().div_(255.0) if t.dtype == torch.uint8 else t.float()
    if t.ndim == 3:
        return t.unsqueeze(1)
    if t.ndim == 4:
        return t.permute(0, 3, 1, 2).contiguous()
    return t


def augment(images: torch.Tensor, gen: torch.Generator, *, scale: float = 0.1,
            degrees: float = 10.0, shift: float = 0.08, jitter: float = 0.0) -> torch.Tensor:
    """A random affine warp of each image of an (N, C, H, W) batch; other inputs unchanged.

    Each image is scaled by a factor in ``1 +- scale``, rotated by up to ``degrees`` and shifted
    by up to ``shift`` of its size (bilinear, border pixels repeated), with draws from ``gen``.
    With ``jitter > 0``, each image then gets a gamma in ``[1/(1+jitter), 1+jitter]`` (log-
    uniform) and a gain in ``1 +- jitter/10`` per channel, clipped to [0, 1].
    """
    if images.ndim != 4:
        return images
    n = len(images)
    u = (torch.rand(n, 4, generator=gen) * 2 - 1).to(images.device)
    if jitter > 0:
        v = (torch.rand(n, 1 + images.shape[1], generator=gen) * 2 - 1).to(images.device)
        gamma = torch.exp(np.log1p(jitter) * v[:, 0]).view(n, 1, 1, 1)
        gain = (1 + jitter / 10 * v[:, 1:]).view(n, -1, 1, 1)
        images = (images.clamp(0, 1) ** gamma * gain).clamp(0, 1)
    zoom = 1 + scale * u[:, 0]
    angle = torch.deg2rad(degrees * u[:, 1])
    cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
    theta = torch.stack([torch.stack([cos, -sin, 2 * shift * u[:, 2]], 1),
                         torch.stack([sin, cos, 2 * shift * u[:, 3]], 1)], 1)
    grid = nn.functional.affine_grid(theta, list(images.shape), align_corners=False)
    return nn.functional.grid_sample(images, grid, padding_mode="border", align_corners=False)


def train_model(
    model: nn.Module,
    x: np.ndarray,
    y: np.ndarray,
    config: TrainConfig = TrainConfig(),
    *,
    progress: bool = True,
    desc: str = "train",
    monitor: Monitor | None = None,
) -> nn.Module:
    """Train ``model`` in place on ``x`` (N, ...) and labels ``y`` (N,); returns it in eval mode,
    on the CPU (training runs on ``config.device``).

    The batch order and any randomness inside the model (dropout) are drawn from
    ``config.seed``; torch's global random state is restored afterwards. ``monitor`` (used by
    :func:`poisonscan.fit.fit_model`) is called every ``monitor.every`` batches and at the end,
    and stops training when it returns True.
    """
    if config.epochs == "auto" and monitor is None:  # stop on a held-out split
        from .fit import fit_model  # noqa: PLC0415  (fit builds on this module)

        fit_model(model, x, y, config, progress=progress, desc=desc)
        return model
    # manual_seed also reseeds every GPU: on a CUDA device, restore their states as well
    gpus = range(torch.cuda.device_count()) if torch.device(config.device).type == "cuda" else []
    with torch.random.fork_rng(devices=gpus):
        torch.manual_seed(config.seed)
        try:
            return _train(model.to(config.device), x, y, config, progress=progress, desc=desc,
                          monitor=monitor)
        finally:
            model.cpu()


class Monitor(Protocol):
    """Called by the training loop every ``every`` batches (and after the last one) with the
    model and the number of batches done; True stops training."""

    every: int

    def __call__(self, model: nn.Module, step: int) -> bool: ...


def _train(model: nn.Module, x: np.ndarray, y: np.ndarray, config: TrainConfig, *,
           progress: bool, desc: str, monitor: Monitor | None = None) -> nn.Module:
    gen = torch.Generator().manual_seed(config.seed)
    if isinstance(model, MLP):
        model.set_standardization(to_tensor(x))
    optimiser = torch.optim.Adam(model.parameters(), lr=config.lr)
    loss_fn = nn.CrossEntropyLoss()
    device = torch.device(config.device)
    labels = torch.from_numpy(np.asarray(y, dtype=np.int64)).to(device)
    n = len(labels)
    steps = (n + config.batch_size - 1) // config.batch_size
    epochs = config.max_epochs if config.epochs == "auto" else int(config.epochs)
    scheduler = (torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, epochs * steps)
                 if config.schedule == "cosine" else None)
    model.train()
    step = 0
    with tqdm(total=epochs * steps, desc=desc, unit="batch", disable=not progress,
              leave=False) as bar:
        for epoch in range(epochs):
            order = torch.randperm(n, generator=gen).numpy()
            for start in range(0, n, config.batch_size):
                idx = order[start:start + config.batch_size]
                batch = to_tensor(x[idx]).to(device)
                if config.augment:
                    batch = augment(batch, gen, jitter=config.jitter)
                loss = loss_fn(model(batch), labels[torch.from_numpy(idx).to(device)])
                optimiser.zero_grad(set_to_none=True)
                loss.backward()
                optimiser.step()
                if scheduler is not None:
                    scheduler.step()
                bar.update(1)
                step += 1
                if monitor is not None and (step % monitor.every == 0 or step == epochs * steps):
                    stop = monitor(model, step)
                    model.train()
                    if stop:
                        return model.eval()
            bar.set_postfix(epoch=epoch + 1, loss=f"{loss.item():.3f}")
    return model.eval()


def model_device(model: nn.Module) -> torch.device:
    """The device of the model's parameters (the CPU for a model without any): where its
    inputs must go."""
    return next(model.parameters(), torch.empty(0)).device


@torch.no_grad()
def predict(model: nn.Module, x: np.ndarray, *,
            batch_size: int = INFERENCE_BATCH) -> np.ndarray:
    """Predicted class of each sample, (N,) int64, in eval mode, in batches of
    ``batch_size``, on the model's device (:func:`model_device`)."""
    device = model_device(model)
    model.eval()
    out = np.empty(len(x), dtype=np.int64)
    for start in range(0, len(x), batch_size):
        batch = to_tensor(x[start:start + batch_size]).to(device)
        out[start:start + batch_size] = model(batch).argmax(1).cpu().numpy()
    return out


def model_metrics(model: nn.Module, data: Dataset) -> dict[str, float]:
    """Clean test accuracy and attack success rate, where ``data`` has those test sets."""
    out: dict[str, float] = {}
    if data.x_test is not None and data.y_test is not None:
        out["test_accuracy"] = accuracy(model, data.x_test, data.y_test)
    if data.x_test_poison is not None and data.y_test_poison is not None:
        out["attack_success_rate"] = attack_success_rate(predict(model, data.x_test_poison),
                                                         data.y_test_poison)
    return out


def accuracy(model: nn.Module, x: np.ndarray, y: np.ndarray) -> float:
    """Share of ``x`` that ``model`` classifies as ``y``."""
    return float(np.mean(predict(model, x) == y)) if len(y) else float("nan")
