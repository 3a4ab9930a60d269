"""``report.html``: one self-contained page a person can act on.

The page opens with the scan's verdict (poisoned, suspicious, clean, or inconclusive when the
trained model was not fit to be judged, with why and what to do), how many samples are flagged,
which classes look poisoned or only suspicious and from which source class, and a line on the
model's training (held-out accuracy against chance, epochs, convergence). Then it has one
section per class (a scatter of its reduced activations, its clusters' sizes and analysis
figures against their thresholds with each judged cluster's level and, for a suspicious one,
why its evidence is weak, and thumbnails of each cluster's most suspicious samples), then the
evaluation against ground truth when known, and a repair section when the report has one.
Images are embedded as base64 PNG data URIs; there is no script and no external resource, so
the file works offline and can be mailed around.

Everything the page says comes from the report (``report.json``), so it can be rebuilt from it;
reports written before verdict levels (no ``summary.verdict``, ``training`` or cluster
``level``) render too, as poisoned or clean.

With many classes the images would make the page too big to open comfortably (about 0.4 MB
per class of colour thumbnails), so at most ``MAX_EMBEDDED_MB`` of them are embedded, those of
the poisoned classes first, then the suspicious ones; the figures of the remaining classes are
shown from the PNG files in ``plots/``, and the page says which.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._io import write_text
from ..data.dataset import Dataset
from ._style import CSS
from .plots import ClassFigures, build_figures, plot_names, save_figures
from .samples import image_sources, img_tag, not_embedded_note, samples_block
from .evidence import class_label, cluster_level, scan_verdict, training_text
from .tables import cluster_table, pct, table
from .text import texts_of

if TYPE_CHECKING:
    from ..pipeline import ScanResult

__all__ = ["MAX_EMBEDDED_MB", "add_repair_section", "render_html", "write_html_report"]

#: Most megabytes of images (as base64) that report.html embeds; see the module docstring.
MAX_EMBEDDED_MB = 20.0

_LEVEL_OF = {"poisoned": "poison", "suspicious": "suspicious"}


def _sources(cls: dict[str, Any], level: str = "poison") -> list[int]:
    """Suspected sources of the class's clusters of ``level``."""
    return [cl["suspected_source"] for cl in cls["clusters"]
            if cluster_level(cl) == level and cl.get("suspected_source") is not None]


def _n_at(cls: dict[str, Any], level: str = "poison") -> int:
    """Samples of the class in its clusters of ``level``."""
    return sum(cl["size"] for cl in cls["clusters"] if cluster_level(cl) == level)


def _training(report: dict[str, Any]) -> str:
    """A line on the model's fitness to be judged (held-out accuracy against chance, epochs,
    whether it converged), or nothing for an old report."""
    if "training" not in report:
        return ""
    training = report["training"]
    if not isinstance(training, dict):
        return ('<p class="training muted">The model was given, not trained by the scan: '
                "whether it is fit to be judged was not measured.</p>")
    text = training_text(training, detail=True)
    if text is None:
        preset = report.get("parameters", {}).get("preset")
        return (f'<p class="training muted">Training: {escape(_epochs_of(training))} on all the '
                "data, nothing held out"
                + (f" (preset {escape(str(preset))})" if preset else "")
                + ": whether the model is fit to be judged was not measured.</p>")
    held = training.get("heldout_size")
    state = "bad" if training.get("adequate") is False else "muted"
    return (f'<p class="training {state}">Training: {escape(text)}'
            + (f" ({held:,} samples held out)" if held else "") + ".</p>")


def _epochs_of(training: dict[str, Any]) -> str:
    run = training.get("epochs_run", training.get("epochs"))
    if not isinstance(run, (int, float)):
        return "its epochs"
    return f"{round(float(run), 2):g} epoch{'' if run == 1 else 's'}"


_SUSPICIOUS_NOTE = (
    "<p class=\"muted\">A suspicious cluster is one the analysis would call poison, on weak "
    "evidence: few votes for the suspected source, votes spread over several classes, a "
    "statistic close to the threshold, or a cluster holding a large share of its class (each "
    "class's table says which){inadequate}. It is not flagged: "
    "<a href=\"flagged.csv\">flagged.csv</a> lists its samples with the verdict "
    "<code>suspicious</code>, and <code>poisonscan repair</code> leaves them alone unless given "
    "<code>--include-suspicious</code>. Look at its thumbnails below before acting on it.</p>")


