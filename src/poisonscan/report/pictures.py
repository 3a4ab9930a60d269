"""Pictures made from the samples themselves: thumbnails, mosaics, and what a flagged image
cluster adds to its suspected source class.

The last one is the difference of means. Poison made by stamping a trigger on source-class
images is, on average, the source class's mean image plus the trigger. So the mean of a flagged
cluster minus the mean of the unflagged samples of its suspected source shows the trigger as a
small, sharp spot at full strength (every poisoned sample has it at the same place). A cluster
of clean samples that the analysis mistook for poison (one physical object photographed many
times, a digit read as another) differs from the other class over the whole object. The report
shows the two means and the size of their difference on a fixed 0-1 scale, so that the two
cases look different at a glance. It is a picture for the reader; no verdict depends on it.
"""

from __future__ import annotations

import io

import numpy as np

from ..data.dataset import Dataset
from ..detect.result import ClassReport
from .evidence import class_label

__all__ = ["MAX_AVERAGED", "THUMBNAIL_PX", "as_float_images", "class_differences",
           "difference_map", "difference_png", "image_to_png", "mean_image", "sprite",
           "subsample", "thumbnails"]


def subsample(n: int, max_points: int, seed: int = 0) -> np.ndarray:
    """Sorted positions of at most ``max_points`` of ``n`` items (a seeded uniform draw)."""
    if n <= max_points:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, max_points, replace=False))


def as_float_images(x: np.ndarray) -> np.ndarray:
    """Images (n, H, W) / (n, H, W, C) of any supported dtype -> float in [0, 1], grey or RGB."""
    x = np.asarray(x)
    x = x.astype(np.float32) / 255.0 if x.dtype == np.uint8 else x.astype(np.float32)
    if x.ndim == 4:
        x = x[..., 0] if x.shape[-1] == 1 else x[..., :3]
    return np.clip(x, 0.0, 1.0)


#: Longest side, in pixels, of a thumbnail in the report's mosaics; larger images are shrunk.
THUMBNAIL_PX = 64


def thumbnails(images: np.ndarray, max_side: int = THUMBNAIL_PX) -> np.ndarray:
    """Images as float [0, 1] grey (n, H, W) or RGB (n, H, W, 3), shrunk (area average, aspect
    kept) so that neither side exceeds ``max_side``; smaller images are returned unchanged.

    A 64-image mosaic of noisy 224 x 224 test images took 1.6 to 3.4 MB as PNG, and 0.11 to
    0.23 MB as 64 x 64 thumbnails. The report lists each shown sample's file, to see it in full.
    """
    imgs = as_float_images(images)
    h, w = imgs.shape[1:3]
    if max(h, w) <= max_side:
        return imgs
    from PIL import Image  # noqa: PLC0415

    size = (max(1, round(w * max_side / max(h, w))), max(1, round(h * max_side / max(h, w))))
    as_bytes = np.round(imgs * 255).astype(np.uint8)
    return np.stack([np.asarray(Image.fromarray(img).resize(size, Image.Resampling.BOX))
                     for img in as_bytes]).astype(np.float32) / 255.0


