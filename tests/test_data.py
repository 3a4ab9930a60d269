"""Dataset format, validation and the MNIST IDX loader."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest

from poisonscan.data import Dataset, load_dataset, load_mnist, load_npz, memory, save_dataset
from poisonscan.data.memory import npz_nbytes
from poisonscan.errors import InputError


def test_roundtrip(tmp_path: Path, blob_images: Dataset) -> None:
    path = tmp_path / "d.npz"
    save_dataset(path, blob_images)
    back = load_npz(path)
    np.testing.assert_array_equal(back.x, blob_images.x)
    np.testing.assert_array_equal(back.y_test, blob_images.y_test)
    assert back.is_poison is None and back.n_classes == 3 and back.is_image


def test_no_pickles_loaded(tmp_path: Path) -> None:
    path = tmp_path / "obj.npz"
    np.savez(path, x=np.array([{"a": 1}], dtype=object), y=np.array([0]))
    with pytest.raises(InputError, match="not a readable .npz"):
        load_npz(path)


def test_npz_with_class_name_labels(tmp_path: Path) -> None:
    """Labels saved as names are numbered alphabetically, or in the order of class_names."""
    x = np.zeros((4, 3), np.float32)
    np.savez(tmp_path / "a.npz", x=x, y=np.array(["dog", "cat", "dog", "emu"]),
             y_test=np.array(["emu"]), x_test=x[:1])
    d = load_npz(tmp_path / "a.npz")
    assert d.y.tolist() == [1, 0, 1, 2] and d.y_test.tolist() == [2]
    assert d.class_names.tolist() == ["cat", "dog", "emu"]
    np.savez(tmp_path / "b.npz", x=x, y=np.array(["dog", "cat", "dog", "cat"]),
             class_names=np.array(["dog", "emu", "cat"]))
    d = load_npz(tmp_path / "b.npz")
    assert d.y.tolist() == [0, 2, 0, 2] and d.class_names.tolist() == ["dog", "emu", "cat"]


@pytest.mark.parametrize("extra,match", [
    ({"class_names": np.array(["cat"])}, "y has the label 'dog', which class_names does not"),
    ({"class_names": np.array(["cat", "cat", "dog"])}, "class_names must be distinct strings"),
    ({"source": np.array([0, 1])}, "y holds class names but source holds int64"),
])
def test_npz_class_name_label_errors(extra: dict, match: str, tmp_path: Path) -> None:
    np.savez(tmp_path / "a.npz", x=np.zeros((2, 3)), y=np.array(["dog", "cat"]), **extra)
    with pytest.raises(InputError, match=match):
        load_npz(tmp_path / "a.npz")


@pytest.mark.parametrize("arrays,match", [
    ({"x": np.zeros((4, 3)), "y": np.zeros(5, int)}, "same length"),
    ({"x": np.full((4, 3), np.nan), "y": np.zeros(4, int)}, "NaN or inf"),
    ({"x": np.array([[0, np.inf]]), "y": np.zeros(1, int)}, "NaN or inf"),
    ({"x": np.zeros((4, 3)), "y": np.array([0, 1, -1, 0])}, ">= 0"),
    ({"x": np.zeros((4, 3)), "y": np.array([0, 1.5, 1, 0])}, "integer class labels"),
    ({"x": np.zeros((2, 3)), "y": np.array([0, 10**12])}, "class ids below 1,000,000"),
    ({"x": np.zeros((2, 3)), "y": np.array([b"a", b"b"])}, "integer class labels"),
    ({"x": np.zeros((4, 8, 8)) + 2.0, "y": np.zeros(4, int)}, r"in \[0, 1\]"),
    ({"x": np.zeros(4), "y": np.zeros(4, int)}, "shape"),
    ({"x": np.zeros((4, 8, 8, 2)), "y": np.zeros(4, int)}, "channels"),
    ({"x": np.full((4, 8, 8), 256, np.uint16), "y": np.zeros(4, int)}, r"0-255; got uint16 .*256"),
    ({"x": np.full((4, 8, 8), -1), "y": np.zeros(4, int)}, r"0-255; got int64 values in \[-1"),
    ({"x": np.zeros((4, 3)), "y": np.zeros(4, int), "is_poison": np.zeros(3, bool)}, "is_poison"),
    ({"x": np.zeros((4, 3)), "y": np.zeros(4, int), "x_test": np.zeros((2, 3))}, "together"),
])
def test_invalid_arrays(tmp_path: Path, arrays: dict, match: str) -> None:
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    with pytest.raises(InputError, match=match):
        load_npz(path)


def test_integer_images_holding_0_to_255_are_read_as_uint8() -> None:
    """np.array(a list of lists of pixels) is int64: the same images as uint8, not raw values."""
    pixels = np.random.default_rng(0).integers(0, 256, (5, 4, 4, 3))
    d = Dataset(x=pixels, y=np.zeros(5, int), x_test=pixels.astype(np.uint16)[:2],
                y_test=np.zeros(2, int))
    assert d.x.dtype == d.x_test.dtype == np.uint8 and np.array_equal(d.x, pixels)
    assert Dataset(x=pixels[:, 0, 0], y=np.zeros(5, int)).x.dtype == pixels.dtype  # features


def test_npz_too_large_for_memory_is_refused_before_loading(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    arrays = {"x": np.zeros((50, 8, 8, 3), np.uint8), "y": np.zeros(50, np.int64),
              "x_test": np.zeros((7, 8, 8, 3), np.float32), "y_test": np.zeros(7, np.int64)}
    np.savez_compressed(tmp_path / "d.npz", **arrays, unrelated=np.zeros(10**6))
    need = sum(a.nbytes for a in arrays.values())
    assert npz_nbytes(tmp_path / "d.npz", {"x", "y", "x_test", "y_test", "vocab"}) == need
    monkeypatch.setattr(memory, "available_memory", lambda: need - 1)
    with pytest.raises(InputError, match=r"the arrays of .*d.npz need 0.0 MiB of memory, more "
                                         r"than the 0.0 MiB available"):
        load_npz(tmp_path / "d.npz")
    monkeypatch.setattr(memory, "available_memory", lambda: need)  # the unrelated array: not read
    assert load_npz(tmp_path / "d.npz").x.shape == (50, 8, 8, 3)


def test_float_integral_labels_accepted() -> None:
    d = Dataset(x=np.zeros((3, 2)), y=np.array([0.0, 1.0, 2.0]))
    assert d.y.dtype == np.int64 and d.n_classes == 3


def test_missing_and_corrupt_files(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not found"):
        load_npz(tmp_path / "nope.npz")
    corrupt = tmp_path / "corrupt.npz"
    corrupt.write_bytes(b"PK\x03\x04 definitely not a zip")
    with pytest.raises(InputError, match="not a readable"):
        load_npz(corrupt)
    only_x = tmp_path / "only_x.npz"
    np.savez(only_x, x=np.zeros((2, 2)))
    with pytest.raises(InputError, match="'x' and 'y'"):
        load_npz(only_x)


def _write_idx(path: Path, arr: np.ndarray) -> None:
    header = struct.pack(">HBB", 0, 8, arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape)
    with gzip.open(path, "wb") as fh:
        fh.write(header + arr.astype(np.uint8).tobytes())


def test_mnist_loader_reads_idx(tmp_path: Path) -> None:
    folder = tmp_path / "mnist"
    folder.mkdir()
    rng = np.random.default_rng(0)
    imgs, labels = rng.integers(0, 255, (5, 28, 28)), np.arange(5)
    for name, arr in [("train-images-idx3-ubyte.gz", imgs), ("train-labels-idx1-ubyte.gz", labels),
                      ("t10k-images-idx3-ubyte.gz", imgs[:2]),
                      ("t10k-labels-idx1-ubyte.gz", labels[:2])]:
        _write_idx(folder / name, arr)
    d = load_mnist(tmp_path)
    np.testing.assert_array_equal(d.x, imgs)
    np.testing.assert_array_equal(d.y_test, labels[:2])


def test_mnist_missing_files_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "mnist").mkdir()
    with pytest.raises(InputError, match="train-images-idx3-ubyte.gz"):
        load_mnist(tmp_path)
    monkeypatch.delenv("POISONSCAN_DATA", raising=False)
    with pytest.raises(InputError, match="POISONSCAN_DATA"):
        load_dataset("mnist")
    with pytest.raises(InputError, match="Did you mean 'mnist'"):
        load_dataset("mnsit")


@pytest.mark.parametrize("with_files", [True, False])
def test_gtsrb_loader_names_classes_and_files(tmp_path: Path, with_files: bool) -> None:
    (tmp_path / "gtsrb").mkdir()
    rng = np.random.default_rng(0)
    arrays = {"x_train": rng.integers(0, 255, (3, 32, 32, 3), dtype=np.uint8),
              "y_train": np.array([14, 3, 42], dtype=np.uint8),
              "x_test": np.zeros((1, 32, 32, 3), np.uint8), "y_test": np.array([0], np.uint8)}
    if with_files:  # the shared archive lists each image's original file
        arrays["train_files"] = np.array(["00014/00000_00000.ppm", "00003/00001_00029.ppm",
                                          "00042/00007_00003.ppm"])
    np.savez(tmp_path / "gtsrb" / "gtsrb_32x32.npz", **arrays)
    d = load_dataset("gtsrb", tmp_path)
    np.testing.assert_array_equal(d.x, arrays["x_train"])
    assert len(d.class_names) == 43
    assert [d.class_names[c] for c in d.y] == ["stop", "speed limit 60", "end of no passing 3.5 t"]
    if with_files:
        assert d.files.tolist() == arrays["train_files"].tolist()
    else:
        assert d.files is None
    with pytest.raises(InputError, match="GTSRB file missing"):
        load_dataset("gtsrb", tmp_path / "elsewhere")