def _verdict(report: dict[str, Any]) -> str:
    s, n = report["summary"], report["input"]["n_samples"]
    classes = report["classes"]
    bad = [c for c in classes if c["verdict"] == "poisoned"]
    weak = [c for c in classes if c["verdict"] == "suspicious"]
    names = report["input"].get("class_names")
    state = scan_verdict(report)
    n_weak = s.get("n_suspicious", sum(_n_at(c, "suspicious") for c in weak))
    weak_text = (f" {len(weak)} more class{'es are' if len(weak) > 1 else ' is'} suspicious "
                 f"({n_weak:,} samples; weak evidence, not flagged)." if weak else "")
    body = ""
    if state == "inconclusive":
        head = "The trained model was not fit to be judged: nothing is flagged."
        reason = (s.get("verdict_reason") or (report.get("training") or {}).get("reason")
                  or "the model was not fit to be judged")
        body += (f'<p class="reason"><b>Why:</b> {escape(str(reason))}</p>'
                 "<p><b>What to do:</b> fix the training as said above and scan again. A model "
                 "that has not learned the classes misreads clean samples too, so its "
                 "misreadings are no evidence of poison: the classes below that look "
                 "suspicious on it are leads to look at, not findings to drop or relabel "
                 "samples on.</p>")
        if weak:
            body += (f"<p>On this model's evidence, {len(weak)} of {len(classes)} classes "
                     f"look suspicious ({n_weak:,} samples).</p>")
    elif state == "poisoned" or bad:
        head = (f"{s['n_flagged']:,} of {n:,} samples flagged ({pct(s['n_flagged'] / n)}); "
                f"{len(bad)} of {len(classes)} classes look poisoned." + weak_text)
    elif state == "suspicious" or weak:
        head = (f"Nothing flagged, but {len(weak)} of {len(classes)} classes show weak "
                f"evidence of poison ({n_weak:,} samples).")
    else:
        head = f"No class looks poisoned: 0 of {n:,} samples flagged."
        body = (f"<p>Every {'judged ' if s.get('too_small_classes') else ''}class split into "
                "clusters that the analysis judged legitimate.</p>")
    if bad or weak:
        rows = [[f'<a href="#class-{c["label"]}">'
                 f'class {escape(class_label(c["label"], names))}</a>',
                 escape(c["verdict"]), f"{_n_at(c, _LEVEL_OF[c['verdict']]):,}",
                 f"{c['n_samples']:,}",
                 escape(", ".join(class_label(k, names)
                                  for k in _sources(c, _LEVEL_OF[c["verdict"]]))) or "unknown"]
                for c in bad + weak]
        body += table(["class", "verdict", "samples", "of", "suspected source class"], rows,
                      ["flagged"] * len(bad) + ["suspicious"] * len(weak))
    if bad:
        body += ("<p>Every flagged sample is listed in <a href=\"flagged.csv\">flagged.csv</a> "
                 "with its score (higher: deeper inside the suspicious cluster). Review the "
                 "thumbnails below, drop or relabel the flagged samples, and retrain.</p>")
    if weak:
        body += _SUSPICIOUS_NOTE.format(
            inadequate=", or the model was not fit to be judged" if state == "inconclusive"
            else "")
    if bad or weak:
        body += ("<p class=\"muted\">A cluster is singled out when a model trained without it "
                 "reads it as another class. Poison does that, and so can a distinct clean group "
                 "(one object photographed many times, unusual lighting). Poison usually shows "
                 "many different objects sharing one added pattern; one object again and "
                 "again, or a cluster holding about half its class, points to a false alarm "
                 "(poisonscan's docs/verdicts.md).</p>")
    clean = [c["label"] for c in classes if c["verdict"] == "clean"]
    if (bad or weak) and clean:
        body += f"<p class=\"muted\">Clean classes: {escape(', '.join(map(str, clean)))}.</p>"
    small = s.get("too_small_classes", [])
    if small:
        body += (f"<p class=\"muted\">Not judged, fewer than {s['min_class_size']} samples "
                 f"each: class{'es' if len(small) > 1 else ''} "
                 f"{escape(', '.join(map(str, small)))}. They were trained on, but too few to "
                 "cluster.</p>")
    body += _training(report)
    model = report.get("model", {})
    if "test_accuracy" in model:
        extra = (f"; attack success rate {pct(model['attack_success_rate'])}"
                 if "attack_success_rate" in model else "")
        body += (f"<p class=\"muted\">Scanned model ({escape(str(model.get('arch', '')))}): "
                 f"clean test accuracy {pct(model['test_accuracy'])}{extra}.</p>")
    warn = {"poisoned": " \u26a0", "suspicious": " ?"}
    chips = "".join(f'<a class="chip {escape(c["verdict"])}" href="#class-{c["label"]}">class '
                    f'{c["label"]}{warn.get(c["verdict"], "")}</a>' for c in classes)
    return (f'<section id="verdict" class="{escape(state)}"><h2>Verdict: {escape(state)}</h2>'
            f'<p class="headline">{escape(head)}</p>{body}'
            f'<div class="chips">{chips}</div></section>')


