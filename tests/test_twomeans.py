"""The batched 2-means restarts (``poisonscan.detect.twomeans``) against scikit-learn's KMeans."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.cluster import KMeans

import poisonscan.detect.twomeans as tm
from poisonscan.detect.cluster import screen_restarts
from poisonscan.detect.twomeans import two_means_restarts


def _planted(seed: int, m: int = 2000, d: int = 5, shift: float = 6.0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((m, d))
    planted = np.zeros(m, bool)
    planted[rng.choice(m, m // 10, replace=False)] = True
    x[planted, seed % d] += shift
    return x, planted


def _split(x: np.ndarray, centres: np.ndarray) -> tuple[np.ndarray, float]:
    d = ((x[:, None, :] - centres[None]) ** 2).sum(axis=2)
    return d.argmin(axis=1), float(d.min(axis=1).sum())


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_best_restart_reaches_scikit_learns_optimum(seed: int) -> None:
    x, planted = _planted(seed)
    ours, inertia = _split(x, two_means_restarts(x, 20, seed))
    theirs, sk_inertia = _split(x, KMeans(2, n_init=20, random_state=seed).fit(x).cluster_centers_)
    assert abs(inertia - sk_inertia) <= 1e-3 * sk_inertia
    moved = min((ours != theirs).sum(), (ours == theirs).sum())
    assert moved <= 0.005 * len(x)
    small = ours == np.argmin(np.bincount(ours))
    f1 = 2 * (small & planted).sum() / (small.sum() + planted.sum())
    assert f1 > 0.95


def test_centres_are_converged_lloyd_means() -> None:
    x, _ = _planted(4)
    centres = two_means_restarts(x, 10, 0)
    labels, _ = _split(x, centres)
    means = np.stack([x[labels == c].mean(axis=0) for c in range(2)])
    # stopped when the centres moved by at most tol * mean variance (squared, summed)
    assert ((means - centres) ** 2).sum() <= 1e-4 * np.var(x, axis=0).mean()


def test_seeded_and_independent_of_the_batching(monkeypatch) -> None:
    x, _ = _planted(5, m=600)
    whole = two_means_restarts(x, 12, 7)
    np.testing.assert_array_equal(whole, two_means_restarts(x, 12, 7))
    monkeypatch.setattr(tm, "_BATCH_ELEMENTS", 600 * 2 * 5)  # batches of 5, 5 and 2 restarts
    np.testing.assert_array_equal(whole, two_means_restarts(x, 12, 7))


def test_degenerate_data_gives_finite_centres() -> None:
    same = np.ones((50, 3))
    np.testing.assert_array_equal(two_means_restarts(same, 5, 0), np.ones((2, 3)))
    two = np.repeat(np.array([[0.0, 0.0], [5.0, 1.0]]), [40, 10], axis=0)
    centres = two_means_restarts(two, 5, 0)
    np.testing.assert_allclose(np.sort(centres, axis=0), [[0.0, 0.0], [5.0, 1.0]], atol=1e-12)


def test_an_empty_cluster_moves_to_the_farthest_sample() -> None:
    x = np.array([[0.0], [1.0], [2.0], [10.0]])
    data = tm._Centred(x - x.mean(axis=0), tol=0.0)
    start = np.array([[[0.0], [100.0]]]) - x.mean()  # centre 1 far beyond every sample
    out = data.lloyd(start, max_iter=20) + x.mean()
    np.testing.assert_allclose(np.sort(out[0, :, 0]), [1.0, 10.0])


def test_the_first_of_equal_splits_is_kept() -> None:
    a = np.array([True, False, False, True])
    assert tm._same_split(a, a.copy()) and tm._same_split(a, ~a)
    assert not tm._same_split(a, np.array([True, True, False, False]))


def test_other_k_still_use_scikit_learn() -> None:
    x, _ = _planted(6, m=300)
    centres = screen_restarts(x, 3, 5, 0)
    np.testing.assert_allclose(
        centres, KMeans(3, n_init=5, random_state=0).fit(x).cluster_centers_)
