"""Training to a held-out criterion and the model's adequacy (poisonscan.fit), and presets."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import make_blob_images
from poisonscan import TrainConfig
from poisonscan.errors import InputError
from poisonscan.fit import _flat_end, fit_model, holdout_split
from poisonscan.models.nets import build_model
from poisonscan.presets import PRESETS, preset


def test_holdout_split_is_stratified_seeded_and_keeps_one_per_class() -> None:
    y = np.array([0] * 50 + [1] * 30 + [2] * 1)
    train, held = holdout_split(y, 0.1, seed=3)
    assert np.bincount(y[held], minlength=3).tolist() == [5, 3, 0]
    assert len(np.intersect1d(train, held)) == 0 and len(train) + len(held) == len(y)
    np.testing.assert_array_equal(held, holdout_split(y, 0.1, seed=3)[1])


def test_auto_epochs_stop_on_the_criterion_and_the_model_is_adequate() -> None:
    data = make_blob_images(n_per_class=80)
    model = build_model(None, data.x.shape[1:], 3, seed=0)
    fit = fit_model(model, data.x, data.y, TrainConfig(batch_size=32, lr=3e-3), progress=False)
    assert fit.stopped == "criterion" and fit.converged and fit.adequate
    assert fit.heldout_size == 24 and fit.heldout_accuracy >= 0.9
    assert 1 <= fit.retrain_epochs <= fit.epochs_run < 40
    assert len(fit.heldout_loss) == len(fit.check_epochs) == int(fit.epochs_run)


def test_a_model_that_learned_nothing_is_not_adequate() -> None:
    data = make_blob_images(n_per_class=80)
    model = build_model(None, data.x.shape[1:], 3, seed=0)
    fit = fit_model(model, data.x, data.y, TrainConfig(epochs=1, batch_size=8, lr=1e-5),
                    progress=False)
    assert fit.stopped == "epochs" and len(fit.heldout_loss) >= 4
    assert fit.adequate is False and "not learned the classes" in fit.reason
    assert fit.chance_accuracy == pytest.approx(1 / 3)


def test_a_loss_still_falling_at_the_end_has_not_converged() -> None:
    steps = [8, 16, 24, 32, 35]
    rising = [0.3, 0.6, 0.7, 0.75, 0.78]
    # ln 10 = 2.30: from 0.9 to 0.6 is 18% of the whole fall (2.30 - 0.6), after step 24
    assert not _flat_end([2.0, 1.5, 0.9, 0.64, 0.6], rising, steps, 10)
    assert _flat_end([2.0, 0.5, 0.41, 0.40, 0.40], rising, steps, 10)
    # a small loss still falling by 17% of itself is converged: 0.01 of a 2.25 fall
    assert _flat_end([0.3, 0.1, 0.06, 0.055, 0.05], rising, steps, 10)
    # a loss still falling with an accuracy that no longer rises is converged
    assert _flat_end([0.6, 0.37, 0.039, 0.0032, 0.0029], [0.9, 1.0, 1.0, 1.0, 1.0], steps, 2)
    assert not _flat_end([1.0], [0.5], [10], 10)


def test_no_holdout_trains_on_everything_and_measures_nothing() -> None:
    data = make_blob_images()
    model = build_model(None, data.x.shape[1:], 3, seed=0)
    fit = fit_model(model, data.x, data.y, TrainConfig(epochs=2, holdout=0.0), progress=False)
    assert fit.adequate is None and fit.heldout_size == 0 and fit.retrain_epochs == 2


@pytest.mark.parametrize("kwargs,match", [
    ({"holdout": 0.0}, "stops on a held-out split"),
    ({"schedule": "cosine"}, "fixed number of epochs"),
    ({"holdout": 0.5}, "holdout must be in"),
    ({"epochs": "some"}, "epochs must be an integer"),
])
def test_train_config_refuses_contradictions(kwargs: dict, match: str) -> None:
    with pytest.raises(InputError, match=match):
        TrainConfig(**kwargs)


def test_presets() -> None:
    assert set(PRESETS) == {"default", "paper"}
    paper = preset("paper")
    assert paper.train_config(seed=4) == TrainConfig(epochs=3, holdout=0.0, seed=4)
    assert paper.detector_of(random_state=2).get_params()["verdict_rule"] == "paper"
    assert preset("default").detector_of().verdict_rule == "graded"
    assert preset("default").train_config().epochs == "auto"
    assert paper.train_config(epochs=5).epochs == 5  # given values win
    with pytest.raises(InputError, match="Did you mean 'paper'"):
        preset("papr")
