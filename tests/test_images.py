"""A folder of image files, one subfolder per class: loading, bad folders, scan and repair."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import make_blob_images
from poisonscan.attacks import pattern, poison_dataset
from poisonscan.cli import main
from poisonscan.data import images, load_dataset, load_image_folder, load_npz, memory, save_dataset
from poisonscan.errors import InputError

FAST = ["--epochs", "2", "--n-components", "4", "--n-init", "5", "-q"]


def write_folder(root: Path, x: np.ndarray, y: np.ndarray, names: list[str]) -> list[str]:
    """Write x[i] to ``root/names[y[i]]/i.png``; returns the relative paths in sorted order."""
    paths = []
    for i, (img, label) in enumerate(zip(x, y)):
        rel = f"{names[label]}/{i:04d}.png"
        (root / names[label]).mkdir(parents=True, exist_ok=True)
        Image.fromarray(img).save(root / rel)
        paths.append(rel)
    return sorted(paths)


def test_load_grey_and_rgb_folders(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(6, 6, 7, 3), dtype=np.uint8)
    y = np.array([1, 0, 1, 0, 0, 1])
    files = write_folder(tmp_path / "rgb", x, y, ["cat", "dog"])
    (tmp_path / "rgb" / "cat" / "notes.txt").write_text("not an image")
    (tmp_path / "rgb" / "dog" / ".hidden.png").write_bytes(b"skipped")
    data = load_image_folder(tmp_path / "rgb")
    assert data.x.shape == (6, 6, 7, 3) and data.x.dtype == np.uint8
    assert data.files.tolist() == files and data.class_names.tolist() == ["cat", "dog"]
    order = [int(Path(f).stem) for f in files]  # sorted by class folder, then file name
    np.testing.assert_array_equal(data.x, x[order])  # PNG is lossless
    np.testing.assert_array_equal(data.y, y[order])
    grey = x[..., 0]
    write_folder(tmp_path / "grey", grey, y, ["a", "b"])
    assert load_dataset(str(tmp_path / "grey")).x.shape == (6, 6, 7)
    # files and class names survive the .npz format and poisoning
    save_dataset(tmp_path / "d.npz", data)
    back = load_npz(tmp_path / "d.npz")
    assert back.files.tolist() == files and back.class_names.tolist() == ["cat", "dog"]
    poisoned = poison_dataset(data, pattern, [(0, 1)], rate=0.25)
    assert len(poisoned.files) == len(poisoned.y)
    assert all(f.startswith("poisoned copy of cat/") for f in poisoned.files[len(y):])


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    """A phone photo stored landscape with orientation 6 (turn 90 degrees clockwise to view)
    loads upright, with the shown size, beside an ordinary portrait image."""
    rng = np.random.default_rng(1)
    upright = rng.integers(0, 256, size=(6, 4, 3), dtype=np.uint8)  # (H, W) = (6, 4) as shown
    stored = np.rot90(upright, k=1)  # what the camera wrote: 4 x 6, needs a clockwise turn
    for name in "ab":
        (tmp_path / name).mkdir()
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(stored).save(tmp_path / "a" / "phone.png", exif=exif)
    Image.fromarray(upright).save(tmp_path / "b" / "plain.png")
    Image.fromarray(stored).save(tmp_path / "b" / "phone.jpg", exif=exif)  # EXIF in the header
    data = load_image_folder(tmp_path)
    assert data.x.shape == (3, 6, 4, 3)  # all portrait: no "different sizes" error
    np.testing.assert_array_equal(data.x[data.files.tolist().index("a/phone.png")], upright)


def test_mixed_sizes_need_image_size(tmp_path: Path) -> None:
    for name, shape in (("a/1.png", (8, 8, 3)), ("a/2.png", (8, 8, 3)), ("b/1.jpg", (12, 10, 3))):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        Image.fromarray(np.full(shape, 100, np.uint8)).save(tmp_path / name)
    with pytest.raises(InputError, match=r"2 different sizes \(8x8 in 2 files, 12x10 in e\.g\. "
                                         r"b/1\.jpg\); pass --image-size H,W"):
        load_image_folder(tmp_path)
    data = load_image_folder(tmp_path, image_size=(6, 4))
    assert data.x.shape == (3, 6, 4, 3)


def test_images_too_large_for_memory_are_refused_before_decoding(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """Pixels that would not fit in the memory left fail at once, with a size that fits."""
    write_folder(tmp_path / "d", np.full((4, 100, 100, 3), 9, np.uint8), np.array([0, 0, 1, 1]),
                 ["a", "b"])
    monkeypatch.setattr(memory, "available_memory", lambda: 100_000)  # 4 x 30,000 bytes needed
    decoded = []
    monkeypatch.setattr(images, "_pixels", lambda *a: decoded.append(a))
    with pytest.raises(InputError, match=r"the 4 images of .* at 100x100 pixels need 0.1 MiB of "
                                         r"memory, .* pass --image-size H,W .*\(e.g. 64,64: "):
        load_image_folder(tmp_path / "d")
    assert decoded == []  # refused before any image was decoded
    monkeypatch.undo()
    monkeypatch.setattr(memory, "available_memory", lambda: 100_000)
    assert load_image_folder(tmp_path / "d", image_size=(64, 64)).x.shape == (4, 64, 64, 3)
    # and an allocation that fails anyway is one line, not a traceback
    monkeypatch.setattr(memory, "available_memory", lambda: None)
    monkeypatch.setattr(np, "empty", lambda *a, **k: (_ for _ in ()).throw(MemoryError("4 TiB")))
    assert main(["scan", str(tmp_path / "d"), "--out", str(tmp_path / "o"), "-q"]) == 1
    err = capsys.readouterr().err
    assert err == ("poisonscan scan: error: out of memory (4 TiB); use smaller inputs or a "
                   "machine with more memory.\n")


def test_large_images_decode_exactly_in_threads(tmp_path: Path) -> None:
    """Images of 128x128 pixels or more are decoded in threads: same arrays, same order."""
    rng = np.random.default_rng(2)
    x = rng.integers(0, 256, size=(70, 130, 128, 3), dtype=np.uint8)
    y = np.arange(70) % 2
    written = write_folder(tmp_path, x, y, ["a", "b"])
    data = load_image_folder(tmp_path)
    assert data.files.tolist() == written
    order = [int(Path(f).stem) for f in data.files]
    np.testing.assert_array_equal(data.x, x[order])
    np.testing.assert_array_equal(data.y, y[order])


def test_large_jpegs_resized_via_draft_decoding(tmp_path: Path) -> None:
    """A JPEG much larger than --image-size is decoded at a reduced scale before the resize:
    the result stays close to a full decode and resize, EXIF orientation included."""
    from PIL import ImageOps

    rng = np.random.default_rng(3)
    coarse = rng.integers(0, 256, size=(6, 8, 3), dtype=np.uint8)
    photo = Image.fromarray(coarse).resize((640, 480), Image.Resampling.BICUBIC)
    exif = Image.Exif()
    exif[0x0112] = 6  # shown as 480 wide, 640 high
    for name in "ab":
        (tmp_path / name).mkdir()
    photo.save(tmp_path / "a" / "wide.jpg", quality=95)
    photo.save(tmp_path / "b" / "phone.jpg", quality=95, exif=exif)
    data = load_image_folder(tmp_path, image_size=(40, 30))
    assert data.x.shape == (2, 40, 30, 3)
    for i, f in enumerate(data.files):
        with Image.open(tmp_path / f) as img:
            full = np.asarray(ImageOps.exif_transpose(img).convert("RGB")
                              .resize((30, 40), Image.Resampling.BILINEAR), dtype=float)
        assert np.abs(data.x[i] - full).mean() < 3  # of 255


def test_every_unreadable_file_is_named(tmp_path: Path) -> None:
    root = _bad(tmp_path, "corrupt")
    for i in range(6):
        (root / "a" / f"bad{i}.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(InputError) as err:
        load_image_folder(root)
    message = str(err.value)
    assert message.startswith(f"7 files in {root} are not readable images: a/bad0.jpg (")
    assert "a/bad4.jpg (" in message and "a/bad5.jpg" not in message
    assert "; and 2 more. Move them out of the folder" in message
    assert "\n" not in message


def _bad(tmp_path: Path, case: str) -> Path:
    root = tmp_path / "data"
    img = Image.fromarray(np.zeros((4, 4), np.uint8))
    for cls in ("a", "b"):
        (root / cls).mkdir(parents=True)
        img.save(root / cls / "1.png")
    if case == "one class":
        for f in (root / "b").iterdir():
            f.unlink()
        (root / "b").rmdir()
    elif case == "loose image":
        img.save(root / "stray.png")
    elif case == "empty class":
        (root / "c").mkdir()
        (root / "c" / "readme.txt").write_text("no images here")
    elif case == "corrupt":
        (root / "b" / "2.png").write_bytes(b"\x89PNG this is not an image")
    elif case == "16-bit":
        Image.fromarray(np.zeros((4, 4), np.uint16)).save(root / "b" / "2.png")
    elif case == "missing":
        return tmp_path / "nowhere"
    return root


@pytest.mark.parametrize("case, match", [
    ("one class", "has 1 class subfolder"),
    ("loose image", "holds image files directly"),
    ("empty class", "class folder 'c' .* has no images"),
    ("corrupt", "b/2.png in .* is not a readable image"),
    ("16-bit", "b/2.png in .* has 16-bit or float pixels"),
    ("missing", "data folder not found"),
])
def test_bad_folder_clear_error(case: str, match: str, tmp_path: Path) -> None:
    path = _bad(tmp_path, case)
    with pytest.raises(InputError, match=match):
        load_image_folder(path)


def test_scan_and_repair_an_image_folder(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    data = poison_dataset(make_blob_images(n_per_class=80), pattern, [(0, 1), (1, 2), (2, 0)],
                          rate=0.2)
    folder = tmp_path / "my_data"
    write_folder(folder, data.x, data.y, ["circle", "square", "triangle"])
    before = sorted((p, p.read_bytes()) for p in folder.rglob("*.png"))
    assert main(["scan", str(folder), "--out", str(tmp_path / "r"), *FAST]) == 0
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    assert report["input"]["class_names"] == ["circle", "square", "triangle"]
    rows = list(csv.DictReader((tmp_path / "r" / "flagged.csv").open()))
    assert len(rows) == report["summary"]["n_flagged"] + report["summary"]["n_suspicious"] > 0
    names = ["circle", "square", "triangle"]
    for row in rows:
        assert (folder / row["file"]).is_file()
        assert row["file"].split("/")[0] == row["label_name"] == names[int(row["label"])]
    assert main(["repair", str(folder), "--scan", str(tmp_path / "r"), "--out",
                 str(tmp_path / "fixed"), "--epochs", "1", "--no-scratch", "-q"]) == 0
    assert (tmp_path / "fixed" / "model.safetensors").is_file()
    assert sorted((p, p.read_bytes()) for p in folder.rglob("*.png")) == before  # untouched
    capsys.readouterr()
    # --image-size is for image folders only
    save_dataset(tmp_path / "d.npz", data)
    assert main(["scan", str(tmp_path / "d.npz"), "--image-size", "8,8", "--out",
                 str(tmp_path / "x"), "-q"]) == 2
    err = capsys.readouterr().err
    assert "--image-size applies to a folder of images only" in err and err.count("\n") == 1


def test_repair_reuses_the_scans_image_size(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    data = make_blob_images(n_per_class=40)
    folder = tmp_path / "mixed"
    write_folder(folder, data.x, data.y, ["a", "b", "c"])
    Image.fromarray(np.zeros((20, 16), np.uint8)).save(folder / "a" / "odd.png")
    assert main(["scan", str(folder), "--image-size", "12", "--out", str(tmp_path / "r")]) == 2
    assert "--image-size: expected H,W" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()
    assert main(["scan", str(folder), "--image-size", "10,10", "--out", str(tmp_path / "r"),
                 *FAST]) == 0
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    assert report["input"]["sample_shape"] == [10, 10]
    assert main(["repair", str(folder), "--scan", str(tmp_path / "r"), "--out",
                 str(tmp_path / "fixed"), "--epochs", "1", "--no-scratch", "-q"]) == 0
    assert main(["repair", str(folder), "--scan", str(tmp_path / "r"), "--out",
                 str(tmp_path / "other"), "--image-size", "8,8", "-q"]) == 2
    assert "is not the data scanned" in capsys.readouterr().err


@pytest.mark.parametrize("out", [".", "report", "a/report"])
def test_out_inside_the_image_folder_is_refused(out: str, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    data = make_blob_images(n_per_class=10)
    folder = tmp_path / "pics"
    write_folder(folder, data.x, data.y, ["a", "b", "c"])
    assert main(["scan", str(folder), "--out", str(tmp_path / "r"), *FAST]) == 0
    before = sorted(p.relative_to(folder) for p in folder.rglob("*"))
    for command in (["scan", str(folder)], ["repair", str(folder), "--scan", str(tmp_path / "r")]):
        assert main([*command, "--out", str(folder / out), "-q"]) == 2
        err = capsys.readouterr().err
        assert "is inside the image folder" in err and err.count("\n") == 1
    assert sorted(p.relative_to(folder) for p in folder.rglob("*")) == before  # nothing added
