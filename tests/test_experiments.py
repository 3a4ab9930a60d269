"""Each paper experiment's pipeline on a small slice of its real data (../shared/datasets)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from conftest import shared_data_dir
from poisonscan.experiments import EXPERIMENTS, run_experiment
from poisonscan.experiments.signs import SUPER_CLASSES, to_superclasses
from poisonscan.data import Dataset


def _need(folder: str) -> Path:
    root = shared_data_dir()
    if root is None or not (root / folder).exists():
        pytest.skip(f"real dataset '{folder}' not found under ../shared/datasets")
    return root


@pytest.mark.slow
@pytest.mark.parametrize("name,folder", [("mnist", "mnist"), ("mnist-raw", "mnist"),
                                         ("traffic-signs", "gtsrb"), ("multimodal", "gtsrb"),
                                         ("text", "rt-polarity")])
def test_experiment_pipeline_on_slice(name: str, folder: str, tmp_path: Path) -> None:
    root = _need(folder)
    result = run_experiment(name, root, tmp_path, max_samples=3000, epochs=1)
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["name"] == name and saved["runs"] and saved["tables"]
    md = (tmp_path / "results.md").read_text()
    assert md.startswith(f"### `{name}`") and "|---|" in md
    for table in saved["tables"]:
        assert all(len(row) == len(table["columns"]) for row in table["rows"])
    for run in saved["runs"]:
        if "poison_per_cluster" in run:  # every poison sample lies in one cluster of its class
            assert sum(map(sum, run["poison_per_cluster"].values())) == run["n_poison"]
    if name in ("traffic-signs", "multimodal"):  # the target's clusters: "size (poison) / ..."
        column = saved["tables"][0]["columns"].index("target's clusters: size (poison)")
        for row, run in zip(saved["tables"][0]["rows"], saved["runs"]):
            cells = [cell.split(" (") for cell in row[column].split(" / ")]
            assert sum(int(p.rstrip(")").replace(",", "")) for _, p in cells) == run["n_poison"]
    if name == "traffic-signs":  # GTSRB's sign names and original files reach flagged.csv
        header = (tmp_path / "scan-0.15" / "flagged.csv").read_text().splitlines()[0]
        assert header.split(",")[5:] == ["verdict", "file", "label_name", "suspected_source_name"]
        report = json.loads((tmp_path / "scan-0.15" / "report.json").read_text())
        assert report["input"]["class_names"][14] == "stop"
    assert result.wall_s > 0


def test_registry() -> None:
    assert set(EXPERIMENTS) == {"mnist", "mnist-raw", "traffic-signs", "multimodal", "text"}


def test_superclasses_cover_gtsrb_once() -> None:
    members = sorted(c for g in SUPER_CLASSES.values() for c in g)
    assert members == list(range(43))
    d = Dataset(x=np.zeros((3, 2)), y=np.array([14, 1, 28]), source=np.array([14, 1, 28]))
    assert to_superclasses(d).y.tolist() == [4, 0, 2]
