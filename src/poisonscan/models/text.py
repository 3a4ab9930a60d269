"""A Kim (2014) style convolutional network for sentence classification, trained from scratch.

``Embedding(V, 100, padding_idx=0)`` -> ``Conv1d`` with kernel sizes 3, 4, 5 (100 filters each)
-> ReLU -> max over time -> concatenation (300) -> dropout 0.5 -> ``dense`` ``Linear(300, 128)``
-> ``hidden`` ReLU -> ``classifier`` ``Linear(128, n_classes)``. As in every poisonscan network,
Activation Clustering reads the last hidden layer ``hidden`` by default.

The embedding starts from U(-0.25, 0.25), Kim's initialisation of random word vectors: with
PyTorch's default N(0, 1) the convolutions memorise the random vectors (Rotten Tomatoes, 3
epochs of Adam at 1e-3: test accuracy 0.66 instead of 0.77). The library's default training
(3 epochs, Adam 1e-3, batch 128) is the right length: later epochs only overfit.

Inputs are (N, L) token ids (int64 from :func:`poisonscan.train.to_tensor`; float ids are
accepted and rounded); sequences shorter than the widest kernel are padded with ``<pad>``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import InputError

__all__ = ["SeededDropout", "TextCNN"]


class SeededDropout(nn.Module):
    """Dropout whose masks come from a private generator, so training is reproducible.

    ``nn.Dropout`` draws from torch's global generator, which is seeded at random in every
    process; this one is seeded from the global generator *when the module is built*, which
    :func:`~poisonscan.models.nets.build_model` seeds.
    """

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = float(p)
        self.generator = torch.Generator().manual_seed(int(torch.randint(2**62, (1,)).item()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        keep = torch.rand(x.shape, generator=self.generator) >= self.p
        return x * keep.to(x.dtype) / (1.0 - self.p)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class TextCNN(nn.Module):
    """Embedding, parallel 1-D convolutions, max-over-time pooling and one hidden dense layer.

    Parameters
    ----------
    in_shape
        ``(L,)``: the sequence length of the dataset (the network itself accepts any length).
    n_classes
        Number of output classes.
    vocab_size
        V: number of token ids (the embedding's rows); id 0 is padding.
    embed_dim
        Embedding size.
    kernel_sizes, n_filters
        Convolution widths and filters per width.
    hidden
        Size of the hidden layer read by Activation Clustering.
    dropout
        Dropout on the pooled features during training.
    """

    def __init__(self, in_shape: tuple[int], n_classes: int, *, vocab_size: int,
                 embed_dim: int = 100, kernel_sizes: tuple[int, ...] = (3, 4, 5),
                 n_filters: int = 100, hidden: int = 128, dropout: float = 0.5) -> None:
        super().__init__()
        self.vocab_size = int(vocab_size)
        self.kernel_sizes = tuple(kernel_sizes)
        self.embedding = nn.Embedding(self.vocab_size, embed_dim, padding_idx=0)
        with torch.no_grad():  # Kim's U(-0.25, 0.25) for random vectors; N(0, 1) overfits badly
            self.embedding.weight.uniform_(-0.25, 0.25)
            self.embedding.weight[0].zero_()
        self.convs = nn.ModuleList(nn.Conv1d(embed_dim, n_filters, k) for k in self.kernel_sizes)
        self.dropout = SeededDropout(dropout)
        self.dense = nn.Linear(n_filters * len(self.kernel_sizes), hidden)
        self.hidden = nn.ReLU()
        self.classifier = nn.Linear(hidden, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (N, n_classes) of token ids ``x`` (N, L)."""
        if x.is_floating_point():
            x = x.round().long()
        if x.numel() and (int(x.max()) >= self.vocab_size or int(x.min()) < 0):
            raise InputError(f"token ids must be in [0, {self.vocab_size}) for this model's "
                             f"vocabulary; got ids in [{int(x.min())}, {int(x.max())}] (the data's "
                             "vocab does not match the model's).")
        short = max(self.kernel_sizes) - x.shape[1]
        if short > 0:
            x = F.pad(x, (0, short), value=0)
        emb = self.embedding(x).transpose(1, 2)  # (N, E, L)
        pooled = torch.cat([F.relu(conv(emb)).amax(dim=2) for conv in self.convs], dim=1)
        return self.classifier(self.hidden(self.dense(self.dropout(pooled))))
