"""Activation extraction with a forward hook on a named layer."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from ._validation import suggest
from .detect.chunks import release_pages
from .errors import InputError
from .train import INFERENCE_BATCH, model_device, to_tensor

__all__ = ["DEFAULT_LAYER", "layer_names", "resolve_layer", "extract_activations"]

DEFAULT_LAYER = "hidden"


def layer_names(model: nn.Module) -> list[str]:
    """Names of the layers whose outputs can be extracted (``model.named_modules()``)."""
    return [name for name, _ in model.named_modules() if name]


def resolve_layer(model: nn.Module, layer: str | None = None) -> tuple[str, bool]:
    """Return ``(name, read_input)``: which module to hook, and whether to read its input.

    ``layer=None`` means the last hidden layer: the module ``hidden`` if the model has one,
    else the input of the model's last ``nn.Linear``. An unknown name raises with the valid ones.
    """
    modules = dict(model.named_modules())
    if layer is not None:
        if layer not in modules or not layer:
            names = layer_names(model)
            raise InputError(f"unknown layer {layer!r}; valid names: {', '.join(names)}."
                             + suggest(layer, names))
        return layer, False
    if DEFAULT_LAYER in modules:
        return DEFAULT_LAYER, False
    linears = [n for n, m in model.named_modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise InputError("the model has no nn.Linear layer; pass the layer to read with --layer.")
    return linears[-1], True


@torch.no_grad()
def extract_activations(
    model: nn.Module,
    x: np.ndarray,
    *,
    layer: str | None = None,
    batch_size: int = INFERENCE_BATCH,
    out: np.ndarray | None = None,
    progress: bool = False,
) -> np.ndarray:
    """Run ``x`` through ``model`` and return one layer's activations, flattened.

    Parameters
    ----------
    model
        A PyTorch module, on any device; it is put in eval mode. It receives each batch as
        :func:`poisonscan.train.to_tensor` makes it (images: float (B, C, H, W) in [0, 1]),
        moved to the device of its parameters.
    x
        Samples (N, ...) in the dataset layout.
    layer
        Name of a module (see :func:`layer_names`); its output is read. Default: the last hidden
        layer (``hidden``, or the input of the model's last ``nn.Linear``).
    batch_size
        Samples per forward pass.
    out
        Optional preallocated (N, D) float array to fill, e.g. a ``np.memmap`` (float32 or
        float16); the pages of a memory map are released after each batch, so the process
        holds about one batch whatever N is (see :func:`poisonscan.cache.cached_activations`).
    progress
        Show a progress bar.

    Returns
    -------
    np.ndarray
        (N, D) float32 activations (``out`` when given).
    """
    layer, read_input = resolve_layer(model, layer)
    captured: list[torch.Tensor] = []

    def hook(_module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        captured.append((inputs[0] if read_input else output).flatten(1))

    device = model_device(model)
    model.eval()
    handle = dict(model.named_modules())[layer].register_forward_hook(hook)
    try:
        for start in tqdm(range(0, len(x), batch_size), desc="extract", unit="batch",
                          disable=not progress, leave=False):
            model(to_tensor(x[start:start + batch_size]).to(device))
            batch = captured.pop().float().cpu().numpy()
            if out is None:
                out = np.empty((len(x), batch.shape[1]), dtype=np.float32)
            out[start:start + len(batch)] = batch
            release_pages(out)
    finally:
        handle.remove()
    if out is None:
        out = np.empty((0, 0), dtype=np.float32)
    return out
