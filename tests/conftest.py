"""Shared fixtures: small synthetic datasets and the location of the real shared datasets."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from poisonscan.data import Dataset

REPO = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path | None:
    """``$POISONSCAN_DATA`` or ``../shared/datasets`` beside the repository, if it exists."""
    env = os.environ.get("POISONSCAN_DATA")
    for candidate in ([Path(env)] if env else []) + [REPO.parent / "shared" / "datasets"]:
        if (candidate / "mnist").is_dir():
            return candidate
    return None


@pytest.fixture(autouse=True)
def _seed_and_threads() -> None:
    torch.manual_seed(0)
    np.random.seed(0)


@pytest.fixture
def mnist_dir() -> Path:
    path = shared_data_dir()
    if path is None:
        pytest.skip("real MNIST not found: set POISONSCAN_DATA or place ../shared/datasets")
    return path


def make_blob_images(n_per_class: int = 60, n_classes: int = 3, size: int = 12,
                     seed: int = 0) -> Dataset:
    """Tiny uint8 images: class k has a bright bar at row 2 + 3k, plus noise; with a test set."""
    rng = np.random.default_rng(seed)

    def draw(n: int) -> tuple[np.ndarray, np.ndarray]:
        y = np.repeat(np.arange(n_classes), n)
        x = rng.integers(0, 40, size=(len(y), size, size)).astype(np.uint8)
        for k in range(n_classes):
            x[y == k, 2 + 3 * k, 1:-1] = 230
        return x, y

    x, y = draw(n_per_class)
    xt, yt = draw(n_per_class // 3)
    return Dataset(x=x, y=y, x_test=xt, y_test=yt, name="blobs")


@pytest.fixture
def blob_images() -> Dataset:
    return make_blob_images()


def planted_activations(n_classes: int = 4, n_clean: int = 400, n_poison: int = 60,
                        dim: int = 24, seed: int = 0, poison: bool = True):
    """Synthetic activations with planted sub-clusters.

    Class c is N(mu_c, I); when ``poison``, class t = (s + 1) mod K also holds ``n_poison``
    samples from N(mu_s + trigger, I): they look like their source class s plus a trigger
    direction. Returns (activations, labels, is_poison, source).
    """
    rng = np.random.default_rng(seed)
    mus = rng.normal(0, 6, size=(n_classes, dim))
    trigger = np.zeros(dim)
    trigger[0] = 12.0
    xs, ys, ps, ss = [], [], [], []
    for c in range(n_classes):
        xs.append(rng.normal(mus[c], 1.0, size=(n_clean, dim)))
        ys.append(np.full(n_clean, c))
        ps.append(np.zeros(n_clean, bool))
        ss.append(np.full(n_clean, c))
        if poison:
            s = (c - 1) % n_classes
            xs.append(rng.normal(mus[s] + trigger, 1.0, size=(n_poison, dim)))
            ys.append(np.full(n_poison, c))
            ps.append(np.ones(n_poison, bool))
            ss.append(np.full(n_poison, s))
    return (np.concatenate(xs).astype(np.float32), np.concatenate(ys), np.concatenate(ps),
            np.concatenate(ss))


def nearest_mean_reclassifier(acts: np.ndarray, labels: np.ndarray):
    """A real (if simple) reclassifier: nearest class mean fitted on the kept samples."""

    def reclassify(keep: np.ndarray, query: np.ndarray) -> np.ndarray:
        classes = np.unique(labels[keep])
        means = np.stack([acts[keep & (labels == c)].mean(0) for c in classes])
        d = np.linalg.norm(acts[query][:, None, :] - means[None], axis=2)
        return classes[np.argmin(d, axis=1)]

    return reclassify
