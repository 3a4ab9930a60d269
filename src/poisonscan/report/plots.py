"""Figures of a scan, per class: a 2-D scatter of the reduced activations, and for images the
pictures of :mod:`~poisonscan.report.pictures` (each cluster's mosaic, and each flagged
cluster's mean image against its suspected source's); and their PNG files.

Everything is drawn headless on matplotlib's Agg canvas (``matplotlib.figure.Figure`` with
``FigureCanvasAgg``, never ``pyplot``), so no display is needed and the backend of a user's
session is left alone. matplotlib is imported only when a figure is drawn, which keeps
``import poisonscan`` fast.
"""

from __future__ import annotations

import io
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from .._io import atomic_path
from ..data.dataset import Dataset
from ..detect.cluster import ClassClusters
from ..detect.result import DetectionResult
from .pictures import (THUMBNAIL_PX, class_differences, image_to_png, sprite, subsample,
                       thumbnails)

__all__ = ["ClassFigures", "THUMBNAIL_PX", "build_figures", "image_to_png", "plot_names",
           "project_2d", "save_figures", "scatter_png", "split_axis", "sprite", "subsample",
           "thumbnails"]

#: Colours of clusters the analysis judged clean (cool) and poison (warm), and of ground truth.
CLEAN_COLOURS = ("#3b6ea8", "#5aa469", "#8e6bb8", "#7a8a99", "#2a9d8f")
POISON_COLOURS = ("#d1495b", "#ee8434", "#c8559c")
SUSPICIOUS_COLOUR = "#e0a100"
TRUTH_COLOURS = {"clean": "#9aa7b4", "poison": "#d1495b"}


@dataclass
class ClassFigures:
    """The figures of one class, as PNG bytes.

    Attributes
    ----------
    label
        The class.
    scatter
        The scatter panel(s): by cluster, and by ground truth when the data has it.
    sprites
        Cluster id -> mosaic of its samples (most suspicious first); empty for feature vectors.
    sprite_shapes
        Cluster id -> (height, width) of the mosaic in pixels.
    sprite_indices
        Cluster id -> the dataset indices of the samples shown, in mosaic order (row by row).
    differences
        Cluster id -> its mean image beside its suspected source's, and their difference
        (:func:`~poisonscan.report.pictures.class_differences`), for image clusters judged poison.
    n_plotted
        Points drawn in the scatter (at most ``max_points``).
    """

    label: int
    scatter: bytes
    sprites: dict[int, bytes] = field(default_factory=dict)
    sprite_shapes: dict[int, tuple[int, int]] = field(default_factory=dict)
    sprite_indices: dict[int, np.ndarray] = field(default_factory=dict)
    differences: dict[int, bytes] = field(default_factory=dict)
    n_plotted: int = 0

    def pngs(self) -> dict[str, bytes]:
        """Every figure of the class by its file name (:func:`plot_names`), scatter first."""
        out = {plot_names(self.label): self.scatter}
        for c, png in self.sprites.items():
            out[plot_names(self.label, c)] = png
            if c in self.differences:
                out[plot_names(self.label, c, "difference")] = self.differences[c]
        return out


_PLOT_NAME = re.compile(r"class_\d+_(scatter|(sprite|difference)_c\d+)\.png")


def plot_names(label: int, cluster: int | None = None, kind: str = "sprite") -> str:
    """File name of a class's scatter (``cluster`` None), or of one cluster's ``kind`` of
    figure: ``"sprite"`` (its samples) or ``"difference"`` (its mean against its source's)."""
    if cluster is None:
        return f"class_{label}_scatter.png"
    return f"class_{label}_{kind}_c{cluster}.png"