def _truth_line(report: dict[str, Any], label: int) -> str:
    per = report.get("evaluation", {}).get("per_class", {}).get(str(label))
    if per is None:
        return ""
    n_poison = per["tp"] + per["fn"]
    return (f'<p class="note">Ground truth: {n_poison:,} poison samples in this class; '
            f"{per['tp']:,} flagged correctly, {per['fn']:,} missed, {per['fp']:,} clean samples "
            f"flagged (precision {per['precision']:.3f}, recall {per['recall']:.3f}).</p>")


def _class_section(cls: dict[str, Any], fig: ClassFigures | None, srcs: dict[str, str],
                   report: dict[str, Any], result: ScanResult, data: Dataset,
                   texts: Sequence[str] | None) -> str:
    label, verdict = cls["label"], cls["verdict"]
    names = report["input"].get("class_names")
    sizes = "/".join(f"{cl['size']:,}" for cl in cls["clusters"])
    badge = "not judged" if verdict == "too-small" else verdict
    if verdict in _LEVEL_OF:
        level = _LEVEL_OF[verdict]
        src = ", ".join(class_label(k, names) for k in _sources(cls, level))
        note = (f"{_n_at(cls, level):,} of {cls['n_samples']:,} "
                + ("flagged" if level == "poison" else "in a suspicious cluster, not flagged")
                + (f", suspected source class {src}" if src else ""))
    elif verdict == "too-small":
        note = (f"{cls['n_samples']:,} samples, fewer than the "
                f"{report['summary']['min_class_size']} needed to cluster and judge")
    else:
        note = f"{cls['n_samples']:,} samples, clusters {sizes}"
    truth = report.get("evaluation", {}).get("poison_per_cluster", {}).get(str(label))
    parts = ([cluster_table(cls, report["parameters"]["detector"]["analysis"], truth, names),
              _truth_line(report, label)] if cls["clusters"]
             else [f'<p class="note">{escape(note)}.</p>'])
    if fig is not None:
        alt = f"class {label}: reduced activations projected to 2-D"
        parts.insert(0, img_tag(srcs.get(plot_names(label), ""), alt, "scatter")
                     + f'<p class="note">The reduced activations of class {label}: across, '
                     "the direction from the largest cluster's centre to the next one's; up, "
                     f"the main remaining direction ({fig.n_plotted:,} of "
                     f"{cls['n_samples']:,} samples drawn).</p>")
    if cls["clusters"]:
        parts.append(samples_block(cls, fig, data, result, texts, srcs))
    return (f'<details id="class-{label}" class="cls {escape(verdict)}"'
            f'{" open" if verdict in _LEVEL_OF else ""}>'
            f'<summary><span class="badge {escape(verdict)}">{escape(badge)}</span>'
            f'Class {escape(class_label(label, names))} '
            f'<span class="summary-note">\u2014 {escape(note)}</span></summary>'
            f'<div class="cls-body">{"".join(parts)}</div></details>')


