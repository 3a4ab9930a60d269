"""The README's Python API example runs as written."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

import poisonscan as ps
from conftest import REPO, planted_activations


def readme_python_blocks() -> list[str]:
    """The ```python blocks of README.md, in order."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


def test_readme_has_one_python_example() -> None:
    blocks = readme_python_blocks()
    assert len(blocks) == 1, f"expected the one Python API example, found {len(blocks)}"
    assert "ps.scan(" in blocks[0] and "fit_detect(" in blocks[0]


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_readme_python_example_runs(tmp_path, monkeypatch) -> None:
    # the example's inputs: a poisoned "poisoned.npz" in the working folder (a small slice of the
    # embedded MNIST sample, pattern trigger 0 -> 1), and activations with planted poison
    digits = ps.load_dataset("mnist-sample")
    keep = np.concatenate([np.flatnonzero(digits.y == c)[:150] for c in range(4)])
    small = digits.replace(x=digits.x[keep], y=digits.y[keep], x_test=None, y_test=None)
    poisoned = ps.poison_dataset(small, ps.get_trigger("pattern"), [(0, 1)], rate=0.2, seed=0)
    ps.save_dataset(tmp_path / "poisoned.npz", poisoned)
    activations, labels, is_poison, _ = planted_activations(seed=3)
    monkeypatch.chdir(tmp_path)

    namespace = {"activations": activations, "labels": labels}
    with torch.random.fork_rng():  # the example's own models draw from torch's global generator
        torch.manual_seed(0)
        exec(compile(readme_python_blocks()[0], "README.md", "exec"), namespace)  # noqa: S102

    scanned = namespace["result"].detection
    assert {c.verdict for c in scanned.classes} <= {"clean", "poisoned", "suspicious"}
    flagged = np.asarray(scanned.flagged_indices)
    assert np.all(np.diff(flagged) > 0)
    # the repair part: a repaired model with its figures, and the corrected data set
    fixed, clean = namespace["fixed"], namespace["clean"]
    assert {"flagged_as_source_rate", "unflagged_as_label_rate"} <= set(fixed.after)
    assert len(clean.y) == len(namespace["data"].y) - fixed.n_removed
    # the own-model part: a plain nn.Sequential, trained and retrained by the example itself
    data, own = namespace["data"], namespace["own"]
    caught = own.is_poison[data.is_poison].mean()
    assert caught > 0.9 and 1 in own.poisoned_classes  # (150 images a class: not exact)
    # the last part, on the planted activations, finds the planted poison
    det = namespace["det"]
    assert set(np.flatnonzero(is_poison)) <= set(np.asarray(det.flagged_indices))