def sprite(images: np.ndarray, *, columns: int = 8, pad: int = 1,
           background: float = 1.0) -> np.ndarray:
    """Tile images into one mosaic, row by row, separated by ``pad`` pixels of ``background``.

    Parameters
    ----------
    images
        (n, H, W) or (n, H, W, C) images, uint8 0-255 or float 0-1; n >= 1.
    columns
        Thumbnails per row (the mosaic has ``ceil(n / columns)`` rows).

    Returns
    -------
    numpy.ndarray
        Float32 mosaic in [0, 1]: (rows*(H+pad)+pad, cols*(W+pad)+pad[, 3]).
    """
    imgs = as_float_images(images)
    n, h, w = imgs.shape[:3]
    if n == 0:
        raise ValueError("sprite() needs at least one image")
    cols = min(columns, n)
    rows = -(-n // cols)
    tail = imgs.shape[3:]
    # pad every tile on its bottom/right, lay the tiles out, then pad the mosaic's top/left
    tiles = np.full((rows * cols, h + pad, w + pad, *tail), background, dtype=np.float32)
    tiles[:n, :h, :w] = imgs
    body = tiles.reshape(rows, cols, h + pad, w + pad, *tail).swapaxes(1, 2)
    body = body.reshape(rows * (h + pad), cols * (w + pad), *tail)
    widths = [(pad, 0), (pad, 0)] + [(0, 0)] * len(tail)
    canvas = np.pad(body, widths, constant_values=background)
    return canvas


def image_to_png(image: np.ndarray, *, scale: int = 1) -> bytes:
    """Encode a float [0, 1] grey (H, W) or RGB (H, W, 3) image as PNG bytes.

    ``scale`` enlarges it by pixel repetition (crisp thumbnails without a browser's blur).
    """
    from matplotlib.image import imsave  # noqa: PLC0415

    if scale > 1:
        image = image.repeat(scale, axis=0).repeat(scale, axis=1)
    buf = io.BytesIO()
    if image.ndim == 2:
        imsave(buf, image, format="png", cmap="gray", vmin=0.0, vmax=1.0)
    else:
        imsave(buf, image, format="png")
    return buf.getvalue()


#: Most samples averaged on each side (a seeded subsample); the mean of 1,000 is already smooth.
MAX_AVERAGED = 1000


def mean_image(x: np.ndarray, indices: np.ndarray, *, seed: int = 0) -> np.ndarray:
    """The mean of the images ``x[indices]`` (at most :data:`MAX_AVERAGED` of them), as float
    in [0, 1]: (H, W) grey or (H, W, 3) RGB."""
    pick = np.asarray(indices)[subsample(len(indices), MAX_AVERAGED, seed)]
    return as_float_images(x[np.sort(pick)]).mean(axis=0)


def difference_map(cluster_mean: np.ndarray, source_mean: np.ndarray) -> np.ndarray:
    """(H, W) in [0, 1]: per pixel, the largest absolute difference over the channels."""
    diff = np.abs(np.asarray(cluster_mean, np.float32) - source_mean)
    return diff.max(axis=2) if diff.ndim == 3 else diff


def difference_png(cluster_mean: np.ndarray, source_mean: np.ndarray, *, cluster_title: str,
                   source_title: str, dpi: int = 80) -> bytes:
    """Three panels as PNG bytes: the two mean images and the size of their difference
    (per pixel, the largest absolute difference over the channels), on a fixed 0-1 scale."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: PLC0415
    from matplotlib.figure import Figure  # noqa: PLC0415

    diff = difference_map(cluster_mean, source_mean)
    fig = Figure(figsize=(7.2, 2.7), dpi=dpi, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, 3)
    grey = {"cmap": "gray", "vmin": 0.0, "vmax": 1.0} if cluster_mean.ndim == 2 else {}
    for ax, image, title in ((axes[0], cluster_mean, cluster_title),
                             (axes[1], source_mean, source_title)):
        ax.imshow(np.clip(image, 0.0, 1.0), interpolation="nearest", **grey)
        ax.set_title(title, fontsize=9)
    shown = axes[2].imshow(diff, cmap="magma", vmin=0.0, vmax=1.0, interpolation="nearest")
    axes[2].set_title("difference (0 to 1)", fontsize=9)
    fig.colorbar(shown, ax=axes[2], shrink=0.8)
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def class_differences(report: ClassReport, indices: np.ndarray, assignment: np.ndarray,
                      flagged: np.ndarray, data: Dataset, *, seed: int = 0) -> dict[int, bytes]:
    """The difference figure of each cluster of one class judged poison or suspicious, with a
    suspected source.

    Parameters
    ----------
    report
        The class's verdict (its clusters, which are poison, and their suspected sources).
    indices, assignment
        (n,) dataset indices of the class's samples and (n,) their cluster ids.
    flagged
        (N,) bool, the detection's flagged and suspicious samples: the source side averages
        the others.
    data
        The scanned images.

    Returns
    -------
    dict
        Cluster id -> PNG bytes; empty for a clean class, and where the source class has no
        unflagged sample.
    """
    out = {}
    names = None if data.class_names is None else data.class_names.tolist()
    for cl in report.clusters:
        if not (cl.is_poison or cl.level == "suspicious") or cl.suspected_source is None:
            continue
        members = indices[assignment == cl.cluster]
        source = np.flatnonzero((data.y == cl.suspected_source) & ~flagged)
        if not len(members) or not len(source):
            continue
        out[cl.cluster] = difference_png(
            mean_image(data.x, members, seed=seed), mean_image(data.x, source, seed=seed),
            cluster_title=f"cluster {cl.cluster} (mean of {len(members):,})",
            source_title=f"class {class_label(cl.suspected_source, names)}, unflagged (mean)")
    return out
