"""Triggers, mappings and poisoning."""

from __future__ import annotations

import re

import numpy as np
import pytest

from poisonscan.attacks import (blend, get_trigger, parse_mapping, patch, pattern, pixel,
                                poison_dataset)
from poisonscan.data import Dataset
from poisonscan.errors import InputError


def test_pattern_sets_four_corner_pixels_and_copies() -> None:
    x = np.zeros((2, 28, 28), np.uint8)
    out = pattern(x)
    assert x.sum() == 0  # input untouched
    assert out.dtype == np.uint8 and int(out[0].sum()) == 4 * 255
    assert out[0, 26, 26] == out[0, 24, 26] == out[0, 26, 24] == out[0, 25, 25] == 255


def test_pixel_and_float_images() -> None:
    out = pixel(np.zeros((1, 10, 10, 3), np.float32))
    assert out.dtype == np.float32 and out[0, 8, 8].tolist() == [1.0, 1.0, 1.0] and out.sum() == 3


def test_patch_colour_and_position() -> None:
    out = patch(np.zeros((1, 32, 32, 3), np.uint8), size=3, position=(20, 10))
    assert out[0, 20:23, 10:13].reshape(-1, 3).tolist() == [[255, 255, 0]] * 9
    assert out.sum() == 9 * 510
    with pytest.raises(InputError, match="does not fit"):
        patch(np.zeros((1, 8, 8), np.uint8), size=4, position=(6, 6))
    with pytest.raises(InputError, match=r"patch color must be in \[0.0, 1.0\]; got 2.0"):
        patch(np.zeros((1, 8, 8, 3), np.uint8), color=(2.0, 0.0, 0.0))  # would wrap around
    with pytest.raises(InputError, match="R,G,B"):
        patch(np.zeros((1, 8, 8, 3), np.uint8), color=(1.0, 0.0))


def test_blend_is_fixed_noise() -> None:
    x = np.full((3, 8, 8), 100, np.uint8)
    a, b = blend(x), blend(x)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a[0], a[1])
    assert not np.array_equal(a, x)
    with pytest.raises(InputError, match=r"blend alpha must be in \[0.0, 1.0\]"):
        blend(x, alpha=2.0)


def test_triggers_reject_flat_vectors() -> None:
    with pytest.raises(InputError, match="needs images"):
        get_trigger("pattern")(np.zeros((3, 20)))
    with pytest.raises(InputError, match="Did you mean 'patch'"):
        get_trigger("pach")


def test_parse_mapping() -> None:
    assert parse_mapping("all-to-next", 3) == [(0, 1), (1, 2), (2, 0)]
    assert parse_mapping("14:1", 43) == [(14, 1)]
    assert parse_mapping("1,2:0", 3) == [(1, 0), (2, 0)]
    for bad, match in [("1-2", "mapping must be"), ("5:1", "classes 0..2"), ("1:1", "itself")]:
        with pytest.raises(InputError, match=match):
            parse_mapping(bad, 3)


def _clean(n: int = 50) -> Dataset:
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(3), n)
    return Dataset(x=rng.integers(0, 100, (len(y), 10, 10)).astype(np.uint8), y=y,
                   x_test=np.zeros((6, 10, 10), np.uint8), y_test=np.array([0, 0, 1, 1, 2, 2]))


@pytest.mark.parametrize("rate", [0.1, 0.33])
def test_rate_is_fraction_of_target_class(rate: float) -> None:
    clean = _clean()
    p = poison_dataset(clean, pattern, [(0, 1), (2, 1)], rate=rate, seed=0)
    in_target = p.y == 1
    assert abs(p.is_poison[in_target].mean() - rate) < 0.02
    assert set(p.source[p.is_poison]) == {0, 2}
    np.testing.assert_array_equal(p.x[: len(clean.y)], clean.x)  # clean samples all kept
    # poison samples are triggered copies of source samples
    assert (p.x[p.is_poison][:, 8, 8] == 255).all()
    assert p.y_test_poison.tolist() == [1, 1, 1, 1]
    assert p.source_test_poison.tolist() == [0, 0, 2, 2]


def test_rate_zero_is_clean_copy() -> None:
    clean = _clean()
    p = poison_dataset(clean, pattern, parse_mapping("all-to-next", 3), rate=0.0)
    assert len(p.y) == len(clean.y) and not p.is_poison.any()
    np.testing.assert_array_equal(p.source, clean.y)


def test_poisoning_is_seeded_and_checked() -> None:
    clean = _clean()
    a = poison_dataset(clean, pattern, [(0, 1)], rate=0.2, seed=5)
    b = poison_dataset(clean, pattern, [(0, 1)], rate=0.2, seed=5)
    np.testing.assert_array_equal(a.x, b.x)
    with pytest.raises(InputError, match="has only"):
        poison_dataset(clean, pattern, [(0, 1)], rate=0.9)
    for rate in (1.0, -0.1):  # the message shows the interval as it is: 1.0 excluded
        with pytest.raises(InputError, match=re.escape(f"rate must be in [0.0, 1.0); got {rate}")):
            poison_dataset(clean, pattern, [(0, 1)], rate=rate)
