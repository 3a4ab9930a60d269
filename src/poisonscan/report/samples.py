"""The samples shown in each class section of report.html: image mosaics with the list of
samples they show, or a text cluster's distinctive terms and sentences."""

from __future__ import annotations

import base64
import math
from collections.abc import Sequence
from html import escape
from typing import TYPE_CHECKING, Any

import numpy as np

from ..data.dataset import Dataset
from .plots import ClassFigures, plot_names
from .evidence import VERDICT_ORDER, class_label, cluster_level
from .text import distinctive_terms, render_text_cluster

if TYPE_CHECKING:
    from ..pipeline import ScanResult

__all__ = ["data_uri", "image_sources", "img_tag", "not_embedded_note", "samples_block"]


def data_uri(png: bytes) -> str:
    """The PNG as a ``data:`` URI, to embed it in the page (which then needs no files)."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def img_tag(src: str, alt: str, css: str, width: int | None = None) -> str:
    """An ``<img>`` element showing ``src`` (a :func:`data_uri`, or a link to a PNG file);
    for an empty ``src`` (an image left out of the page), a note naming it instead."""
    if not src:
        return f'<p class="note">({escape(alt)}: not in this page.)</p>'
    size = f' width="{width}"' if width else ""
    return f'<img class="{css}" alt="{escape(alt)}"{size} src="{escape(src)}">'


def image_sources(report: dict[str, Any], figures: Sequence[ClassFigures],
                  plots_href: str | None, max_embedded_mb: float | None,
                  ) -> tuple[dict[int, dict[str, str]], list[int]]:
    """The ``src`` of every figure of the page, by class, then by file name (:func:`plot_names`).

    The poisoned classes come first, then the suspicious ones, then the clean ones (each in
    ``report["classes"]`` order). Each
    class's figures are embedded together while the embedded total (base64) stays within
    ``max_embedded_mb`` (None: no limit). From the first class that does not fit on, figures
    are linked as ``plots_href/NAME.png``, or left out (``""``) when ``plots_href`` is None.

    Returns
    -------
    srcs, not_embedded
        The sources; the sorted labels of the classes whose figures are not embedded.
    """
    by_label = {f.label: f for f in figures}
    order = sorted(report["classes"], key=lambda c: VERDICT_ORDER.get(c["verdict"], 2))
    budget = math.inf if max_embedded_mb is None else max_embedded_mb * 2**20
    used, full = 0, False
    srcs: dict[int, dict[str, str]] = {}
    not_embedded: list[int] = []
    for fig in (by_label[c["label"]] for c in order if c["label"] in by_label):
        pngs = fig.pngs()
        size = sum(4 * -(-len(png) // 3) for png in pngs.values())
        full = full or used + size > budget
        if not full:
            used += size
            srcs[fig.label] = {name: data_uri(png) for name, png in pngs.items()}
        else:
            not_embedded.append(fig.label)
            srcs[fig.label] = {name: "" if plots_href is None else f"{plots_href}/{name}"
                               for name in pngs}
    return srcs, sorted(not_embedded)


def not_embedded_note(labels: list[int], report: dict[str, Any], plots_href: str | None,
                      max_embedded_mb: float | None) -> str:
    """The page's note on the classes whose figures :func:`image_sources` did not embed."""
    if not labels:
        return ""
    names = report["input"].get("class_names")
    counts = {v: len({c["label"] for c in report["classes"] if c["verdict"] == v} & set(labels))
              for v in ("poisoned", "suspicious")}
    listed = ", ".join(class_label(k, names) for k in labels[:10])
    more = f" and {len(labels) - 10:,} more" if len(labels) > 10 else ""
    which = (" and ".join(f"{n:,} {v}" for v, n in counts.items() if n)
             if any(counts.values()) else "all clean")
    which = which if which == "all clean" else f"{which} among them"
    where = (f"they are shown from the PNG files in <code>{escape(plots_href)}/</code> (keep "
             "that folder next to this page)" if plots_href is not None
             else "they are left out (no plots folder was written)")
    return (f'<p class="note">To keep this page under {max_embedded_mb:g} MB, the figures of '
            f"{len(labels):,} classes ({which}) "
            f"are not embedded: {where}. Classes {escape(listed)}{more}.</p>")


