"""Backdoor triggers: pure functions from images to triggered copies.

Every trigger takes images of shape (N, H, W) or (N, H, W, C), uint8 0-255 or float 0-1, and
returns a new array of the same shape and dtype; the input is never modified.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import numpy as np

from .._validation import check_choice, check_real
from ..errors import InputError
from .text import TextTrigger

__all__ = ["TRIGGERS", "Trigger", "get_trigger", "pattern", "pixel", "patch", "blend"]


class Trigger(Protocol):
    def __call__(self, x: np.ndarray) -> np.ndarray: ...


def _max_value(x: np.ndarray) -> float:
    return 255.0 if x.dtype == np.uint8 else 1.0


def _check_images(x: np.ndarray, attack: str) -> None:
    if x.ndim not in (3, 4):
        raise InputError(f"attack {attack!r} needs images of shape (N, H, W) or (N, H, W, C); "
                         f"got shape {x.shape}.")
    if x.shape[1] < 6 or x.shape[2] < 6:
        raise InputError(f"attack {attack!r} needs images of at least 6x6 pixels; got "
                         f"{x.shape[1]}x{x.shape[2]}.")


def pattern(x: np.ndarray) -> np.ndarray:
    """The paper's MNIST trigger: four bright pixels in a small 'X' near the lower-right corner.

    Pixels (H-2, W-2), (H-4, W-2), (H-2, W-4), (H-3, W-3) are set to the maximum value.
    """
    _check_images(x, "pattern")
    out = x.copy()
    h, w = x.shape[1], x.shape[2]
    rows = np.array([h - 2, h - 4, h - 2, h - 3])
    cols = np.array([w - 2, w - 2, w - 4, w - 3])
    out[:, rows, cols] = _max_value(x)
    return out


def pixel(x: np.ndarray) -> np.ndarray:
    """A single bright pixel at (H-2, W-2)."""
    _check_images(x, "pixel")
    out = x.copy()
    out[:, x.shape[1] - 2, x.shape[2] - 2] = _max_value(x)
    return out


def patch(
    x: np.ndarray,
    *,
    size: int = 4,
    position: tuple[int, int] | None = None,
    color: tuple[float, float, float] = (1.0, 1.0, 0.0),
) -> np.ndarray:
    """A coloured square sticker (default: 4x4 yellow) with its top-left corner at ``position``.

    Parameters
    ----------
    x
        Images (N, H, W) or (N, H, W, C).
    size
        Side of the square in pixels.
    position
        (row, col) of the top-left corner; default: centred horizontally, just below the middle
        (where a sticker on a centred sign would sit).
    color
        RGB in [0, 1]; grayscale images use the mean of the three.
    """
    _check_images(x, "patch")
    if len(color) != 3:
        raise InputError(f"patch color must be R,G,B (3 values in [0, 1]); got {tuple(color)}.")
    color = tuple(check_real("patch color", v, low=0.0, high=1.0) for v in color)
    h, w = x.shape[1], x.shape[2]
    if position is None:
        position = (h // 2 + h // 16, (w - size) // 2)
    r, c = position
    if size < 1 or r < 0 or c < 0 or r + size > h or c + size > w:
        raise InputError(f"patch of size {size} at {position} does not fit in {h}x{w} images.")
    out = x.copy()
    scale = _max_value(x)
    if x.ndim == 3 or x.shape[-1] == 1:
        out[:, r:r + size, c:c + size] = np.mean(color) * scale
    else:
        rgb = np.zeros(x.shape[-1])
        rgb[:3] = np.asarray(color)[: x.shape[-1]]
        if x.shape[-1] == 4:
            rgb[3] = 1.0
        out[:, r:r + size, c:c + size, :] = (rgb * scale).astype(x.dtype)
    return out


def blend(x: np.ndarray, *, alpha: float = 0.1, seed: int = 1234) -> np.ndarray:
    """Alpha-blend every image with one fixed noise image drawn from ``seed``.

    ``x' = (1 - alpha) * x + alpha * noise`` with noise uniform in the image's value range.
    """
    _check_images(x, "blend")
    check_real("blend alpha", alpha, low=0.0, high=1.0)
    noise = np.random.default_rng(seed).random(x.shape[1:]) * _max_value(x)
    out = (1.0 - alpha) * x.astype(np.float64) + alpha * noise
    if x.dtype == np.uint8:
        return np.clip(np.rint(out), 0, 255).astype(np.uint8)
    return np.clip(out, 0.0, 1.0).astype(x.dtype)


TRIGGERS: dict[str, Callable[..., np.ndarray]] = {
    "pattern": pattern,
    "pixel": pixel,
    "patch": patch,
    "blend": blend,
    "text": TextTrigger,  # a class: get_trigger("text", vocab=..., phrase=..., seed=...)
}


def get_trigger(name: str, **options: object) -> Trigger:
    """Return the trigger ``name`` with its options bound (unknown names fail with a suggestion).

    ``"text"`` returns a :class:`~poisonscan.attacks.text.TextTrigger` built from the options
    (``phrase``, ``vocab``, ``position``, ``seed``).
    """
    check_choice("attack", name, TRIGGERS)
    fn = TRIGGERS[name]
    if isinstance(fn, type):
        return fn(**options)
    if not options:
        return fn
    return lambda x: fn(x, **options)
