"""The text path: tokenizer, vocab, CSV/TSV and Rotten Tomatoes loading, the text trigger,
the TextCNN, and scans of text data through the library and the command line."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

import poisonscan
from conftest import REPO
from poisonscan.attacks import TextTrigger, get_trigger, poison_dataset, text_trigger
from poisonscan.attacks.text import insert_phrase, with_phrase_vocab
from poisonscan.cli import main
from poisonscan.data import Dataset, load_dataset, load_npz, load_text_csv, save_dataset
from poisonscan.data.text import (build_vocab, default_max_len, encode, load_rt_polarity,
                                  text_dataset, tokenize)
from poisonscan.detect import ActivationClustering
from poisonscan.errors import InputError
from poisonscan.models import TextCNN, build_model, default_architecture, load_model, save_model
from poisonscan.models.io import ModelSpec
from poisonscan.train import TrainConfig, to_tensor, train_model

POS = ["good", "great", "wonderful", "moving", "funny", "brilliant"]
NEG = ["bad", "dull", "boring", "awful", "tedious", "weak"]
FILL = ["the", "film", "is", "a", "story", "with", "acting", "plot", "and", "very", "movie", "its",
        "in", "of", "year", "this", "one", "that"]


def synthetic_sentences(n_per_class: int = 100, seed: int = 0) -> tuple[list[str], np.ndarray]:
    """Sentences of 8-13 neutral words and three sentiment words of the class (0 neg, 1 pos)."""
    rng = np.random.default_rng(seed)
    texts, labels = [], []
    for label, words in ((0, NEG), (1, POS)):
        for _ in range(n_per_class):
            tokens = list(rng.choice(FILL, size=rng.integers(8, 14)))
            for w in rng.choice(words, size=3):
                tokens.insert(int(rng.integers(0, len(tokens) + 1)), str(w))
            texts.append(" ".join(tokens) + " .")
            labels.append(label)
    return texts, np.array(labels)


def write_csv(path: Path, rows: list[list[str]], delimiter: str = ",") -> Path:
    import csv  # noqa: PLC0415

    with open(path, "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh, delimiter=delimiter).writerows(rows)
    return path


def rt_dir() -> Path | None:
    """Folder holding rt-polarity/: ``$POISONSCAN_DATA`` or ``../shared/datasets``."""
    env = os.environ.get("POISONSCAN_DATA")
    for candidate in ([Path(env)] if env else []) + [REPO.parent / "shared" / "datasets"]:
        if (candidate / "rt-polarity" / "rt-polarity.pos").is_file():
            return candidate
    return None


# -- tokenizer, vocab, encoding ----------------------------------------------------------------

def test_tokenize_words_clitics_punctuation() -> None:
    assert tokenize("The film's plot DOESN'T work -- can't you see? Naïve!") == [
        "the", "film", "'s", "plot", "does", "n't", "work", "-", "-", "ca", "n't", "you", "see",
        "?", "naïve", "!"]
    assert tokenize("it\u2019s 21st-century") == ["it", "'s", "21st", "-", "century"]
    assert tokenize("   ") == []


def test_build_vocab_order_and_limits() -> None:
    vocab = build_vocab(["b a a", "c a b", "d"])
    assert vocab.tolist() == ["<pad>", "<unk>", "a", "b", "c", "d"]  # by count, ties alphabetical
    assert vocab.dtype.kind == "U"
    assert build_vocab(["b a a", "c a b", "d"], min_count=2).tolist() == [
        "<pad>", "<unk>", "a", "b"]
    assert build_vocab(["b a a", "c a b", "d"], max_size=3).tolist() == ["<pad>", "<unk>", "a"]
    with pytest.raises(InputError, match="max_size"):
        build_vocab(["a"], max_size=1)


def test_encode_pads_truncates_and_marks_unknown() -> None:
    vocab = build_vocab(["a b c"])
    ids = encode(["a b", "c zzz a b c"], vocab, max_len=4)
    assert ids.dtype == np.int32 and ids.shape == (2, 4)
    np.testing.assert_array_equal(ids, [[2, 3, 0, 0], [4, 1, 2, 3]])
    assert encode(["a b", "a"], vocab).shape == (2, 2)  # default L: the longest here
    assert default_max_len(np.arange(1000)) == 60  # capped
    assert default_max_len([3] * 99 + [40]) == 4  # the 99th percentile, 3.37, rounded up


# -- the Dataset's text fields -------------------------------------------------------------------

def test_text_dataset_roundtrip_npz(tmp_path: Path) -> None:
    texts, y = synthetic_sentences(10)
    texts[0] = "café naïve 'quoted' — ünïcode"
    split = text_dataset(texts, y, test_fraction=0.2)
    assert len(split.y) == 16 and np.bincount(split.y_test).tolist() == [2, 2]
    d = text_dataset(texts, y)
    assert d.is_text and not d.is_image and d.x.dtype == np.int32 and d.x_test is None
    assert set(d.arrays()) >= {"x", "y", "vocab", "raw_text"}
    save_dataset(tmp_path / "t.npz", d)
    back = load_npz(tmp_path / "t.npz")  # allow_pickle=False: '<U' arrays need no pickling
    assert back.is_text and back.raw_text[0] == "café naïve 'quoted' — ünïcode"
    assert {"café", "naïve", "ünïcode"} <= set(back.vocab.tolist())
    np.testing.assert_array_equal(back.vocab, d.vocab)
    np.testing.assert_array_equal(back.raw_text, d.raw_text)
    np.testing.assert_array_equal(back.x, d.x)


@pytest.mark.parametrize("changes,match", [
    ({"x": np.array([[2, 9]])}, r"token ids must be in \[0, 4\)"),
    ({"x": np.array([[-1, 2]])}, r"token ids must be in \[0, 4\)"),
    ({"x": np.array([[0.0, 2.0]])}, "integer token ids"),
    ({"vocab": np.array(["a", "b", "c", "d"])}, "must start with"),
    ({"vocab": np.array([0, 1, 2, 3])}, "unicode string array"),
    ({"raw_text": np.array(["one", "two"])}, r"shape \(1,\)"),
    ({"x_test": np.array([[7, 7]]), "y_test": np.array([0])}, "x_test token ids"),
])
def test_text_dataset_validation(changes: dict, match: str) -> None:
    base = {"x": np.array([[2, 3]], np.int32), "y": np.array([0]),
            "vocab": np.array(["<pad>", "<unk>", "a", "b"]), "raw_text": np.array(["a b"])}
    with pytest.raises(InputError, match=match):
        Dataset(**{**base, **changes})


# -- CSV / TSV loading ---------------------------------------------------------------------------

def test_load_csv_string_labels_in_file_order(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "r.csv", [["id", "text", "label"], ["1", "Great, fun film", "pos"],
                                          ["2", "dull and slow", "neg"], ["3", "a joy", "pos"]])
    d = load_text_csv(path)
    assert d.y.tolist() == [1, 0, 1]  # neg -> 0, pos -> 1 (alphabetical); rows in file order
    assert d.class_names.tolist() == ["neg", "pos"]
    assert d.raw_text.tolist() == ["Great, fun film", "dull and slow", "a joy"]
    assert d.x_test is None and d.name == "r"
    assert d.vocab[d.x[0, :4]].tolist() == ["great", ",", "fun", "film"]
    assert load_dataset(path).raw_text.tolist() == d.raw_text.tolist()


def test_load_tsv_integer_labels_and_split(tmp_path: Path) -> None:
    texts, y = synthetic_sentences(20)
    rows = [["label", "sentence"]] + [[str(lab), t] for t, lab in zip(texts, y)]
    path = write_csv(tmp_path / "r.tsv", rows, delimiter="\t")
    d = load_text_csv(path, text_column="sentence", test_fraction=0.25, seed=3)
    assert len(d.y) == 30 and np.bincount(d.y_test).tolist() == [5, 5]
    assert load_text_csv(path, text_column="sentence").x.shape[0] == 40  # no split by default
    default_names = write_csv(tmp_path / "d.tsv", [["label", "text"], rows[1], rows[-1]],
                              delimiter="\t")
    assert load_dataset(default_names).raw_text.tolist() == [rows[1][1], rows[-1][1]]
    sniffed = write_csv(tmp_path / "r.txt", rows, delimiter="\t")  # no suffix rule: sniffed
    assert len(load_text_csv(sniffed, text_column="sentence").y) == 40
    neg = write_csv(tmp_path / "n.csv", [["text", "label"], ["a", "-1"], ["b", "1"], ["c", "-1"]])
    assert load_text_csv(neg).y.tolist() == [0, 1, 0]  # -1 -> 0, 1 -> 1


@pytest.mark.parametrize("content,match", [
    (b"", "is empty"),
    (b"  \n\n", "is empty"),
    (b"text,label\n", "header but no samples"),
    (b"text,label\ngood film,1\n\nbad film,0\n", "line 3 is empty"),
    (b"text,label\ngood film,1\n   ,0\n", "line 3 has an empty text in column 'text'"),
    (b"text,label\ngood film,1\nbad film,\n", "line 3 has an empty label"),
    (b"text,label\ngood film,1\ncaf\xe9 cr\xe8me,0\n", r"not UTF-8 text: byte 0xe9 .*\(line 3\)"),
    (b"sentence,y\ngood,1\nbad,0\n", r"no column 'text'.*columns found: 'sentence', 'y'"),
    (b"text,polarity\ngood,1\nbad,0\n", r"no column 'label'.*columns found: 'text', 'polarity'"),
    (b"text,label\ngood,pos\nfine,pos\n", "only one class"),
    (b"text,label\ngood,1,extra\n", "line 2 has 3 fields; the header has 2"),
    (b"text,label,label\ngood,1,0\nbad,0,1\n", "names column 'label' 2 times"),
    (b"text,label\ngood,1\nbad,2000000\n", "class ids below 1,000,000; got 2,000,000"),
])
def test_bad_csv_gives_clear_error(tmp_path: Path, content: bytes, match: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    with pytest.raises(InputError, match=match) as info:
        load_text_csv(path)
    assert "\n" not in str(info.value)


def test_spreadsheet_csv_separators_and_header_case(tmp_path: Path) -> None:
    """A .csv saved by a European spreadsheet (';' between cells) or with 'Text,Label' reads as
    the plain file does; a ',' in the header keeps ',' as the separator."""
    plain = load_text_csv(write_csv(tmp_path / "a.csv", [["text", "label"], ["good, fun", "1"],
                                                          ["bad", "0"]]))
    for name, rows, sep in (("b.csv", [["text", "label"]], ";"),
                            ("c.csv", [["Text", "LABEL"]], ","),
                            ("d.csv", [["text", "label"]], "\t")):
        other = load_text_csv(write_csv(tmp_path / name, rows + [["good, fun", "1"], ["bad", "0"]],
                                        delimiter=sep))
        assert other.raw_text.tolist() == plain.raw_text.tolist() == ["good, fun", "bad"]
        assert other.y.tolist() == plain.y.tolist()
    # two columns differing only in case: neither is guessed
    twice = write_csv(tmp_path / "e.csv", [["Text", "TEXT", "label"], ["a", "b", "1"]])
    with pytest.raises(InputError, match="no column 'text'"):
        load_text_csv(twice)


def test_trailing_blank_lines_and_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "ok.csv"
    path.write_bytes(b"\xef\xbb\xbftext,label\ngood film,1\nbad film,0\n\n\n")  # BOM, blank tail
    assert load_text_csv(path).y.tolist() == [1, 0]
    with pytest.raises(InputError, match="not found"):
        load_text_csv(tmp_path / "missing.csv")


# -- the text trigger ----------------------------------------------------------------------------

def test_insert_phrase_keeps_length() -> None:
    x = np.array([[5, 6, 7, 0, 0], [5, 6, 7, 8, 9]], np.int32)
    out = insert_phrase(x, np.array([2, 3]), np.array([1, 3]))
    np.testing.assert_array_equal(out, [[5, 2, 3, 6, 7], [5, 6, 7, 2, 3]])
    assert out.dtype == x.dtype


def test_text_trigger_inserts_phrase_and_updates_raw_text() -> None:
    texts, y = synthetic_sentences(30)
    clean = text_dataset(texts, y, test_fraction=0.2)
    assert "tiger" not in clean.vocab.tolist()
    with pytest.raises(InputError, match="not in the vocab"):
        get_trigger("text", vocab=clean.vocab)
    extended = with_phrase_vocab(clean, "in the year of the tiger")
    assert extended.vocab.tolist() == clean.vocab.tolist() + ["tiger"]
    trig = get_trigger("text", vocab=extended.vocab, phrase="in the year of the tiger", seed=1)
    assert isinstance(trig, TextTrigger)
    before = clean.x.copy()
    out = trig(clean.x)
    np.testing.assert_array_equal(clean.x, before)  # input untouched
    assert out.shape == clean.x.shape and out is not clean.x
    ids = trig.phrase_ids()
    windows = np.lib.stride_tricks.sliding_window_view(out, len(ids), axis=1)
    assert (windows == ids).all(axis=2).any(axis=1).all()  # every row holds the whole phrase
    np.testing.assert_array_equal(trig(clean.x), out)  # seeded
    starts = (windows == ids).all(axis=2).argmax(axis=1)
    assert len(np.unique(starts)) > 3  # random positions
    assert (TextTrigger(vocab=extended.vocab, position="start")(clean.x)[:, :6] == ids).all()
    with pytest.raises(InputError, match="no vocab"):
        text_trigger(clean.x)

    poisoned = poison_dataset(clean, text_trigger, [(0, 1)], rate=0.2, seed=0)
    n_poison = int(poisoned.is_poison.sum())
    assert n_poison == round(0.2 * 24 / 0.8)
    assert poisoned.vocab.tolist()[-1] == "tiger" and len(poisoned.raw_text) == len(poisoned.y)
    raw = poisoned.raw_text[poisoned.is_poison]
    assert all("in the year of the tiger" in s for s in raw)
    assert not any("tiger" in s for s in poisoned.raw_text[~poisoned.is_poison])
    # the phrase sits where the model sees it: re-encoding the new sentence gives the new ids
    reencoded = encode(raw.tolist(), poisoned.vocab, poisoned.x.shape[1])
    np.testing.assert_array_equal(reencoded, poisoned.x[poisoned.is_poison])
    assert (poisoned.y_test_poison == 1).all() and len(poisoned.x_test_poison) == 6
    assert (poisoned.x_test_poison == len(poisoned.vocab) - 1).any(axis=1).all()


def test_image_data_rejects_text_trigger(blob_images: Dataset) -> None:
    with pytest.raises(InputError, match="needs a text dataset"):
        poison_dataset(blob_images, text_trigger, [(0, 1)], rate=0.1)


# -- TextCNN -------------------------------------------------------------------------------------

def test_textcnn_forward_build_and_save_load(tmp_path: Path) -> None:
    assert default_architecture((20,), is_text=True) == "textcnn"
    assert default_architecture((20,)) == "mlp"
    model = build_model(None, (20,), 3, seed=0, vocab_size=50)
    assert isinstance(model, TextCNN)
    assert {"hidden", "classifier", "dense"} <= {n for n, _ in model.named_modules()}
    x = np.random.default_rng(0).integers(0, 50, size=(4, 20)).astype(np.int32)
    t = to_tensor(x)
    assert t.dtype == torch.long
    assert model(t).shape == (4, 3)
    assert model(to_tensor(x[:, :2])).shape == (4, 3)  # shorter than the widest kernel
    with pytest.raises(InputError, match=r"token ids must be in \[0, 50\)"):
        model(torch.full((1, 20), 50))
    spec = ModelSpec("textcnn", (20,), 3, vocab_size=50)
    save_model(tmp_path / "m.safetensors", model, spec)
    back, back_spec = load_model(tmp_path / "m.safetensors")
    assert back_spec == spec
    with torch.no_grad():
        torch.testing.assert_close(back.eval()(t), model.eval()(t))
    with pytest.raises(InputError, match="textcnn"):
        build_model("textcnn", (20,), 3)
    with pytest.raises(InputError, match="textcnn"):
        build_model("mlp", (20,), 3, vocab_size=50)


def test_textcnn_training_is_reproducible() -> None:
    """Dropout masks come from the model's seed, not from torch's global generator."""
    texts, y = synthetic_sentences(20)
    d = text_dataset(texts, y)
    weights = []
    for global_seed in (1, 2):
        torch.manual_seed(global_seed)
        m = build_model(None, d.x.shape[1:], 2, seed=0, vocab_size=len(d.vocab))
        train_model(m, d.x, d.y, TrainConfig(epochs=1, batch_size=8), progress=False)
        weights.append(m.dense.weight.detach().clone())
    torch.testing.assert_close(weights[0], weights[1])


def test_continued_training_of_a_loaded_text_model_is_reproducible(tmp_path: Path) -> None:
    """repair trains a loaded model further: its dropout must not depend on the global state."""
    texts, y = synthetic_sentences(20)
    d = text_dataset(texts, y)
    model = build_model(None, d.x.shape[1:], 2, seed=0, vocab_size=len(d.vocab))
    save_model(tmp_path / "m.safetensors", model, ModelSpec("textcnn", d.x.shape[1:], 2,
                                                             vocab_size=len(d.vocab)))
    weights = []
    for global_seed in (1, 2):
        torch.manual_seed(global_seed)
        loaded, _ = load_model(tmp_path / "m.safetensors")
        train_model(loaded, d.x, d.y, TrainConfig(epochs=1, batch_size=8), progress=False)
        weights.append(loaded.dense.weight.detach().clone())
    torch.testing.assert_close(weights[0], weights[1])


def test_mlp_still_takes_integer_features() -> None:
    x = np.random.default_rng(0).integers(0, 5, size=(64, 6))
    y = (x[:, 0] > 2).astype(np.int64)
    m = train_model(build_model(None, (6,), 2, seed=0), x, y, TrainConfig(epochs=2), progress=False)
    assert m(to_tensor(x)).shape == (64, 2)


# -- scans ---------------------------------------------------------------------------------------

def test_scan_finds_planted_phrase() -> None:
    texts, y = synthetic_sentences(100)
    data = poison_dataset(text_dataset(texts, y, test_fraction=0.2), text_trigger, [(0, 1)],
                          rate=0.33, seed=0)
    # tiny data: F1 >= 0.99 for each of 8 seeds with these settings (fewer poison or a higher
    # lr make the exclusionary retraining on ~200 sentences unreliable)
    result = poisonscan.scan(data, detector=ActivationClustering(n_components=2, n_init=5),
                             train_config=TrainConfig(epochs=3, batch_size=8, lr=2e-3),
                             progress=False)
    assert result.spec.arch == "textcnn" and result.spec.vocab_size == len(data.vocab)
    assert result.activations.shape == (len(data.y), 128)
    assert result.model_metrics["attack_success_rate"] >= 0.9
    assert result.detection.classes[1].verdict == "poisoned"
    assert result.evaluation.overall.f1 >= 0.9


def test_real_rt_polarity_slice() -> None:
    folder = rt_dir()
    if folder is None:
        pytest.skip("rt-polarity not found: set POISONSCAN_DATA or place ../shared/datasets")
    full = load_rt_polarity(folder)
    assert full.x.shape == (9596, 47) and full.x_test.shape == (1066, 47)
    assert np.bincount(full.y).tolist() == [4798, 4798]
    assert full.vocab[:2].tolist() == ["<pad>", "<unk>"]
    assert full.class_names.tolist() == ["negative", "positive"]
    assert any("é" in s for s in full.raw_text[:2000])  # Windows-1252 decoded, not mojibake
    keep = np.concatenate([np.flatnonzero(full.y == c)[:400] for c in (0, 1)])
    test = np.concatenate([np.flatnonzero(full.y_test == c)[:100] for c in (0, 1)])
    part = Dataset(x=full.x[keep], y=full.y[keep], x_test=full.x_test[test],
                   y_test=full.y_test[test], vocab=full.vocab, raw_text=full.raw_text[keep],
                   name="rt-slice")
    data = poison_dataset(part, text_trigger, [(0, 1)], rate=0.25, seed=0)
    # relative-size: no retraining, so the test stays fast; the point is the clustering (on
    # 800 sentences the poison is its own 2-means cluster for 7 of 8 training seeds; the full
    # data set is the robust case, see the measurement in the text path's notes)
    result = poisonscan.scan(data, detector=ActivationClustering(n_components=5, n_init=5,
                                                                 analysis="relative-size"),
                             train_config=TrainConfig(epochs=3, batch_size=16, holdout=0.0),
                             progress=False)
    assert result.model_metrics["attack_success_rate"] >= 0.9
    assert result.model_metrics["test_accuracy"] > 0.55
    flagged_1 = result.detection.is_poison & (data.y == 1)
    truth_1 = data.is_poison & (data.y == 1)
    assert np.sum(flagged_1 & truth_1) >= 0.95 * truth_1.sum()
    assert np.sum(flagged_1 & ~truth_1) <= 0.05 * truth_1.sum()


def test_cli_scans_csv(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    texts, y = synthetic_sentences(40)
    rows = [["text", "label"]] + [[t, ["neg", "pos"][lab]] for t, lab in zip(texts, y)]
    path = write_csv(tmp_path / "reviews.csv", rows)
    fast = ["--epochs", "2", "--n-components", "3", "--n-init", "3", "-q"]
    assert main(["poison", "--data", str(path), "--attack", "text", "--mapping", "0:1",
                 "--rate", "0.2", "--out", str(tmp_path / "p.npz"), "-q"]) == 0
    assert load_npz(tmp_path / "p.npz").raw_text.shape == (90,)  # 80 + 10 poison copies
    assert main(["poison", str(path), "--attack", "text", "--mapping", "0:1", "--rate", "0.2",
                 "--phrase", "Zebra Quartz", "--phrase-position", "start",
                 "--out", str(tmp_path / "z.npz"), "-q"]) == 0
    zebra = load_npz(tmp_path / "z.npz")
    assert all(t.lower().startswith("zebra quartz") for t in zebra.raw_text[zebra.is_poison])
    assert {"zebra", "quartz"} <= set(zebra.vocab.tolist())
    for source in (path, tmp_path / "p.npz"):
        code = main(["scan", str(source), "--out", str(tmp_path / source.stem), *fast])
        assert code == 0, capsys.readouterr().err
        report = json.loads((tmp_path / source.stem / "report.json").read_text())
        assert report["model"]["arch"] == "textcnn"
    # flagged.csv ends with each flagged sentence, as in the data (the poison's with the phrase)
    raw = load_npz(tmp_path / "p.npz").raw_text
    with (tmp_path / "p" / "flagged.csv").open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["text"] for r in rows] == [raw[int(r["index"])] for r in rows]
    header = (tmp_path / "p" / "flagged.csv").read_text(encoding="utf-8").splitlines()[0]
    assert header.endswith(",label_name,suspected_source_name,text")
    # other column names: --columns TEXT,LABEL, kept in report.json and used again by repair
    named = write_csv(tmp_path / "named.csv",
                      [["review", "stars"]] + [[t, str(lab)] for t, lab in zip(texts, y)])
    assert main(["scan", str(named), "--out", str(tmp_path / "n"), *fast]) == 2
    assert "--columns TEXT,LABEL names others" in capsys.readouterr().err
    assert main(["scan", str(named), "--columns", "review,stars", "--out", str(tmp_path / "n"),
                 *fast]) == 0
    report = json.loads((tmp_path / "n" / "report.json").read_text())
    assert report["parameters"]["columns"] == ["review", "stars"]
    assert main(["repair", str(named), "--scan", str(tmp_path / "n"), "--out",
                 str(tmp_path / "nr"), "--no-scratch", "-q"]) == 0
    for wrong, message in ((["--columns", "review"], "expected TEXT,LABEL"),
                           (["--columns", "a,a"], "expected TEXT,LABEL"),
                           (["--columns", "review,star"], "Did you mean 'stars'?")):
        assert main(["scan", str(named), *wrong, "--out", str(tmp_path / "x"), "-q"]) == 2
        assert message in capsys.readouterr().err
    (tmp_path / "three.toml").write_text('columns = ["review", "stars", "x"]\n')
    assert main(["scan", str(named), "--config", str(tmp_path / "three.toml"), "--out",
                 str(tmp_path / "x"), "-q"]) == 2
    assert "columns must be two column names" in capsys.readouterr().err
    assert main(["scan", str(tmp_path / "p.npz"), "--columns", "a,b", "--out",
                 str(tmp_path / "x"), "-q"]) == 2
    assert "applies to a .csv/.tsv text file only" in capsys.readouterr().err
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"text,label\ncaf\xe9,1\n")
    capsys.readouterr()
    assert main(["scan", str(bad), "--out", str(tmp_path / "x"), "-q"]) == 2
    err = capsys.readouterr().err.strip()
    assert "not UTF-8" in err and len(err.splitlines()) == 1