def project_2d(points: np.ndarray, seed: int = 0, *,
               axis: np.ndarray | None = None) -> np.ndarray:
    """(n, d) -> (n, 2) centred coordinates for a scatter plot.

    Without ``axis``: PCA to two dimensions (seeded). With ``axis`` (d,), e.g. the difference
    of two cluster centres: x is the position along that direction (so the clusters separate
    left to right, as k-means saw them) and y the first principal component of what remains.
    Zero-padded when there are fewer than 2 samples or dimensions.
    """
    points = np.asarray(points, dtype=np.float64)
    out = np.zeros((len(points), 2))
    if len(points) < 2 or points.shape[1] == 0:
        return out
    centred = points - points.mean(0)
    norm = 0.0 if axis is None else float(np.linalg.norm(axis))
    if norm > 0:
        unit = np.asarray(axis, dtype=np.float64) / norm
        out[:, 0] = centred @ unit
        rest = centred - np.outer(out[:, 0], unit)
        if points.shape[1] > 1:
            # top right-singular vector of the residual = its first principal direction
            _, _, vt = np.linalg.svd(rest, full_matrices=False)
            out[:, 1] = rest @ (vt[0] * np.sign(vt[0][np.argmax(np.abs(vt[0]))]))
        return out
    if points.shape[1] <= 2:
        out[:, :points.shape[1]] = centred
        return out
    from sklearn.decomposition import PCA  # noqa: PLC0415

    return PCA(n_components=2, random_state=seed).fit_transform(points)


def split_axis(centers: np.ndarray, sizes: np.ndarray) -> np.ndarray | None:
    """Direction from the largest cluster's centre to the next largest's (None if k < 2)."""
    if len(centers) < 2 or np.count_nonzero(sizes) < 2:
        return None
    first, second = np.argsort(-np.asarray(sizes), kind="stable")[:2]
    return np.asarray(centers[second], dtype=np.float64) - centers[first]


def _tags(cluster_poison: list[bool] | list[str]) -> list[str]:
    """Each cluster's tag, ``"flagged"``, ``"suspicious"`` or ``"kept"`` (bools: flagged or
    kept)."""
    return [t if isinstance(t, str) else ("flagged" if t else "kept") for t in cluster_poison]


def _cluster_colours(tags: list[str]) -> list[str]:
    clean = iter(CLEAN_COLOURS * len(tags))
    poison = iter(POISON_COLOURS * len(tags))
    return [next(poison) if t == "flagged" else SUSPICIOUS_COLOUR if t == "suspicious"
            else next(clean) for t in tags]