def _evaluation(report: dict[str, Any]) -> str:
    ev = report.get("evaluation")
    if ev is None:
        return ""
    header = ["", "precision", "recall", "F1", "FPR", "TP", "FP", "FN", "TN"]

    def row(name: str, m: dict[str, Any]) -> list[str]:
        return [name] + [f"{m[k]:.4f}" for k in ("precision", "recall", "f1", "fpr")] + \
            [f"{m[k]:,}" for k in ("tp", "fp", "fn", "tn")]

    rows = [row("<b>all classes</b>", ev["overall"])]
    rows += [row(f"class {escape(k)}", m) for k, m in ev["per_class"].items()]
    return ('<section id="evaluation"><h2>Against ground truth</h2>'
            '<p class="muted">The data carries <code>is_poison</code>, so the flags can be '
            "scored. Recall: share of the poison that was flagged; FPR: share of the clean "
            f"samples that was flagged.</p>{table(header, rows)}</section>")


def _fmt_value(key: str, value: Any) -> str:
    if isinstance(value, float) and 0.0 <= value <= 1.0 and any(
            w in key for w in ("accuracy", "rate", "success")):
        return pct(value)
    if isinstance(value, float):
        return f"{value:.4g}"
    return escape(str(value))


# inline: the repair section is also added to pages written before this rule existed
_WARNING_STYLE = "background: #fdecea; border-left: 4px solid #c0392b; padding: 6px 10px;"


def _repair(report: dict[str, Any]) -> str:
    rep = report.get("repair")
    if not isinstance(rep, dict):
        return ""
    before, after = rep.get("before"), rep.get("after")
    body = ""
    if rep.get("warning"):  # the repair disturbed the rest of the model: say so first
        body += (f'<p class="warning" style="{_WARNING_STYLE}"><b>Warning:</b> '
                 f'{escape(str(rep["warning"]))}</p>')
    if isinstance(before, dict) and isinstance(after, dict):
        keys = list(dict.fromkeys([*before, *after]))
        rows = [[escape(k.replace("_", " ")), _fmt_value(k, before.get(k, "\u2013")),
                 _fmt_value(k, after.get(k, "\u2013"))] for k in keys]
        body += table(["", "before repair", "after repair"], rows)
    rest = {k: v for k, v in rep.items()
            if k not in ("before", "after", "warning") and v is not None}
    if rest:
        body += '<dl class="kv">' + "".join(
            f"<dt>{escape(str(k))}</dt><dd>{_fmt_value(str(k), v)}</dd>"
            for k, v in rest.items()) + "</dl>"
    return f'<section id="repair"><h2>Repair</h2>{body}</section>'


def add_repair_section(path: str | os.PathLike[str], repair: dict[str, Any]) -> None:
    """Put a repair section into an existing ``report.html`` (replacing an older one).

    ``repair`` has ``before``/``after`` metric dicts and flat figures (see ``repair.json``).
    The file is rewritten atomically.
    """
    page = Path(path).read_text(encoding="utf-8")
    start = page.find('<section id="repair">')
    if start >= 0:
        page = page[:start] + page[page.index("</section>", start) + len("</section>"):]
    at = page.rfind("<footer>")
    if at < 0:
        raise ValueError(f"{path} is not a poisonscan report (no <footer>)")
    write_text(path, page[:at] + _repair({"repair": repair}) + page[at:])


def _footer(report: dict[str, Any]) -> str:
    def kv(d: dict[str, Any]) -> str:
        return '<dl class="kv">' + "".join(f"<dt>{escape(str(k))}</dt><dd>{escape(str(v))}</dd>"
                                           for k, v in d.items()) + "</dl>"

    params = dict(report.get("parameters", {}))
    timings = {k: f"{v:.1f} s" for k, v in report.get("timings_s", {}).items()}
    return ('<footer><details><summary>Parameters, timings and versions</summary>'
            f"<h3>Parameters</h3>{kv(params)}<h3>Timings</h3>{kv(timings)}"
            f"<h3>Versions</h3>{kv(report.get('versions', {}))}</details>"
            '<p>Files: <a href="report.json">report.json</a> \u00b7 '
            '<a href="flagged.csv">flagged.csv</a> \u00b7 plots in <code>plots/</code>.</p>'
            "</footer>")


