"""The command line: outputs of poison/scan, and one-line errors with exit code 2."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from conftest import make_blob_images
from poisonscan.attacks import pattern, poison_dataset
from poisonscan.cli import main
from poisonscan.data import save_dataset

FAST = ["--epochs", "2", "--holdout", "0", "--n-components", "4", "--n-init", "5", "-q"]


@pytest.fixture(scope="module")
def poisoned_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("data") / "blobs_poisoned.npz"
    clean = make_blob_images(n_per_class=80)
    save_dataset(path, poison_dataset(clean, pattern, [(0, 1), (1, 2), (2, 0)], rate=0.2))
    return path


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def test_scan_writes_report_and_csv(poisoned_file: Path, tmp_path: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    before = poisoned_file.read_bytes()
    code, _, err = run(["scan", poisoned_file, "--out", tmp_path / "r", *FAST], capsys)
    assert code == 0, err
    assert poisoned_file.read_bytes() == before  # input untouched
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    assert report["flagged_indices"] == sorted(report["flagged_indices"])
    assert len(report["classes"]) == 3
    for c in report["classes"]:
        assert c["verdict"] in {"clean", "poisoned", "suspicious"}
        assert sum(cl["size"] for cl in c["clusters"]) == c["n_samples"]
    assert report["parameters"]["detector"]["n_components"] == 4
    assert report["parameters"]["train"]["epochs"] == 2
    assert set(report["timings_s"]) >= {"load", "train", "extract", "detect", "total"}
    ev = report["evaluation"]
    assert set(ev["overall"]) >= {"precision", "recall", "f1", "tpr", "fpr"}
    assert set(ev["per_class"]) == {"0", "1", "2"}
    rows = list(csv.DictReader((tmp_path / "r" / "flagged.csv").open()))
    assert [int(r["index"]) for r in rows if r["verdict"] == "poisoned"] \
        == report["flagged_indices"]
    assert [int(r["index"]) for r in rows if r["verdict"] == "suspicious"] \
        == report["suspicious_indices"]
    assert rows == [] or set(rows[0]) == {"index", "label", "cluster", "suspected_source", "score",
                                          "verdict"}
    clusters = {(c["label"], cl["cluster"]): cl for c in report["classes"] for cl in c["clusters"]}
    for row in rows:  # each row's cluster is one that the report judged poison or suspicious
        level = clusters[int(row["label"]), int(row["cluster"])]["level"]
        assert level == {"poisoned": "poison", "suspicious": "suspicious"}[row["verdict"]]
    assert (tmp_path / "r" / "model.safetensors").is_file()
    # the saved model can be scanned again without training
    code, _, err = run(["scan", poisoned_file, "--out", tmp_path / "r2", "--model",
                        tmp_path / "r" / "model.safetensors", *FAST], capsys)
    assert code == 0, err


def test_same_seed_same_flagged(poisoned_file: Path, tmp_path: Path,
                                capsys: pytest.CaptureFixture[str]) -> None:
    flagged = []
    for name in ("a", "b"):
        assert run(["scan", poisoned_file, "--out", tmp_path / name, "--seed", "3", *FAST],
                   capsys)[0] == 0
        flagged.append(json.loads((tmp_path / name / "report.json").read_text())["flagged_indices"])
    assert flagged[0] == flagged[1]


def test_poison_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "clean.npz"
    save_dataset(src, make_blob_images())
    code, out, err = run(["poison", "--data", src, "--attack", "patch", "--patch-size", "2",
                          "--rate", "0.25", "--mapping", "0,1:2", "--out", tmp_path / "p.npz"],
                         capsys)
    assert code == 0, err and "poison" in out
    with np.load(tmp_path / "p.npz") as z:
        assert {"x", "y", "is_poison", "source", "x_test_poison", "y_test_poison"} <= set(z.files)
        assert abs(z["is_poison"][z["y"] == 2].mean() - 0.25) < 0.02
    code, _, err = run(["poison", "--data", src, "--out", src], capsys)
    assert code == 2 and "differ from the input" in err
    # the data may come first, as for scan and repair; naming it twice, differently, fails
    code, _, err = run(["poison", src, "--attack", "patch", "--patch-size", "2", "--rate", "0.25",
                        "--mapping", "0,1:2", "--out", tmp_path / "q.npz", "-q"], capsys)
    assert code == 0, err
    with np.load(tmp_path / "p.npz") as a, np.load(tmp_path / "q.npz") as b:
        assert all(np.array_equal(a[k], b[k]) for k in a.files)
    code, _, err = run(["poison", src, "--data", tmp_path / "p.npz", "--out", tmp_path / "r.npz"],
                       capsys)
    assert code == 2 and "name the data to poison once" in err
    code, _, err = run(["poison", "--out", tmp_path / "r.npz"], capsys)
    assert code == 2 and "poisonscan poison DATA --out FILE.npz." in err


def _bad(tmp_path: Path, **arrays: np.ndarray) -> Path:
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    return path


def _images(n: int = 40, classes: int = 2) -> tuple[np.ndarray, np.ndarray]:
    d = make_blob_images(n_per_class=n // classes, n_classes=classes)
    return d.x, d.y


@pytest.mark.parametrize("case,match", [
    ("missing", "not found"),
    ("corrupt", "not a readable .npz"),
    ("length", "same length"),
    ("nan", "NaN or inf"),
    ("negative", ">= 0"),
    ("fractional", "integer class labels"),
    ("tiny_classes", "no class has the 11 samples needed to judge it (n_components=10"),
    ("single_class", "at least 2 classes"),
    ("unknown_layer", "unknown layer 'nope'; valid names"),
    ("unknown_option", "unrecognized arguments: --epoch 2. Did you mean '--epochs'?"),
    ("bad_choice", "invalid choice: 'icaa'"),
    ("out_of_range", "labels out of range"),
])
def test_bad_input_one_line_exit_2(case: str, match: str, tmp_path: Path,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    x, y = _images()
    args: list = ["--out", tmp_path / "out", "-q"]
    if case == "missing":
        data = tmp_path / "missing.npz"
    elif case == "corrupt":
        data = tmp_path / "c.npz"
        data.write_bytes(b"not a zip file at all")
    elif case == "length":
        data = _bad(tmp_path, x=x, y=y[:-1])
    elif case == "nan":
        xf = x.astype(np.float32) / 255
        xf[0, 0, 0] = np.nan
        data = _bad(tmp_path, x=xf, y=y)
    elif case == "negative":
        data = _bad(tmp_path, x=x, y=y - 1)
    elif case == "fractional":
        data = _bad(tmp_path, x=x, y=y + 0.5)
    elif case == "tiny_classes":
        few = np.concatenate([np.flatnonzero(y == 0)[:6], np.flatnonzero(y == 1)[:4]])
        data = _bad(tmp_path, x=x[few], y=y[few])
    elif case == "single_class":
        data = _bad(tmp_path, x=x, y=np.zeros_like(y))
    elif case == "unknown_layer":
        data, args = _bad(tmp_path, x=x, y=y), args + ["--layer", "nope"]
    elif case == "unknown_option":
        data, args = _bad(tmp_path, x=x, y=y), args + ["--epoch", "2"]
    elif case == "bad_choice":
        data, args = _bad(tmp_path, x=x, y=y), args + ["--reduce", "icaa"]
    else:  # labels beyond what a 2-class model knows
        model_dir = tmp_path / "m"
        assert run(["scan", _bad(tmp_path, x=x, y=y), "--out", model_dir, *FAST], capsys)[0] == 0
        y3 = y.copy()
        y3[::4] = 2
        data = tmp_path / "three.npz"
        np.savez(data, x=x, y=y3)
        args += ["--model", model_dir / "model.safetensors", "--n-components", "4"]
    code, out, err = run(["scan", data, *args], capsys)
    assert code == 2
    assert match in err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "out" / "report.json").exists()


@pytest.mark.parametrize("command", ["scan", "demo", "reproduce", "poison", "repair"])
def test_bad_output_path_one_line_exit_2(command: str, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    """An --out that cannot be used fails before any work, and nothing is overwritten."""
    a_file = tmp_path / "taken"
    a_file.write_text("the user's file")
    a_folder = tmp_path / "taken.npz"
    a_folder.mkdir()
    scan_dir = tmp_path / "scan"
    args = {"scan": ["scan", "data.npz", "--out", a_file],
            "demo": ["demo", "--out", a_file],
            "reproduce": ["reproduce", "text", "--out", a_file],
            "poison": ["poison", "--data", "mnist-sample", "--out", a_folder],
            "repair": ["repair", "data.npz", "--scan", scan_dir, "--out", scan_dir]}[command]
    if command == "repair":  # a scan folder that read_scan accepts, then --out == --scan
        x, y = _images()
        data = _bad(tmp_path, x=x, y=y)
        assert run(["scan", data, "--out", scan_dir, *FAST], capsys)[0] == 0
        args[1] = data
        before = (scan_dir / "model.safetensors").read_bytes()
    code, _, err = run(args, capsys)
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err
    assert ("--out must differ from --scan" if command == "repair" else "--out") in err
    assert a_file.read_text() == "the user's file" and a_folder.is_dir()
    if command == "repair":
        assert (scan_dir / "model.safetensors").read_bytes() == before


def test_failed_command_leaves_no_empty_output_folder(tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """The folders --out made are removed again if the command fails; existing ones stay."""
    created = tmp_path / "new" / "deeper"
    code, _, err = run(["scan", tmp_path / "missing.npz", "--out", created], capsys)
    assert code == 2 and "not found" in err
    assert not (tmp_path / "new").exists()
    existing = tmp_path / "existing"
    existing.mkdir()
    code, _, _ = run(["scan", tmp_path / "missing.npz", "--out", existing], capsys)
    assert code == 2 and existing.is_dir()


def test_missing_builtin_dir(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["scan", "mnist", "--data-dir", tmp_path, "--out", tmp_path / "o"], capsys)
    assert code == 2 and "train-images-idx3-ubyte.gz" in err and err.count("\n") == 1


def test_help_has_example(capsys: pytest.CaptureFixture[str]) -> None:
    for command in ("poison", "scan", "demo"):
        assert main([command, "--help"]) == 0
        assert "example:" in capsys.readouterr().out


def test_help_explains_every_option_and_states_defaults() -> None:
    from poisonscan._cliutil import subparser
    from poisonscan.cli import build_parser

    parser = build_parser()
    for command in ("poison", "scan", "repair", "reproduce", "demo"):
        for action in subparser(parser, command)._actions:
            assert action.help, f"{command} {action.dest} has no help text"
            if action.option_strings and action.default not in (None, False, "==SUPPRESS=="):
                assert "default" in action.help, f"{command} {action.dest}: default not shown"


def test_help_names_every_input_format(capsys: pytest.CaptureFixture[str]) -> None:
    for command in ("scan", "repair"):
        assert main([command, "--help"]) == 0
        out = " ".join(capsys.readouterr().out.split())
        assert all(word in out for word in ("gtsrb", ".npz", ".csv/.tsv", "text,label"))


def test_config_file_sets_options_and_flags_win(poisoned_file: Path, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "run.toml"
    cfg.write_text('epochs = 2\nn-components = 3\n[scan]\nn_init = 4\n[poison]\nrate = 0.3\n')
    code, _, err = run(["scan", poisoned_file, "--out", tmp_path / "r", "--config", cfg,
                        "--n-components", "5", "-q"], capsys)
    assert code == 0, err
    params = json.loads((tmp_path / "r" / "report.json").read_text())["parameters"]
    assert params["train"]["epochs"] == 2 and params["detector"]["n_init"] == 4
    assert params["detector"]["n_components"] == 5  # the flag wins over the file
    assert params["config_file"] == str(cfg)
    assert "versions" in json.loads((tmp_path / "r" / "report.json").read_text())
    cfg.write_text("epoch = 2\n")
    code, _, err = run(["scan", poisoned_file, "--out", tmp_path / "r2", "--config", cfg], capsys)
    assert code == 2 and "Did you mean 'epochs'" in err and err.count("\n") == 1
    cfg.write_text("epochs = [\n")
    code, _, err = run(["scan", poisoned_file, "--out", tmp_path / "r2", "--config", cfg], capsys)
    assert code == 2 and "not a valid TOML" in err


def test_scan_caches_activations_in_out_and_reuses_them(poisoned_file: Path, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["scan", poisoned_file, "--out", tmp_path / "r", *FAST], capsys)[0] == 0
    cache = tmp_path / "r" / "activations.npy"
    assert cache.is_file() and (tmp_path / "r" / "activations.json").is_file()
    model = tmp_path / "r" / "model.safetensors"
    first = json.loads((tmp_path / "r" / "report.json").read_text())["flagged_indices"]
    stamp = cache.stat().st_mtime_ns
    # the same model and data scanned again into the same folder: the cache is read, not rewritten
    assert run(["scan", poisoned_file, "--out", tmp_path / "r", "--model", model, *FAST],
               capsys)[0] == 0
    assert cache.stat().st_mtime_ns == stamp
    assert json.loads((tmp_path / "r" / "report.json").read_text())["flagged_indices"] == first
    assert run(["scan", poisoned_file, "--out", tmp_path / "off", "--cache", "off", *FAST],
               capsys)[0] == 0
    assert not (tmp_path / "off" / "activations.npy").exists()


def test_scan_reports_a_class_too_small_to_judge(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """A rare class (3 samples, one of them poison; 5 are needed with --n-components 4) does
    not stop the scan: it is trained on, reported "too-small" in every output, and the
    ground-truth evaluation still covers it."""
    data = poison_dataset(make_blob_images(n_per_class=80), pattern, [(0, 1), (1, 2)], rate=0.2)
    rare = np.concatenate([np.flatnonzero(data.y == 2)[:2], np.flatnonzero(data.is_poison
                                                                          & (data.y == 2))[:1]])
    keep = np.concatenate([np.flatnonzero(data.y != 2), rare])
    path = tmp_path / "rare.npz"
    save_dataset(path, type(data)(x=data.x[keep], y=data.y[keep], is_poison=data.is_poison[keep]))
    code, out, err = run(["scan", path, "--out", tmp_path / "r",
                          *[a for a in FAST if a != "-q"]], capsys)
    assert code == 0, err
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    assert report["summary"]["too_small_classes"] == [2]
    assert report["summary"]["min_class_size"] == 5
    assert report["classes"][2] == {"label": 2, "n_samples": 3, "verdict": "too-small",
                                    "clusters": [], "poison_clusters": []}
    assert "2" in report["evaluation"]["per_class"]
    assert "2" not in report["evaluation"]["poison_per_cluster"]
    assert "not judged: fewer than 5 samples" in out
    assert "not judged (fewer than 5 samples each): classes [2]" in out
    html = (tmp_path / "r" / "report.html").read_text()
    assert 'class="badge too-small">not judged<' in html


def test_fail_on_poison_exits_3_after_writing_the_report(poisoned_file: Path, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]
                                                         ) -> None:
    code, _, err = run(["scan", poisoned_file, "--out", tmp_path / "r", "--fail-on-poison",
                        *FAST], capsys)
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    assert report["summary"]["poisoned_classes"] == [0, 1, 2]  # 20% of each class is poison
    assert code == 3 and err == ""
    code, _, err = run(["scan", poisoned_file, "--out", tmp_path / "r2", *FAST], capsys)
    assert code == 0, err  # the same verdicts without the flag
    assert json.loads((tmp_path / "r2" / "report.json").read_text())["summary"] == \
        report["summary"]


def test_fail_on_poison_levels_and_the_paper_preset(poisoned_file: Path, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    # one epoch of lr 1e-5 learns nothing: the scan is inconclusive and flags nothing
    weak = ["--epochs", "1", "--lr", "1e-5", "--n-components", "4", "--n-init", "5", "-q"]
    code, _, err = run(["scan", poisoned_file, "--out", tmp_path / "w", "--fail-on-poison",
                        *weak], capsys)
    report = json.loads((tmp_path / "w" / "report.json").read_text())
    assert report["summary"]["verdict"] == "inconclusive" and code == 0, err
    assert report["summary"]["n_flagged"] == 0 and report["training"]["adequate"] is False
    assert "not learned the classes" in report["summary"]["verdict_reason"]
    code, _, _ = run(["scan", poisoned_file, "--out", tmp_path / "w2", "--fail-on-suspicious",
                      *weak], capsys)
    assert code == 3
    # the paper preset: 3 epochs on all data, nothing measured, every l/p <= 1 flagged
    code, _, err = run(["scan", poisoned_file, "--out", tmp_path / "p", "--preset", "paper",
                        "--n-components", "4", "--n-init", "5", "-q"], capsys)
    paper = json.loads((tmp_path / "p" / "report.json").read_text())
    assert code == 0, err
    assert paper["parameters"]["preset"] == "paper" and paper["training"]["adequate"] is None
    assert paper["parameters"]["train"]["epochs"] == 3
    assert paper["parameters"]["detector"]["verdict_rule"] == "paper"
    assert {cl["level"] for c in paper["classes"] for cl in c["clusters"]} <= \
        {None, "poison", "legitimate"}


def test_interrupted_scan_keeps_the_trained_model(poisoned_file: Path, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl-C after training (here: during detection) leaves the trained model in --out, and
    the message says how to go on from it; going on gives the same verdicts."""
    out = tmp_path / "r"
    code, _, err = run(["scan", poisoned_file, "--out", out, *FAST], capsys)
    assert code == 0, err
    expected = json.loads((out / "report.json").read_text())["flagged_indices"]

    def interrupt(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    with monkeypatch.context() as m:
        m.setattr("poisonscan.pipeline.ActivationClustering.fit_detect", interrupt)
        code, _, err = run(["scan", poisoned_file, "--out", tmp_path / "i", *FAST], capsys)
    saved = tmp_path / "i" / "model.safetensors"
    assert code == 130
    assert err.strip() == (f"poisonscan: interrupted; the trained model is saved: add --model "
                           f"{saved} to go on without training again")
    code, _, err = run(["scan", poisoned_file, "--out", tmp_path / "i", "--model", saved, *FAST],
                       capsys)
    assert code == 0, err
    assert json.loads((tmp_path / "i" / "report.json").read_text())["flagged_indices"] == expected