def samples_block(cls: dict[str, Any], fig: ClassFigures | None, data: Dataset,
                  result: ScanResult, texts: Sequence[str] | None,
                  srcs: dict[str, str]) -> str:
    """The "Samples" part of a class section: a mosaic per cluster with the samples it shows
    (images), distinctive terms and top sentences (text), or a note (feature vectors); flagged
    clusters first, then suspicious ones.

    ``cls`` is the class's entry of ``report.json``; ``fig`` its figures; ``texts`` the raw
    sentences of the dataset (None for non-text data); ``srcs`` the ``src`` of each figure
    by file name (:func:`image_sources`).
    """
    text_html = _text_html(result, cls, texts)
    if text_html:
        return "<h3>Samples</h3>" + text_html
    if not data.is_image:
        return (f'<p class="note">The samples are feature vectors ({data.x.shape[1]} values '
                "each); there are no thumbnails to show.</p>")
    if fig is None or not fig.sprites:
        return ""
    levels = {cl["cluster"]: cluster_level(cl) for cl in cls["clusters"]}
    sizes = {cl["cluster"]: cl["size"] for cl in cls["clusters"]}
    figs = []
    for c in sorted(fig.sprites, key=lambda c: (_RANK.get(levels.get(c), 2), c)):
        _, w = fig.sprite_shapes.get(c, (0, 0))
        scale = max(1, min(3, 470 // max(w, 1)))  # whole pixels, two mosaics side by side
        tag = _tag(levels.get(c))
        alt = f"class {cls['label']} cluster {c}: samples"
        shown = fig.sprite_indices[c]
        src = srcs.get(plot_names(fig.label, c), "")
        figs.append(f"<figure>{img_tag(src, alt, 'sprite', w * scale or None)}"
                    f"<figcaption>cluster {c} \u00b7 {tag} \u00b7 {len(shown)} of "
                    f"{sizes.get(c, 0):,} shown, most suspicious first"
                    f"{_shown_list(shown, data)}</figcaption></figure>")
    diffs = "".join(_difference(fig.label, c, srcs) for c in sorted(fig.differences))
    return f'<h3>Samples</h3><div class="sprites">{"".join(figs)}</div>{diffs}'


_RANK = {"poison": 0, "suspicious": 1}  # flagged clusters first, then suspicious ones


def _tag(level: str | None) -> str:
    """How a cluster's mosaic or sentences are captioned: flagged, suspicious or kept."""
    if level == "poison":
        return '<b class="flag">flagged</b>'
    if level == "suspicious":
        return '<b class="warn">suspicious, not flagged</b>'
    return "kept"


def _difference(label: int, c: int, srcs: dict[str, str]) -> str:
    """A flagged cluster's mean image beside its suspected source's, with the caption that
    says how to read it."""
    alt = f"class {label} cluster {c}: mean image against its suspected source's"
    return (f'<figure class="diff">'
            f"{img_tag(srcs.get(plot_names(label, c, 'difference'), ''), alt, 'diff')}"
            f"<figcaption>Flagged cluster {c}: its mean image, the suspected source's, and "
            "where they differ. A trigger stamped on every poisoned sample shows as a small, "
            "sharp spot; clean samples of another kind differ over the whole object."
            "</figcaption></figure>")


def _shown_list(indices: np.ndarray, data: Dataset) -> str:
    """A folded list naming the samples of a mosaic, row by row (file names when known)."""
    if not len(indices):
        return ""
    names = data.files[indices] if data.files is not None else [None] * len(indices)
    items = "".join(f"<li>#{int(i)}{'' if f is None else ' ' + escape(str(f))}</li>"
                    for i, f in zip(indices, names))
    return (f"<details><summary>which samples (row by row)</summary>"
            f'<ol class="shown">{items}</ol></details>')


def _text_html(result: ScanResult, cls: dict[str, Any], texts: Sequence[str] | None,
               n_samples: int = 5) -> str:
    """Distinctive terms and top-scored sentences of each cluster of one class, flagged first,
    then suspicious."""
    if texts is None:
        return ""
    cc = next((c for c in result.clusters if c.label == cls["label"]), None)
    if cc is None:
        return ""
    arr = np.asarray(texts, dtype=object)
    scores = result.detection.score[cc.indices]
    members = [np.flatnonzero(cc.assignment == c) for c in range(len(cc.centers))]
    terms = distinctive_terms([arr[cc.indices[m]].tolist() for m in members])
    levels = {cl["cluster"]: cluster_level(cl) for cl in cls["clusters"]}
    parts = []
    for c in sorted(range(len(members)), key=lambda c: (_RANK.get(levels.get(c), 2), c)):
        m = members[c]
        top = m[np.argsort(-scores[m], kind="stable")[:n_samples]]
        tag = _tag(levels.get(c))
        parts.append(f"<h4>cluster {c} \u00b7 {tag} \u00b7 {len(m):,} texts</h4>"
                     + render_text_cluster(terms[c], arr[cc.indices[top]].tolist()))
    return "".join(parts)