def render_html(report: dict[str, Any], result: ScanResult, data: Dataset, *,
                texts: Sequence[str] | None = None,
                figures: Sequence[ClassFigures] | None = None,
                plots_href: str | None = None,
                max_embedded_mb: float | None = MAX_EMBEDDED_MB) -> str:
    """The page as a string.

    Parameters
    ----------
    report
        The scan report (:func:`poisonscan.report.build_report`); may carry a ``"repair"`` dict.
    result
        The :class:`~poisonscan.pipeline.ScanResult` (its ``clusters`` and ``detection``).
    data
        The scanned dataset.
    texts
        (N,) the samples as strings, for text datasets: each cluster then shows its distinctive
        words and sample sentences instead of thumbnails. Default: the dataset's own
        ``raw_text``, or its token ids decoded with its ``vocab``, when it has them.
    figures
        Pre-drawn figures (:func:`poisonscan.report.plots.build_figures`); none are drawn here.
    plots_href
        Where the figures were saved as PNG files, relative to the page (e.g. ``"plots"``):
        figures beyond ``max_embedded_mb`` are linked from there. None: they are left out.
    max_embedded_mb
        Most megabytes of images to embed in the page, poisoned classes first, then suspicious
        ones (None: all).
    """
    texts = texts if texts is not None else texts_of(data)
    if texts is not None and len(texts) != len(data.y):
        raise ValueError(f"texts has {len(texts)} entries; the data has {len(data.y)} samples")
    by_label = {f.label: f for f in figures or ()}
    srcs, not_embedded = image_sources(report, figures or (), plots_href, max_embedded_mb)
    inp = report["input"]
    meta = (f"{inp['source']} \u00b7 {inp['n_samples']:,} samples of shape "
            f"{tuple(inp['sample_shape'])} \u00b7 {inp['n_classes']} classes \u00b7 "
            f"created {report.get('created', '')}")
    det = report["parameters"]["detector"]
    method = (f"Activation Clustering: {det['reduce']} to {det['n_components']} dimensions, "
              f"k-means with k={det['n_clusters']}, analysis {det['analysis']}, "
              f"segmented by {det.get('segment_by', 'label')}.")
    classes = not_embedded_note(not_embedded, report, plots_href, max_embedded_mb) + "".join(
        _class_section(c, by_label.get(c["label"]), srcs.get(c["label"], {}), report, result,
                       data, texts) for c in report["classes"])
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>poisonscan report \u2014 {escape(str(inp['source']))}</title>"
            f"<style>{CSS}</style></head><body><main>"
            f"<h1>poisonscan report</h1><p class=\"meta\">{escape(meta)}<br>{escape(method)}</p>"
            f"{_verdict(report)}"
            f'<section id="classes"><h2>Classes</h2>{classes}</section>'
            f"{_evaluation(report)}{_repair(report)}{_footer(report)}</main></body></html>\n")


def write_html_report(path: str | os.PathLike[str], report: dict[str, Any], result: ScanResult,
                      data: Dataset, *, texts: Sequence[str] | None = None,
                      plots_dir: str | os.PathLike[str] | None = "plots",
                      max_points: int = 2000, seed: int = 0,
                      max_embedded_mb: float | None = MAX_EMBEDDED_MB,
                      progress: bool = False) -> Path:
    """Draw the figures and write ``report.html`` (and the PNGs) atomically.

    Parameters
    ----------
    path
        The HTML file to write.
    report, result, data, texts
        As for :func:`render_html`.
    plots_dir
        Folder for the figures as PNG files, relative to ``path``'s folder unless absolute;
        None writes no PNG files (then figures beyond ``max_embedded_mb`` are left out).
    max_points
        Most points per scatter (a seeded subsample).
    seed
        Seed of the projections and subsamples.
    max_embedded_mb
        As for :func:`render_html`.
    progress
        Show a progress bar while the figures are drawn.

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    path = Path(path)
    figures = (build_figures(result.clusters, result.detection, data, max_points=max_points,
                             seed=seed, progress=progress) if result.clusters else [])
    href = None
    if plots_dir is not None and figures:
        folder = path.parent / plots_dir
        save_figures(figures, folder)
        href = Path(os.path.relpath(folder, path.parent)).as_posix()
    write_text(path, render_html(report, result, data, texts=texts, figures=figures,
                                 plots_href=href, max_embedded_mb=max_embedded_mb))
    return path
