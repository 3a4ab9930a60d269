"""The samples shown in each class section of report.html: image mosaics with the list of
samples they show, or a text cluster's distinctive terms and sentences."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from html import escape
from typing import TYPE_CHECKING, Any

import numpy as np

from ..data.dataset import Dataset
from .plots import ClassFigures
from .text import distinctive_terms, render_text_cluster

if TYPE_CHECKING:
    from ..pipeline import ScanResult

__all__ = ["img_tag", "samples_block"]


def img_tag(png: bytes, alt: str, css: str, width: int | None = None) -> str:
    """An ``<img>`` element with the PNG embedded as a data URI (the page needs no files)."""
    size = f' width="{width}"' if width else ""
    data = base64.b64encode(png).decode("ascii")
    return f'<img class="{css}" alt="{escape(alt)}"{size} src="data:image/png;base64,{data}">'


def samples_block(cls: dict[str, Any], fig: ClassFigures | None, data: Dataset,
                  result: ScanResult, texts: Sequence[str] | None) -> str:
    """The "Samples" part of a class section: a mosaic per cluster with the samples it shows
    (images), distinctive terms and top sentences (text), or a note (feature vectors).

    ``cls`` is the class's entry of ``report.json``; ``fig`` its figures; ``texts`` the raw
    sentences of the dataset (None for non-text data).
    """
    text_html = _text_html(result, cls, texts)
    if text_html:
        return "<h3>Samples</h3>" + text_html
    if not data.is_image:
        return (f'<p class="note">The samples are feature vectors ({data.x.shape[1]} values '
                "each); there are no thumbnails to show.</p>")
    if fig is None or not fig.sprites:
        return ""
    poison = {cl["cluster"]: cl["is_poison"] for cl in cls["clusters"]}
    sizes = {cl["cluster"]: cl["size"] for cl in cls["clusters"]}
    figs = []
    for c in sorted(fig.sprites, key=lambda c: (not poison.get(c, False), c)):
        _, w = fig.sprite_shapes.get(c, (0, 0))
        scale = max(1, min(3, 470 // max(w, 1)))  # whole pixels, two mosaics side by side
        tag = '<b class="flag">flagged</b>' if poison.get(c) else "kept"
        alt = f"class {cls['label']} cluster {c}: samples"
        shown = fig.sprite_indices[c]
        figs.append(f"<figure>{img_tag(fig.sprites[c], alt, 'sprite', w * scale or None)}"
                    f"<figcaption>cluster {c} \u00b7 {tag} \u00b7 {len(shown)} of "
                    f"{sizes.get(c, 0):,} shown, most suspicious first"
                    f"{_shown_list(shown, data)}</figcaption></figure>")
    return f'<h3>Samples</h3><div class="sprites">{"".join(figs)}</div>'


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
    """Distinctive terms and top-scored sentences of each cluster of one class, flagged first."""
    if texts is None:
        return ""
    cc = next((c for c in result.clusters if c.label == cls["label"]), None)
    if cc is None:
        return ""
    arr = np.asarray(texts, dtype=object)
    scores = result.detection.score[cc.indices]
    members = [np.flatnonzero(cc.assignment == c) for c in range(len(cc.centers))]
    terms = distinctive_terms([arr[cc.indices[m]].tolist() for m in members])
    poison = {cl["cluster"]: cl["is_poison"] for cl in cls["clusters"]}
    parts = []
    for c in sorted(range(len(members)), key=lambda c: (not poison.get(c, False), c)):
        m = members[c]
        top = m[np.argsort(-scores[m], kind="stable")[:n_samples]]
        tag = '<b class="flag">flagged</b>' if poison.get(c) else "kept"
        parts.append(f"<h4>cluster {c} \u00b7 {tag} \u00b7 {len(m):,} texts</h4>"
                     + render_text_cluster(terms[c], arr[cc.indices[top]].tolist()))
    return "".join(parts)