def scatter_png(xy: np.ndarray, assignment: np.ndarray, cluster_poison: list[bool] | list[str],
                *, truth: np.ndarray | None = None, title: str = "", dpi: int = 80) -> bytes:
    """Draw the scatter of one class as PNG bytes.

    ``cluster_poison`` has one entry per cluster: True / ``"flagged"``, ``"suspicious"``, or
    False / ``"kept"``. Left panel: points coloured by cluster (flagged clusters in warm
    colours, suspicious ones in amber, both drawn on top); right panel, when ``truth`` (n,)
    bool is given: coloured by ground truth.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: PLC0415
    from matplotlib.figure import Figure  # noqa: PLC0415

    panels = 2 if truth is not None else 1
    fig = Figure(figsize=(4.6 * panels, 3.6), dpi=dpi, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, panels, squeeze=False)[0]
    tags = _tags(cluster_poison)
    colours = _cluster_colours(tags)
    size = 9 if len(xy) < 500 else 5
    order = sorted(range(len(tags)), key=lambda c: tags[c] != "kept")
    for c in order:
        m = assignment == c
        axes[0].scatter(xy[m, 0], xy[m, 1], s=size, c=colours[c], alpha=0.7, linewidths=0,
                        label=f"cluster {c} ({tags[c]}, {int(m.sum())})",
                        zorder=2 if tags[c] == "kept" else 3)
    axes[0].set_title("by cluster", fontsize=10)
    if truth is not None:
        for name, m in (("clean", ~truth), ("poison", truth)):
            axes[1].scatter(xy[m, 0], xy[m, 1], s=size, c=TRUTH_COLOURS[name], alpha=0.7,
                            linewidths=0, label=f"{name} ({int(m.sum())})",
                            zorder=3 if name == "poison" else 2)
        axes[1].set_title("by ground truth", fontsize=10)
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_xlabel("largest \u2192 next cluster centre", fontsize=8)
        ax.set_ylabel("main remaining direction", fontsize=8)
        for spine in ax.spines.values():
            spine.set_color("#c9d1d9")
        ax.legend(fontsize=8, loc="best", frameon=True, framealpha=0.85, edgecolor="none",
                  markerscale=2.5)
    if title:
        fig.suptitle(title, fontsize=10)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def build_figures(result_clusters: list[ClassClusters], detection: DetectionResult,
                  data: Dataset, *, max_points: int = 2000, grid: int = 8,
                  seed: int = 0, progress: bool = False) -> list[ClassFigures]:
    """The figures of every clustered class.

    Parameters
    ----------
    result_clusters
        The per-class clusterings (``ScanResult.clusters``).
    detection
        The detection result (cluster verdicts and per-sample scores).
    data
        The scanned dataset (images for the sprites, ``is_poison`` for the second panel).
    max_points
        Most points per scatter (a seeded subsample).
    grid
        The sprites show up to ``grid * grid`` samples per cluster, highest score first.
    seed
        Seed of the projection and the subsample.
    progress
        Show a progress bar (one step per class).
    """
    reports = {c.label: c for c in detection.classes}
    tag = {"poison": "flagged", "suspicious": "suspicious"}
    verdicts = {c.label: [tag.get(cl.level, "kept") for cl in c.clusters]
                for c in detection.classes}
    figures = []
    for cc in tqdm(result_clusters, desc="report", unit="class", disable=not progress,
                   leave=False):
        k = len(cc.centers)
        poison = (verdicts.get(cc.label, []) + ["kept"] * k)[:k]
        pick = subsample(len(cc.indices), max_points, seed)
        xy = project_2d(cc.reduced, seed, axis=split_axis(cc.centers, cc.sizes))[pick]
        truth = data.is_poison[cc.indices[pick]] if data.is_poison is not None else None
        fig = ClassFigures(cc.label, scatter_png(xy, cc.assignment[pick], poison, truth=truth),
                           n_plotted=len(pick))
        if data.is_image:
            scores = detection.score[cc.indices]
            for c in range(k):
                members = np.flatnonzero(cc.assignment == c)
                if not len(members):
                    continue
                top = members[np.argsort(-scores[members], kind="stable")[:grid * grid]]
                mosaic = sprite(thumbnails(data.x[cc.indices[top]]), columns=grid)
                fig.sprites[c] = image_to_png(mosaic)
                fig.sprite_shapes[c] = (int(mosaic.shape[0]), int(mosaic.shape[1]))
                fig.sprite_indices[c] = cc.indices[top]
            if cc.label in reports:
                marked = detection.is_poison | detection.is_suspicious
                fig.differences = class_differences(reports[cc.label], cc.indices, cc.assignment,
                                                    marked, data, seed=seed)
        figures.append(fig)
    return figures


def save_figures(figures: list[ClassFigures], plots_dir: str | os.PathLike[str]) -> list[Path]:
    """Write every figure into ``plots_dir`` as PNG files (atomically); returns their paths.

    Plots an earlier scan into the same folder left (``class_*.png`` of classes, clusters or
    figures this scan does not have) are removed, so the folder shows this scan only; other files
    are left alone."""
    out = Path(plots_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for fig in figures:
        for name, png in fig.pngs().items():
            with atomic_path(out / name, suffix=".png") as tmp:
                tmp.write_bytes(png)
            written.append(out / name)
    for old in set(out.glob("class_*.png")) - set(written):
        if _PLOT_NAME.fullmatch(old.name):
            old.unlink()
    return written
