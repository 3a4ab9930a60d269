"""Saving and loading trained models as safetensors, with the architecture in the metadata."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from safetensors import SafetensorError
from safetensors.torch import load_file, safe_open, save_file
from torch import nn

from .._io import atomic_path
from ..errors import InputError
from .nets import build_model

__all__ = ["ModelSpec", "save_model", "load_model"]


@dataclass(frozen=True)
class ModelSpec:
    """What is needed to rebuild a model: architecture, sample shape, number of classes, and
    for text models the vocabulary size."""

    arch: str
    sample_shape: tuple[int, ...]
    n_classes: int
    vocab_size: int | None = None


def save_model(path: str | os.PathLike[str], model: nn.Module, spec: ModelSpec) -> None:
    """Save the weights to a ``.safetensors`` file with ``spec`` in its metadata, atomically."""
    fields = {"arch": spec.arch, "sample_shape": list(spec.sample_shape),
              "n_classes": spec.n_classes}
    if spec.vocab_size is not None:
        fields["vocab_size"] = int(spec.vocab_size)
    meta = {"poisonscan": json.dumps(fields)}
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    with atomic_path(path, suffix=".safetensors") as tmp:
        save_file(state, str(tmp), metadata=meta)


def load_model(path: str | os.PathLike[str]) -> tuple[nn.Module, ModelSpec]:
    """Load a model saved by :func:`save_model` (safetensors: no code is executed)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"model file not found: {path}")
    try:
        with safe_open(str(path), framework="pt") as fh:
            meta = json.loads((fh.metadata() or {})["poisonscan"])
        vocab_size = meta.get("vocab_size")
        spec = ModelSpec(meta["arch"], tuple(meta["sample_shape"]), int(meta["n_classes"]),
                         None if vocab_size is None else int(vocab_size))
        state = load_file(str(path))
    except (SafetensorError, OSError, KeyError, ValueError) as exc:
        raise InputError(f"{path} is not a poisonscan .safetensors model ({exc}).") from None
    # built with a fixed seed: the weights are replaced below, but a text model's dropout
    # generator is seeded when it is built, and continued training (repair) must not depend on
    # the process it runs in
    model = build_model(spec.arch, spec.sample_shape, spec.n_classes, seed=0,
                        vocab_size=spec.vocab_size)
    model.load_state_dict(state)
    return model.eval(), spec
