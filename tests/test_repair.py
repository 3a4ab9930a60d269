"""Repair (relabel / remove) on a tiny model, and the repair command."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from conftest import make_blob_images
from poisonscan import TrainConfig, scan
from poisonscan.attacks import pattern, poison_dataset
from poisonscan import cli
from poisonscan import repair as repair_module
from poisonscan.cli import main
from poisonscan.data import load_dataset, save_dataset
from poisonscan.detect import ActivationClustering
from poisonscan.errors import InputError
from poisonscan.repair import corrected_dataset, corrected_labels, repair, repair_warning
from poisonscan.report import format_repair
from poisonscan.scan_io import read_flagged
from poisonscan.train import predict, train_model


@pytest.fixture(scope="module")
def scanned():
    data = poison_dataset(make_blob_images(n_per_class=120), pattern, [(0, 1), (1, 2), (2, 0)],
                          rate=0.2, seed=0)
    result = scan(data, detector=ActivationClustering(n_components=4, n_init=5),
                  train_config=TrainConfig(epochs=4, batch_size=32), progress=False)
    return data, result


def test_corrected_labels() -> None:
    y, keep = corrected_labels(np.array([0, 1, 2, 2]), np.array([False, True, True, False]),
                               np.array([-1, 0, -1, -1]))
    assert y.tolist() == [0, 0, 2, 2] and keep.tolist() == [True, True, False, True]


def test_corrected_dataset_follows_each_sample() -> None:
    data = make_blob_images(n_per_class=20)
    data = data.replace(files=np.array([f"f{i}.png" for i in range(len(data.y))]),
                        source=data.y.copy())
    flagged = np.zeros(len(data.y), dtype=bool)
    flagged[[3, 25, 41]] = True
    source = np.full(len(data.y), -1)
    source[[3, 25]] = [2, 0]  # sample 41 has no suspected source: left out by relabel
    fixed = corrected_dataset(data, flagged, source, mode="relabel")
    assert len(fixed.y) == len(data.y) - 1 and "f41.png" not in fixed.files
    at = {f: i for i, f in enumerate(fixed.files)}
    assert fixed.y[at["f3.png"]] == 2 and fixed.y[at["f25.png"]] == 0
    assert fixed.y[at["f4.png"]] == data.y[4] and fixed.source[at["f3.png"]] == data.source[3]
    assert np.array_equal(fixed.x[at["f25.png"]], data.x[25])
    assert fixed.x_test is data.x_test  # test sets are kept as they are
    removed = corrected_dataset(data, flagged, source, mode="remove")
    assert len(removed.y) == len(data.y) - 3 and np.array_equal(removed.y, data.y[~flagged])
    with pytest.raises(InputError, match="covers"):
        corrected_dataset(data, flagged[:-1], source)


def test_relabel_repair_uses_ground_truth_sources(scanned) -> None:
    data, result = scanned
    # with the true sources, relabelling must remove the backdoor on this easy task
    rep = repair(result.model, result.spec, data, data.is_poison, data.source,
                 mode="relabel", config=TrainConfig(epochs=3, batch_size=32),
                 scratch_config=TrainConfig(epochs=4, batch_size=32), progress=False)
    assert rep.n_relabelled == int(data.is_poison.sum()) and rep.n_removed == 0
    assert rep.after["attack_success_rate"] < rep.before["attack_success_rate"]
    assert rep.after["attack_success_rate"] < 0.2
    assert rep.after["test_accuracy"] > 0.9 and rep.scratch is not None and rep.scratch_s > 0
    # the figure that needs no test set: how many flagged samples each model reads as source
    x, src = data.x[data.is_poison], data.source[data.is_poison]
    for m, figures in ((result.model, rep.before), (rep.model, rep.after)):
        assert figures["flagged_as_source_rate"] == pytest.approx(np.mean(predict(m, x) == src))
    assert rep.after["flagged_as_source_rate"] > 0.9
    clean_x, clean_y = data.x[~data.is_poison], data.y[~data.is_poison]
    for m, figures in ((result.model, rep.before), (rep.model, rep.after)):
        rate = np.mean(predict(m, clean_x) == clean_y)
        assert figures["unflagged_as_label_rate"] == pytest.approx(rate)
    d = rep.to_dict()
    assert "model" not in d and d["repair_vs_scratch_time"] > 0


def test_relabel_trains_on_while_the_unflagged_samples_are_disturbed(
        scanned, monkeypatch: pytest.MonkeyPatch) -> None:
    """settle_epochs: more epochs only while unflagged agreement is DISTURBANCE below before."""
    data, result = scanned
    args = (result.model, result.spec, data, data.is_poison, data.source)
    kwargs = {"config": TrainConfig(epochs=1, batch_size=32), "scratch_config": None,
              "progress": False}
    monkeypatch.setattr(repair_module, "DISTURBANCE", 1.0)  # never disturbed: no extra epoch
    assert repair(*args, settle_epochs=2, **kwargs).epochs_run == 1
    monkeypatch.setattr(repair_module, "DISTURBANCE", -1.0)  # always disturbed: every one
    assert repair(*args, settle_epochs=2, **kwargs).epochs_run == 3
    assert repair(*args, settle_epochs=0, **kwargs).epochs_run == 1
    assert repair(*args, mode="remove", settle_epochs=2, **kwargs).epochs_run == 1
    with pytest.raises(InputError, match="settle_epochs"):
        repair(*args, settle_epochs=-1, **kwargs)
    summary = {"mode": "relabel", "n_flagged": 3, "n_relabelled": 3, "n_removed": 0,
               "epochs": 1, "epochs_run": 2, "before": {}, "after": {}, "repair_s": 1.0}
    assert format_repair(summary).splitlines()[0].endswith("; 1 more epoch to settle the "
                                                           "unflagged samples")


def test_repair_warning_when_the_rest_of_the_model_is_disturbed() -> None:
    assert repair_warning({"unflagged_as_label_rate": 0.95},
                          {"unflagged_as_label_rate": 0.93}) is None
    assert repair_warning({}, {"unflagged_as_label_rate": 0.5}) is None
    text = repair_warning({"unflagged_as_label_rate": 0.938}, {"unflagged_as_label_rate": 0.555})
    assert text is not None and "55.5%" in text and "93.8%" in text and "--epochs" in text
    summary = {"mode": "relabel", "n_flagged": 3, "n_relabelled": 3, "n_removed": 0,
               "before": {"unflagged_as_label_rate": 0.938},
               "after": {"unflagged_as_label_rate": 0.555}, "repair_s": 1.0, "warning": text}
    printed = format_repair(summary)
    assert "unflagged read as label" in printed and printed.endswith(f"warning: {text}")
    assert "93.80%" in printed
    removed = {**summary, "mode": "remove", "warning": None, "scratch_s": 1.0, "scratch": {}}
    assert "(itself a retraining from scratch)" in format_repair(removed)


def test_relabel_without_any_suspected_source_says_to_remove(scanned) -> None:
    """relative-size and silhouette name no source: relabelling would leave the model as it was,
    so it is refused with a pointer to --mode remove."""
    data, result = scanned
    unknown = np.full(len(data.y), -1)
    with pytest.raises(InputError, match="names none .* use --mode remove"):
        repair(result.model, result.spec, data, data.is_poison, unknown, mode="relabel",
               scratch_config=None, progress=False)
    rep = repair(result.model, result.spec, data, data.is_poison, unknown, mode="remove",
                 config=TrainConfig(epochs=1, batch_size=32), scratch_config=None,
                 progress=False)
    assert rep.n_removed == int(data.is_poison.sum())


def test_remove_repair_and_model_untouched(scanned, monkeypatch: pytest.MonkeyPatch) -> None:
    data, result = scanned
    before = {k: v.clone() for k, v in result.model.state_dict().items()}
    rep = repair(result.model, result.spec, data, data.is_poison, data.source, mode="remove",
                 config=TrainConfig(epochs=4, batch_size=32), scratch_config=None,
                 progress=False)
    assert rep.n_removed == int(data.is_poison.sum()) and rep.scratch is None
    assert rep.after["attack_success_rate"] < 0.2
    assert all((before[k] == v).all() for k, v in result.model.state_dict().items())
    # remove with the scratch settings is that very training: reported, not run twice
    config = TrainConfig(epochs=2, batch_size=32)
    calls = []
    monkeypatch.setattr(repair_module, "train_model",
                        lambda *a, **k: calls.append(k.get("desc")) or train_model(*a, **k))
    same = repair(result.model, result.spec, data, data.is_poison, data.source, mode="remove",
                  config=config, scratch_config=config, progress=False)
    assert calls == ["repair"] and same.scratch == same.after and same.scratch_s == same.repair_s
    other = repair(result.model, result.spec, data, data.is_poison, data.source, mode="remove",
                   config=config, scratch_config=TrainConfig(epochs=1, batch_size=32),
                   progress=False)
    assert calls[1:] == ["repair", "scratch"] and other.scratch is not None
    with pytest.raises(InputError, match="covers"):
        repair(result.model, result.spec, data, data.is_poison[:-1], data.source)
    with pytest.raises(InputError, match="Did you mean 'remove'"):
        repair(result.model, result.spec, data, data.is_poison, data.source, mode="remve")


def test_repair_command(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                        monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "p.npz"
    save_dataset(path, poison_dataset(make_blob_images(n_per_class=90), pattern,
                                      [(0, 1), (1, 2), (2, 0)], rate=0.2, seed=0))
    fast = ["--epochs", "3", "--n-components", "4", "--n-init", "5", "-q"]
    assert main(["scan", str(path), "--out", str(tmp_path / "x"), "--jitter", "0.5", *fast]) == 2
    assert "set augment=True (--augment)" in capsys.readouterr().err
    train = ["--augment", "--schedule", "cosine", "--jitter", "0.5"]
    assert main(["scan", str(path), "--out", str(tmp_path / "s"), *train, *fast]) == 0
    scanned = json.loads((tmp_path / "s" / "report.json").read_text())["parameters"]["train"]
    assert (scanned["augment"], scanned["schedule"], scanned["jitter"]) == (True, "cosine", 0.5)
    configs = []  # the repair trains as the scan did
    real_repair = cli.repair
    monkeypatch.setattr(cli, "repair", lambda *a, **k: configs.append(k) or real_repair(*a, **k))
    code = main(["repair", str(path), "--scan", str(tmp_path / "s"), "--out",
                 str(tmp_path / "r"), "--epochs", "2"])
    out, err = capsys.readouterr()
    assert code == 0, err
    for config in (configs[0]["config"], configs[0]["scratch_config"]):
        assert (config.augment, config.schedule, config.jitter) == (True, "cosine", 0.5)
    assert (configs[0]["config"].epochs, configs[0]["scratch_config"].epochs) == (2, 3)
    assert "repaired" in out and "attack success" in out
    rep = json.loads((tmp_path / "r" / "repair.json").read_text())
    assert {"before", "after", "scratch", "repair_s", "scratch_s", "mode", "warning"} <= set(rep)
    assert "unflagged_as_label_rate" in rep["after"] and "unflagged read as label" in out
    assert (tmp_path / "r" / "model.safetensors").is_file()
    page = (tmp_path / "s" / "report.html").read_text()
    assert page.count('<section id="repair">') == 1 and "after repair" in page
    assert main(["repair", str(path), "--scan", str(tmp_path / "s"), "--out",
                 str(tmp_path / "r"), "--epochs", "1", "--no-scratch", "-q", "--save-data"]) == 0
    fixed = load_dataset(str(tmp_path / "r" / "corrected.npz"))  # what the repair trained on
    rep = json.loads((tmp_path / "r" / "repair.json").read_text())
    assert rep["corrected_data"] == "corrected.npz"
    assert len(fixed.y) == len(load_dataset(str(path)).y) - rep["n_removed"]
    # the corrected data cannot be written over the data it was made from
    assert main(["repair", str(tmp_path / "r" / "corrected.npz"), "--scan", str(tmp_path / "s"),
                 "--out", str(tmp_path / "r"), "--save-data", "-q"]) == 2
    assert "would overwrite the input" in capsys.readouterr().err
    page = (tmp_path / "s" / "report.html").read_text()
    assert page.count('<section id="repair">') == 1 and page.rstrip().endswith("</html>")
    # flagged.csv may be edited before repair: rows deleted are samples left as they are
    rows = (tmp_path / "s" / "flagged.csv").read_text().splitlines()
    assert len(rows) > 2
    (tmp_path / "s" / "flagged.csv").write_text("\n".join(rows[:2]) + "\n")
    poisoned = rows[1].split(",")[rows[0].split(",").index("verdict")] == "poisoned"
    assert main(["repair", str(path), "--scan", str(tmp_path / "s"), "--out",
                 str(tmp_path / "e"), "--no-scratch", "-q"]) == 0
    assert json.loads((tmp_path / "e" / "repair.json").read_text())["n_flagged"] == poisoned
    # a suspicious row is relabelled only when asked to
    assert main(["repair", str(path), "--scan", str(tmp_path / "s"), "--out",
                 str(tmp_path / "e"), "--no-scratch", "-q", "--include-suspicious"]) == 0
    rep = json.loads((tmp_path / "e" / "repair.json").read_text())
    assert rep["n_flagged"] == 1 and rep["include_suspicious"] is True
    # --epochs 0 is refused, not taken as "the default"
    assert main(["repair", str(path), "--scan", str(tmp_path / "s"), "--out",
                 str(tmp_path / "e0"), "--epochs", "0", "-q"]) == 2
    assert "epochs must be in [1, inf]; got 0" in capsys.readouterr().err
    # a folder that is not a scan output, and data that is not the scanned data
    assert main(["repair", str(path), "--scan", str(tmp_path), "--out", str(tmp_path / "x")]) == 2
    assert "not a scan output folder" in capsys.readouterr().err
    other = tmp_path / "other.npz"
    save_dataset(other, make_blob_images(n_per_class=30))
    assert main(["repair", str(other), "--scan", str(tmp_path / "s"), "--out",
                 str(tmp_path / "y")]) == 2
    assert "repair the same data" in capsys.readouterr().err
    # same length, other labels: caught by the fingerprint in report.json
    shuffled = tmp_path / "shuffled.npz"
    data = load_dataset(str(path))
    save_dataset(shuffled, data.replace(y=np.roll(data.y, 1)))
    assert main(["repair", str(shuffled), "--scan", str(tmp_path / "s"), "--out",
                 str(tmp_path / "z")]) == 2
    assert "is not the data scanned" in capsys.readouterr().err
    assert not (tmp_path / "z" / "model.safetensors").exists()


_WRITTEN = "index,label,cluster,suspected_source,score,text\n3,1,0,0,0.5,\"a, b\"\n7,1,0,,0.1,'=x\n"


@pytest.mark.parametrize("saved", [
    _WRITTEN.encode(),                                               # as scan writes it
    b"\xef\xbb\xbf" + _WRITTEN.replace("\n", "\r\n").encode(),       # a spreadsheet's UTF-8 CSV
    # a European spreadsheet: ';' between cells, ',' as the decimal mark
    _WRITTEN.replace(",", ";").replace(";0.5;\"a; b\"", ";0,5;\"a, b\"").encode("cp1252"),
    _WRITTEN.replace("'=x", "caf\xe9").encode("cp1252") + b",,,,\n\n",  # Windows-1252, blank rows
])
def test_read_flagged_takes_the_file_as_a_spreadsheet_saves_it(tmp_path: Path,
                                                               saved: bytes) -> None:
    (tmp_path / "flagged.csv").write_bytes(saved)
    flagged, source = read_flagged(tmp_path / "flagged.csv", n_samples=10, n_classes=3)
    assert np.flatnonzero(flagged).tolist() == [3, 7]
    assert source.tolist() == [-1, -1, -1, 0, -1, -1, -1, -1, -1, -1]


@pytest.mark.parametrize(("rows", "message"), [
    ("index,label\n3,1\n", "needs the columns index and suspected_source"),
    ("", "its header is []"),
    ("index,suspected_source\n3,0\nabc,0\n", "line 3: index 'abc' is not a sample index in 0..9"),
    ("index,suspected_source\n10,0\n", "line 2: index '10' is not a sample index in 0..9"),
    ("index,suspected_source\n3,3\n", "line 2: suspected_source '3' is not a class id in 0..2"),
    ("index,suspected_source\n3,-5\n", "suspected_source '-5' is not a class id"),
    ("index,suspected_source\n3,cat\n", "suspected_source 'cat' is not a class id"),
    ("index,suspected_source\n3,0\n4,0\n3,1\n", "line 4: sample 3 is listed again (first on "
                                                "line 2)"),
])
def test_read_flagged_names_the_bad_line(tmp_path: Path, rows: str, message: str) -> None:
    (tmp_path / "flagged.csv").write_text(rows)
    with pytest.raises(InputError, match=re.escape(message)):
        read_flagged(tmp_path / "flagged.csv", n_samples=10, n_classes=3)
    # the same sample listed twice with the same source is one flag
    (tmp_path / "flagged.csv").write_text("index,suspected_source\n3,0\n3,0\n")
    assert read_flagged(tmp_path / "flagged.csv", n_samples=10, n_classes=3)[0].sum() == 1


def test_read_flagged_takes_poisoned_rows_unless_told_to_include_suspicious(
        tmp_path: Path) -> None:
    (tmp_path / "flagged.csv").write_text("index,label,suspected_source,verdict\n"
                                          "2,1,0,poisoned\n5,1,0,suspicious\n8,2,1,Poisoned\n")
    flagged, source = read_flagged(tmp_path / "flagged.csv", n_samples=10, n_classes=3)
    assert np.flatnonzero(flagged).tolist() == [2, 8] and source[5] == -1
    flagged, source = read_flagged(tmp_path / "flagged.csv", n_samples=10, n_classes=3,
                                   include_suspicious=True)
    assert np.flatnonzero(flagged).tolist() == [2, 5, 8] and source[5] == 0
    (tmp_path / "flagged.csv").write_text("index,suspected_source,verdict\n2,0,maybe\n")
    with pytest.raises(InputError, match="line 2: verdict 'maybe' is not 'poisoned' or"):
        read_flagged(tmp_path / "flagged.csv", n_samples=10, n_classes=3)


def test_repair_warning_when_the_repaired_model_disagrees_with_the_relabelling() -> None:
    text = repair_warning({"unflagged_as_label_rate": 0.95},
                          {"unflagged_as_label_rate": 0.94, "flagged_as_source_rate": 0.31})
    assert text is not None and "31.0% of the flagged samples" in text and "may be clean" in text
    assert repair_warning({}, {"flagged_as_source_rate": 0.98}) is None
    both = repair_warning({"unflagged_as_label_rate": 0.95},
                          {"unflagged_as_label_rate": 0.5, "flagged_as_source_rate": 0.2})
    assert both is not None and both.count("; ") == 1 and both.endswith(".")
