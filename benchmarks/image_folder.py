"""Load time of an image folder at real size, and that it gives back the exact arrays.

Writes the GTSRB training images (39,209 colour 32x32, 43 classes) and the MNIST training
images (60,000 greyscale 28x28, 10 classes) as PNG files into a temporary folder with one
subfolder per class, then times :func:`poisonscan.data.load_image_folder` on each and checks
that the loaded pixels and labels equal the originals (PNG is lossless; the folder order is
sorted, so the check compares after the same sort).

With ``--scan`` it also poisons MNIST as ``poisonscan poison`` does by default (pattern trigger,
all-to-next, 10%, seed 0), writes the 66,666 images as a folder (file name = index in the
poisoned set, so the ground truth is known), scans the folder with the default settings and
scores the flagged files against the ground truth.

With ``--photos N`` it writes N photo-sized JPEGs (640x480, quality 90: GTSRB signs enlarged,
with sensor-like noise, so that they decode like photos) and loads them resized to 64x64, once
as the loader did before 2026-11-25 (one file after another, the full JPEG decoded, then resized)
and once with :func:`load_image_folder` (threads, JPEG draft decoding). It reports both times and
how far the pixels differ.

Results are merged into ``benchmarks/results/image_folder.json`` (entries not re-run are kept).

    python benchmarks/image_folder.py --data-dir ../shared/datasets --scan --photos 2000
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from poisonscan import preset, scan
from poisonscan._io import write_json
from poisonscan.attacks import get_trigger, parse_mapping, poison_dataset
from poisonscan.data import load_gtsrb, load_image_folder, load_mnist
from poisonscan.metrics import detection_metrics


def export(x: np.ndarray, y: np.ndarray, root: Path) -> None:
    """Write ``x[i]`` to ``root/class_{y[i]:02d}/{i:06d}.png``."""
    for label in np.unique(y):
        (root / f"class_{label:02d}").mkdir(parents=True)
    for i, (img, label) in enumerate(zip(x, y)):
        Image.fromarray(img).save(root / f"class_{label:02d}" / f"{i:06d}.png")


def original_index(files: np.ndarray) -> np.ndarray:
    """(N,) the index each loaded image had before export (its file name)."""
    return np.array([int(Path(f).stem) for f in files])


def measure(name: str, x: np.ndarray, y: np.ndarray, tmp: Path) -> dict[str, object]:
    root = tmp / name
    start = time.perf_counter()
    export(x, y, root)
    write_s = time.perf_counter() - start
    start = time.perf_counter()
    data = load_image_folder(root)
    load_s = time.perf_counter() - start
    order = original_index(data.files)
    exact = bool(np.array_equal(data.x, x[order]) and np.array_equal(data.y, y[order]))
    row = {"images": int(len(y)), "shape": list(x.shape[1:]), "classes": int(len(np.unique(y))),
           "bytes_on_disk": int(sum(p.stat().st_size for p in root.rglob("*.png"))),
           "write_s": round(write_s, 2), "load_s": round(load_s, 2),
           "images_per_s": round(len(y) / load_s), "exact": exact}
    print(name, row, flush=True)
    return row


def scan_poisoned_mnist(data_dir: str, tmp: Path) -> dict[str, object]:
    """Scan a poisoned MNIST written as an image folder; score it with the known poison."""
    data = poison_dataset(load_mnist(data_dir), get_trigger("pattern"),
                          parse_mapping("all-to-next", 10), rate=0.10, seed=0)
    root = tmp / "mnist-poisoned"
    export(data.x, data.y, root)
    start = time.perf_counter()
    folder = load_image_folder(root)
    paper = preset("paper")  # as recorded in results/image_folder.json (before issue 23)
    result = scan(folder, detector=paper.detector_of(), train_config=paper.train_config(),
                  progress=False)
    total_s = time.perf_counter() - start
    index = original_index(folder.files)
    truth = data.is_poison[index]
    flagged = np.zeros(len(index), dtype=bool)
    flagged[result.detection.flagged_indices] = True
    m = detection_metrics(truth, flagged)
    row = {"images": int(len(index)), "poison": int(truth.sum()), "flagged": int(flagged.sum()),
           "precision": round(m.precision, 4), "recall": round(m.recall, 4),
           "f1": round(m.f1, 4), "load_and_scan_s": round(total_s, 1)}
    print("scan of poisoned MNIST as a folder", row, flush=True)
    return row


def sequential_full_decode(root: Path, size: tuple[int, int]) -> np.ndarray:
    """The loader before 2026-11-25, for the comparison: files in sorted order, one at a time,
    each decoded at full size, converted to RGB and resized (bilinear) to ``size`` (h, w)."""
    files = sorted(p for c in sorted(root.iterdir()) for p in c.rglob("*.jpg"))
    out = np.empty((len(files), *size, 3), dtype=np.uint8)
    for i, path in enumerate(files):
        with Image.open(path) as img:
            out[i] = np.asarray(img.convert("RGB").resize(size[::-1], Image.Resampling.BILINEAR))
    return out


def measure_photos(n: int, data_dir: str, tmp: Path, size: tuple[int, int] = (64, 64)
                   ) -> dict[str, object]:
    """Load ``n`` photo-sized JPEGs resized to ``size``: the previous loader against the current."""
    signs = load_gtsrb(data_dir)
    rng = np.random.default_rng(0)
    pick = rng.choice(len(signs.y), n, replace=False)
    root = tmp / "photos"
    start = time.perf_counter()
    for i in pick:
        folder = root / f"class_{signs.y[i]:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        big = np.asarray(Image.fromarray(signs.x[i]).resize((640, 480), Image.Resampling.BICUBIC),
                         dtype=np.float32)
        big += rng.normal(0, 6, big.shape).astype(np.float32)
        Image.fromarray(big.clip(0, 255).astype(np.uint8)).save(folder / f"{i:06d}.jpg",
                                                                quality=90)
    write_s = time.perf_counter() - start
    start = time.perf_counter()
    before = sequential_full_decode(root, size)
    before_s = time.perf_counter() - start
    start = time.perf_counter()
    data = load_image_folder(root, image_size=size)
    now_s = time.perf_counter() - start
    diff = np.abs(data.x.astype(np.int16) - before.astype(np.int16))
    row = {"images": n, "file_size": [640, 480], "resized_to": list(size),
           "bytes_on_disk": int(sum(p.stat().st_size for p in root.rglob("*.jpg"))),
           "write_s": round(write_s, 2), "previous_load_s": round(before_s, 2),
           "load_s": round(now_s, 2), "speedup": round(before_s / now_s, 2),
           "images_per_s": round(n / now_s),
           "pixel_difference": {"mean": round(float(diff.mean()), 3), "max": int(diff.max())},
           "labels_match_folders": bool(np.array_equal(
               data.class_names[data.y], [f.split("/")[0] for f in data.files]))}
    print("photos", row, flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" /
                                             "image_folder.json"))
    parser.add_argument("--scan", action="store_true",
                        help="also scan a poisoned MNIST written as a folder (about 2 minutes)")
    parser.add_argument("--photos", type=int, default=0, metavar="N",
                        help="also time N photo-sized JPEGs resized to 64x64 (0: skip)")
    args = parser.parse_args()
    out = Path(args.out)
    results: dict[str, object] = json.loads(out.read_text())["results"] if out.exists() else {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, loader in (("gtsrb", load_gtsrb), ("mnist", load_mnist)):
            data = loader(args.data_dir)
            results[name] = measure(name, data.x, data.y, Path(tmp))
        if args.scan:
            results["mnist_poisoned_scan"] = scan_poisoned_mnist(args.data_dir, Path(tmp))
        if args.photos:
            results["photos"] = measure_photos(args.photos, args.data_dir, Path(tmp))
    write_json(args.out, {"machine": "2 CPU cores", "results": results})


if __name__ == "__main__":
    main()
