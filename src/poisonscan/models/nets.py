"""Model architectures, chosen from the input shape.

Every network ends in ``hidden`` (the last hidden layer, after its ReLU) followed by the final
``nn.Linear`` named ``classifier``; Activation Clustering reads ``hidden`` by default. Inputs are
float32 tensors: images NCHW in [0, 1], feature vectors (N, D); text: (N, L) int64 token ids
(``textcnn``, :mod:`poisonscan.models.text`).
"""

from __future__ import annotations

import torch
from torch import nn

from .._validation import check_choice, check_int
from ..errors import InputError
from .text import TextCNN

__all__ = ["ARCHITECTURES", "ColorCNN", "MLP", "SmallCNN", "build_model", "default_architecture"]


class SmallCNN(nn.Module):
    """Two conv blocks and one hidden dense layer: the paper-style CNN for grayscale images
    (MNIST).
    """

    def __init__(self, in_shape: tuple[int, int, int], n_classes: int, *,
                 channels: tuple[int, int] = (16, 32), hidden: int = 128) -> None:
        super().__init__()
        c, h, w = in_shape
        self.features = nn.Sequential(
            nn.Conv2d(c, channels[0], 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(channels[0], channels[1], 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(),
        )
        self.dense = nn.Linear(channels[1] * (h // 4) * (w // 4), hidden)
        self.hidden = nn.ReLU()
        self.classifier = nn.Linear(hidden, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.hidden(self.dense(self.features(x))))


class PerImageStandardize(nn.Module):
    """Subtract each image's mean and divide by its standard deviation (per channel).

    Removes the brightness and contrast differences between photographs (GTSRB's lighting
    varies by an order of magnitude), so the network spends no capacity on them.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = x.mean(dim=(2, 3), keepdim=True)
        std = x.std(dim=(2, 3), keepdim=True).clamp_min(1e-3)
        return (x - mean) / std


class ColorCNN(nn.Module):
    """Three 3x3 conv blocks with batch norm, then one hidden dense layer: for small colour
    photographs such as 32x32 traffic signs.

    Per-image standardisation and batch normalisation make it train in a few epochs on
    photographs whose lighting varies widely; its cost per image is close to SmallCNN's.
    """

    def __init__(self, in_shape: tuple[int, int, int], n_classes: int, *,
                 channels: tuple[int, int, int] = (32, 64, 64), hidden: int = 128) -> None:
        super().__init__()
        c, h, w = in_shape
        blocks: list[nn.Module] = [PerImageStandardize()]
        for c_in, c_out in zip((c, *channels[:-1]), channels):
            blocks += [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out),
                       nn.ReLU(), nn.MaxPool2d(2)]
        self.features = nn.Sequential(*blocks, nn.Flatten())
        self.dense = nn.Linear(channels[-1] * (h // 8) * (w // 8), hidden)
        self.hidden = nn.ReLU()
        self.classifier = nn.Linear(hidden, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.hidden(self.dense(self.features(x))))


class MLP(nn.Module):
    """Standardise, then two hidden ReLU layers: for flat feature vectors.

    The standardisation statistics are buffers, saved with the weights.
    """

    def __init__(self, in_shape: tuple[int], n_classes: int, *, hidden: int = 128) -> None:
        super().__init__()
        (d,) = in_shape
        self.register_buffer("mean", torch.zeros(d))
        self.register_buffer("scale", torch.ones(d))
        self.dense1 = nn.Linear(d, 2 * hidden)
        self.act1 = nn.ReLU()
        self.dense = nn.Linear(2 * hidden, hidden)
        self.hidden = nn.ReLU()
        self.classifier = nn.Linear(hidden, n_classes)

    def set_standardization(self, x: torch.Tensor) -> None:
        """Set the input mean and scale from training data (N, D)."""
        x = x.float()
        self.mean.copy_(x.mean(0))
        self.scale.copy_(x.std(0).clamp_min(1e-6))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = (x.float() - self.mean) / self.scale
        return self.classifier(self.hidden(self.dense(self.act1(self.dense1(x)))))


ARCHITECTURES = {"cnn": SmallCNN, "color-cnn": ColorCNN, "mlp": MLP, "textcnn": TextCNN}


def default_architecture(sample_shape: tuple[int, ...], *, is_text: bool = False) -> str:
    """``"textcnn"`` for text (token ids), ``"color-cnn"`` for colour images (H, W, 3|4),
    ``"cnn"`` for grayscale images (H, W) / (H, W, 1), ``"mlp"`` for feature vectors (D,)."""
    if is_text:
        return "textcnn"
    if len(sample_shape) == 1:
        return "mlp"
    return "color-cnn" if len(sample_shape) == 3 and sample_shape[2] > 1 else "cnn"


def model_input_shape(sample_shape: tuple[int, ...]) -> tuple[int, ...]:
    """The tensor shape one sample has inside the model: (C, H, W) or (D,)."""
    if len(sample_shape) == 1:
        return tuple(sample_shape)
    if len(sample_shape) == 2:
        return (1, *sample_shape)
    h, w, c = sample_shape
    return (c, h, w)


def build_model(arch: str | None, sample_shape: tuple[int, ...], n_classes: int, *,
                seed: int | None = None, vocab_size: int | None = None) -> nn.Module:
    """Build an untrained model for samples of ``sample_shape`` (as stored in the dataset).

    Parameters
    ----------
    arch
        ``"cnn"``, ``"mlp"``, ``"textcnn"`` or None to choose from the shape (and
        ``vocab_size``: text gets ``"textcnn"``).
    sample_shape
        Shape of one sample in the dataset: (H, W), (H, W, C), (D,) or (L,) token ids.
    n_classes
        Number of output classes.
    seed
        Seed of the weight initialisation (the global torch RNG is left untouched); None uses
        the global RNG.
    vocab_size
        Text only: the vocabulary size V (required by ``"textcnn"``).
    """
    arch = check_choice("arch", arch or default_architecture(
        sample_shape, is_text=vocab_size is not None), ARCHITECTURES)
    shape = model_input_shape(sample_shape)
    kwargs: dict[str, int] = {}
    if arch == "textcnn" or vocab_size is not None:
        if arch != "textcnn" or vocab_size is None or len(shape) != 1:
            raise InputError(f"architecture {arch!r} does not fit samples of shape {sample_shape} "
                             f"with vocab_size={vocab_size}: text (token ids (L,) and a vocab) "
                             "needs 'textcnn', and 'textcnn' needs text.")
        kwargs["vocab_size"] = check_int("vocab_size", vocab_size, low=2)
    elif (arch == "mlp") != (len(shape) == 1):
        raise InputError(f"architecture {arch!r} does not fit samples of shape {sample_shape}.")
    if arch in ("cnn", "color-cnn") and (shape[1] < 8 or shape[2] < 8):
        raise InputError(f"the CNN needs images of at least 8x8 pixels; got {shape[1]}x{shape[2]}.")
    if seed is None:
        return ARCHITECTURES[arch](shape, n_classes, **kwargs)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return ARCHITECTURES[arch](shape, n_classes, **kwargs)
