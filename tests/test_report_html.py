"""report.html: content, order, self-containment, escaping, hooks; the verdict box and the
cluster levels of graded, inconclusive, paper and old-style reports; and how Chromium renders
it."""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
import sys
from html import escape as html_escape
from html.parser import HTMLParser
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from conftest import make_blob_images

import poisonscan as ps
from poisonscan.attacks import pattern, poison_dataset
from poisonscan.report import render_html, write_scan
from poisonscan.report.tables import compare_text, votes_text
from poisonscan.report.plots import build_figures


@pytest.fixture(scope="module")
def scanned(tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    """A real (small, fast) scan of poisoned blob images, written with write_scan.

    Two epochs on all the data (nothing held out, so the model's fitness is not measured and
    the verdict is conclusive): graded verdicts with poisoned classes, in a few seconds. The
    inconclusive and suspicious pages are this report, edited (:func:`downgraded`)."""
    clean = make_blob_images(n_per_class=80)
    data = poison_dataset(clean, pattern, [(0, 1), (1, 2)], rate=0.2, seed=0)
    result = ps.scan(data, detector=ps.ActivationClustering(n_components=4, n_init=5),
                     train_config=ps.TrainConfig(epochs=2, holdout=0.0), progress=False)
    out = tmp_path_factory.mktemp("scan")
    report = write_scan(out, result, data, source="blobs <test & co>", parameters={})
    return SimpleNamespace(out=out, report=report, result=result, data=data,
                           html=(out / "report.html").read_text(encoding="utf-8"))


class _Outline(HTMLParser):
    """Collects ids in document order, <details> attributes, and every src/href."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: list[str] = []
        self.details: dict[str, dict[str, str | None]] = {}
        self.urls: list[str] = []
        self.tags: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self.tags.add(tag)
        if a.get("id"):
            self.ids.append(str(a["id"]))
        if tag == "details" and a.get("id"):
            self.details[str(a["id"])] = a
        self.urls += [str(a[k]) for k in ("src", "href") if a.get(k)]


def outline(html: str) -> _Outline:
    parser = _Outline()
    parser.feed(html)
    return parser


def test_report_sections_in_order(scanned: SimpleNamespace) -> None:
    o = outline(scanned.html)
    labels = [c["label"] for c in scanned.report["classes"]]
    class_ids = [f"class-{k}" for k in labels]
    assert [i for i in o.ids if i in {"verdict", "evaluation", *class_ids}] == \
        ["verdict", *class_ids, "evaluation"]
    assert "repair" not in o.ids
    n_flagged = scanned.report["summary"]["n_flagged"]
    assert f"{n_flagged:,} of {len(scanned.data.y):,} samples flagged" in scanned.html \
        or (n_flagged == 0 and "No class looks poisoned" in scanned.html)
    # with a poisoned class, the verdict says what a flag means and how false alarms look
    assert ("points to a false alarm" in scanned.html) == (n_flagged > 0)
    assert scanned.report["summary"]["verdict"] == "poisoned"
    assert "<h2>Verdict: poisoned</h2>" in scanned.html
    for c in scanned.report["classes"]:
        d = o.details[f"class-{c['label']}"]
        assert ("open" in d) == (c["verdict"] in ("poisoned", "suspicious"))
        assert c["verdict"] in str(d["class"])
        for cl in c["clusters"]:
            if cl["is_poison"] and cl["suspected_source"] is not None:
                assert f"flagged (source {cl['suspected_source']})" in scanned.html


def test_report_is_self_contained_and_escaped(scanned: SimpleNamespace) -> None:
    o = outline(scanned.html)
    assert not {"script", "link", "iframe"} & o.tags
    images = [u for u in o.urls if u.startswith("data:")]
    assert images and all(u.startswith("data:image/png;base64,") for u in images)
    assert not [u for u in o.urls if re.match(r"(https?:)?//", u)]
    assert "blobs &lt;test &amp; co&gt;" in scanned.html and "<test & co>" not in scanned.html
    n_classes = len(scanned.report["classes"])
    assert len(images) >= 2 * n_classes  # a scatter and >= 1 sprite per class
    plots = sorted(p.name for p in (scanned.out / "plots").iterdir())
    assert [f"class_{c['label']}_scatter.png" for c in scanned.report["classes"]] == \
        [p for p in plots if p.endswith("_scatter.png")]
    assert any(p.endswith("_sprite_c0.png") for p in plots)
    assert not [p for p in scanned.out.iterdir() if p.name.startswith(".")]  # no temp files


def test_sprites_name_the_samples_shown(scanned: SimpleNamespace) -> None:
    figs = build_figures(scanned.result.clusters, scanned.result.detection, scanned.data)
    shown = next(iter(figs[0].sprite_indices.values()))
    assert f"<li>#{shown[0]}</li><li>#{shown[1]}</li>" in scanned.html  # no files: indices
    files = np.array([f"cls <{y}>/img_{i}.png" for i, y in enumerate(scanned.data.y)])
    html = render_html(scanned.report, scanned.result, scanned.data.replace(files=files),
                       figures=figs)
    assert f"<li>#{shown[0]} cls &lt;{scanned.data.y[shown[0]]}&gt;/img_{shown[0]}.png</li>" \
        in html


def test_compare_text() -> None:
    assert compare_text("l/p", 0.0256, "<=", 1.0, True) == "l/p = 0.0256 \u2264 1"
    assert compare_text("l/p", None, "<=", 1.0, False) == "l/p = \u221e > 1"
    assert compare_text("l/p", 1.0004, "<=", 1.0, False) == "l/p = 1.0004 > 1"
    assert compare_text("silhouette", 0.05, ">=", 0.1, False) == "silhouette = 0.05 < 0.1"
    assert compare_text("silhouette", 0.4, ">=", 0.1, False) == \
        "silhouette = 0.4 \u2265 0.1, but the cluster is too large"


def test_votes_text() -> None:
    assert votes_text([{"label": 4, "count": 1280}, {"label": 0, "count": 2}]) == \
        "read as 4: 1,280, 0: 2"
    assert votes_text(None) == "" and votes_text([]) == ""
    assert votes_text([{"label": 1, "count": 3}], ["cat", "dog"]) == "read as 1 'dog': 3"


def test_class_names_label_sources_and_votes(scanned: SimpleNamespace) -> None:
    names = ["circle", "square & co", "triangle"]
    report = copy.deepcopy(scanned.report)
    report["input"]["class_names"] = names
    html = render_html(report, scanned.result, scanned.data.replace(class_names=np.array(names)))
    flagged = [(c, cl) for c in report["classes"] for cl in c["clusters"]
               if cl["is_poison"] and cl["suspected_source"] is not None]
    assert flagged  # the fixture's poison is found
    for c, cl in flagged:
        source = f"{cl['suspected_source']} {names[cl['suspected_source']]!r}"
        assert html_escape(f"flagged (source {source})") in html
        assert html_escape(votes_text(cl["votes"], names)) in html
        assert html_escape(f"class {c['label']} {names[c['label']]!r}") in html


def test_cluster_figures_against_thresholds(scanned: SimpleNamespace) -> None:
    for c in scanned.report["classes"]:
        for cl in c["clusters"]:
            if cl["rule"] is not None:
                text = compare_text("l/p", cl["statistic"], cl["rule"], cl["threshold"],
                                    cl["level"] in ("poison", "suspicious"))
                assert text.startswith("l/p = ") and html_escape(text) in scanned.html
                votes = votes_text(cl["votes"])
                assert sum(v["count"] for v in cl["votes"]) <= cl["size"]
                assert votes.startswith("read as ") and html_escape(votes) in scanned.html
    assert "largest cluster, presumed legitimate" in scanned.html
    assert "Ground truth:" in scanned.html and "Against ground truth" in scanned.html


def test_true_poison_of_each_cluster(scanned: SimpleNamespace) -> None:
    per_cluster = scanned.report["evaluation"]["poison_per_cluster"]
    det, truth = scanned.result.detection, scanned.data.is_poison
    for c in scanned.report["classes"]:
        counts = per_cluster[str(c["label"])]
        in_class = scanned.data.y == c["label"]
        assert counts == [int(np.sum(truth & in_class & (det.cluster == cl["cluster"])))
                          for cl in c["clusters"]]
        per = scanned.report["evaluation"]["per_class"][str(c["label"])]
        assert sum(counts) == per["tp"] + per["fn"]
    assert sum(map(sum, per_cluster.values())) == int(truth.sum()) > 0
    assert scanned.html.count("<th>poison (ground truth)</th>") == len(per_cluster)


def test_repair_section_and_no_ground_truth(scanned: SimpleNamespace) -> None:
    report = copy.deepcopy(scanned.report)
    report["repair"] = {"before": {"test_accuracy": 0.91, "attack_success_rate": 0.97},
                        "after": {"test_accuracy": 0.9, "attack_success_rate": 0.02},
                        "method": "retrain without flagged <samples>"}
    del report["evaluation"]
    html = render_html(report, scanned.result, scanned.data)
    ids = outline(html).ids
    assert ids[-1] == "repair" and "evaluation" not in ids
    assert "97.00%" in html and "2.00%" in html and "flagged &lt;samples&gt;" in html
    assert 'class="warning"' not in html
    report["repair"].update(warning="the repair disturbed <it>", scratch=None)
    html = render_html(report, scanned.result, scanned.data)
    assert '<b>Warning:</b> the repair disturbed &lt;it&gt;</p>' in html
    assert "<dt>scratch</dt>" not in html  # empty figures are left out


def test_feature_vectors_and_text_hook(scanned: SimpleNamespace) -> None:
    data, result = scanned.data, scanned.result
    flat = data.replace(x=data.x.reshape(len(data.x), -1), x_test=None, y_test=None,
                        x_test_poison=None, y_test_poison=None)
    figs = build_figures(result.clusters, result.detection, flat)
    html = render_html(scanned.report, result, flat, figures=figs)
    assert "feature vectors (144 values each)" in html and 'class="sprite"' not in html
    texts = np.where(data.is_poison, "great movie cf <tag> trigger", "a plain review of film")
    html = render_html(scanned.report, result, flat, texts=texts.tolist())
    assert 'class="term"' in html and "&lt;<mark>tag</mark>&gt;" in html and "<tag>" not in html
    with pytest.raises(ValueError, match="texts"):
        render_html(scanned.report, result, flat, texts=["too short"])


def test_to_frame(scanned: SimpleNamespace, monkeypatch: pytest.MonkeyPatch) -> None:
    pd = pytest.importorskip("pandas")
    det = scanned.result.detection
    frame = det.to_frame(scanned.data.y)
    assert isinstance(frame, pd.DataFrame)
    assert list(frame.columns) == ["index", "label", "is_poison", "score", "cluster",
                                   "suspected_source"]
    assert len(frame) == len(det.is_poison)
    assert frame.loc[frame.is_poison, "index"].tolist() == det.flagged_indices.tolist()
    np.testing.assert_array_equal(frame["score"].to_numpy(), det.score)
    assert "label" not in det.to_frame().columns
    with pytest.raises(ValueError):
        det.to_frame(scanned.data.y[:3])
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(ImportError, match="pip install pandas"):
        det.to_frame()


def downgraded(report: dict, verdict: str, reasons: list[str]) -> dict:
    """``report`` with every poison cluster only suspicious (for ``reasons``), and the scan's
    verdict ``verdict``: what an inconclusive scan, or one on weak evidence, writes."""
    report = copy.deepcopy(report)
    for c in report["classes"]:
        if c["verdict"] == "poisoned":
            c["verdict"] = "suspicious"
        for cl in c["clusters"]:
            if cl["level"] == "poison":
                cl.update(level="suspicious", is_poison=False, reasons=list(reasons))
    s = report["summary"]
    s.update(verdict=verdict, n_suspicious=s["n_flagged"], n_flagged=0,
             suspicious_classes=s["poisoned_classes"], poisoned_classes=[])
    report["suspicious_indices"], report["flagged_indices"] = report["flagged_indices"], []
    return report


_UNFIT = {"epochs": 2, "epochs_run": 2.0, "best_epoch": 2.0, "retrain_epochs": 2,
          "stopped": "epochs", "heldout_size": 28, "heldout_accuracy": 0.679,
          "chance_accuracy": 0.357, "heldout_loss": [1.0, 0.8], "check_epochs": [1.0, 2.0],
          "converged": False, "adequate": False,
          "reason": "the model had not converged; train longer <or raise --epochs>"}


def verdict_box(html: str) -> str:
    start = html.index('<section id="verdict"')
    return html[start:html.index("</section>", start)]


def test_inconclusive_verdict_box(scanned: SimpleNamespace) -> None:
    report = downgraded(scanned.report, "inconclusive", ["the model was not fit to be judged"])
    report["training"] = dict(_UNFIT)
    report["summary"]["verdict_reason"] = (_UNFIT["reason"] + ". No class is called poisoned "
                                           "on this model's evidence.")
    html = render_html(report, scanned.result, scanned.data)
    box = verdict_box(html)
    assert box.startswith('<section id="verdict" class="inconclusive"><h2>Verdict: '
                          "inconclusive</h2>")
    assert "The trained model was not fit to be judged: nothing is flagged." in box
    assert "train longer &lt;or raise --epochs&gt;" in box and "<or raise" not in html
    assert "What to do:" in box and "samples flagged" not in box
    assert ("Training: held-out accuracy 67.9% (chance 35.7%), 2 epochs (fixed), not converged, "
            "not fit to be judged (28 samples held out).") in box
    suspicious = report["summary"]["suspicious_classes"]
    assert suspicious
    o = outline(html)
    for k in suspicious:
        assert f'<a class="chip suspicious" href="#class-{k}">class {k} ?</a>' in box
        assert "open" in o.details[f"class-{k}"] and "suspicious" in str(o.details[f"class-{k}"])
    assert '<span class="badge suspicious">suspicious</span>' in html
    assert "<li>the model was not fit to be judged</li>" in html
    assert 'class="flagged"' not in html  # nothing flagged: no red rows


def test_suspicious_verdict_box_and_cluster_levels(scanned: SimpleNamespace) -> None:
    weak = ["only 3 votes for the suspected source (fewer than 10)",
            "the cluster holds 48% of its class (over 40%) <sic>"]
    report = downgraded(scanned.report, "suspicious", weak)
    report["training"] = {**_UNFIT, "epochs": "auto", "epochs_run": 12.0, "best_epoch": 9.0,
                          "stopped": "criterion", "heldout_accuracy": 0.963,
                          "chance_accuracy": 0.1, "converged": True, "adequate": True,
                          "reason": None}
    figs = build_figures(scanned.result.clusters, scanned.result.detection, scanned.data)
    html = render_html(report, scanned.result, scanned.data, figures=figs)
    box = verdict_box(html)
    n_classes, weak_classes = len(report["classes"]), report["summary"]["suspicious_classes"]
    assert box.startswith('<section id="verdict" class="suspicious"><h2>Verdict: '
                          "suspicious</h2>")
    assert (f"Nothing flagged, but {len(weak_classes)} of {n_classes} classes show weak "
            f"evidence of poison ({report['summary']['n_suspicious']:,} samples).") in box
    assert "--include-suspicious" in box and "What to do" not in box
    assert ("Training: held-out accuracy 96.3% (chance 10.0%), epoch 9 of 12 (stopped on the "
            "held-out loss), converged, fit to be judged (28 samples held out).") in box
    assert box.count('<tr class="suspicious">') == len(weak_classes)
    # the cluster table: each judged cluster's level, and why a suspicious one is only that
    reasons = ('<ul class="why"><li>only 3 votes for the suspected source (fewer than 10)</li>'
               "<li>the cluster holds 48% of its class (over 40%) &lt;sic&gt;</li></ul>")
    assert html.count(reasons) == len(weak_classes)
    for c in report["classes"]:
        for cl in c["clusters"]:
            if cl["level"] == "suspicious":
                assert (f'<b class="warn">suspicious</b> \u00b7 not flagged (source '
                        f'{cl["suspected_source"]}){reasons}') in html
    assert "legitimate \u00b7 kept" in html
    assert html.count("<th>level</th>") == sum(bool(c["clusters"]) for c in report["classes"])
    assert "Level: poison when the evidence is strong on every count" in html
    assert 'class="warn">suspicious, not flagged</b>' in html  # the mosaics' captions


def test_poison_clusters_show_their_level(scanned: SimpleNamespace) -> None:
    poison = [(c, cl) for c in scanned.report["classes"] for cl in c["clusters"]
              if cl["level"] == "poison"]
    assert poison
    for _, cl in poison:
        assert (f'<b class="flag">poison</b> \u00b7 <b>flagged (source '
                f'{cl["suspected_source"]})</b>') in scanned.html
    assert "Level: poison when" not in scanned.html  # explained only beside suspicious ones
    assert "Training:" in verdict_box(scanned.html)  # nothing held out: said so
    assert "nothing held out: whether the model is fit to be judged was not measured" in \
        scanned.html


def test_paper_preset_and_given_model(scanned: SimpleNamespace) -> None:
    report = copy.deepcopy(scanned.report)
    report["parameters"]["preset"] = "paper"
    html = render_html(report, scanned.result, scanned.data)
    assert ("Training: 2 epochs on all the data, nothing held out (preset paper): whether the "
            "model is fit to be judged was not measured.") in html
    report["training"] = None
    html = render_html(report, scanned.result, scanned.data)
    assert "The model was given, not trained by the scan" in verdict_box(html)


def test_old_style_report_without_the_new_keys_renders(scanned: SimpleNamespace) -> None:
    """A report written before verdict levels (no summary.verdict, training, level, reasons,
    suspicious_*) still renders, with levels read from is_poison."""
    from poisonscan.report import format_summary
    report = copy.deepcopy(scanned.report)
    for key in ("verdict", "verdict_reason", "n_suspicious", "suspicious_classes"):
        del report["summary"][key]
    for key in ("suspicious_indices", "training"):
        del report[key]
    for c in report["classes"]:
        for cl in c["clusters"]:
            del cl["level"], cl["reasons"]
    html = render_html(report, scanned.result, scanned.data)
    assert verdict_box(html).startswith('<section id="verdict" class="poisoned">')
    assert "Training:" not in html and "chip suspicious" not in html
    assert "weak evidence" not in html
    assert html.count('<b class="flag">poison</b>') == sum(
        cl["is_poison"] for c in report["classes"] for cl in c["clusters"])
    assert "legitimate \u00b7 kept" in html
    text = format_summary(report)
    assert text.splitlines()[0].startswith("verdict: poisoned (class")
    clean = copy.deepcopy(report)
    for c in clean["classes"]:
        c["verdict"] = "clean"
        for cl in c["clusters"]:
            cl["is_poison"] = False
    clean["summary"].update(n_flagged=0, poisoned_classes=[])
    html = render_html(clean, scanned.result, scanned.data)
    assert verdict_box(html).startswith('<section id="verdict" class="clean"><h2>Verdict: clean')
    assert "No class looks poisoned: 0 of" in html
    assert format_summary(clean).splitlines()[0] == "verdict: clean"


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        if shutil.which(name):
            return shutil.which(name)
    return None


def chromium(args: list[str], profile: Path) -> subprocess.CompletedProcess[str]:
    exe = find_chromium()
    if exe is None:
        pytest.skip("chromium not found (CI installs it: apt-get install chromium)")
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--disable-quic", f"--user-data-dir={profile}"]
    return subprocess.run([exe, *flags, *args], capture_output=True, text=True, timeout=120,
                          check=False)


def test_chromium_renders_the_report(scanned: SimpleNamespace, tmp_path: Path) -> None:
    from matplotlib.image import imread

    url = (scanned.out / "report.html").resolve().as_uri()
    shot = tmp_path / "shot.png"
    run = chromium([f"--screenshot={shot}", "--window-size=1200,2000", url], tmp_path / "p1")
    assert run.returncode == 0 and shot.is_file(), run.stderr[-2000:]
    pixels = imread(shot)[..., :3]
    assert pixels.shape[:2] == (2000, 1200)
    grey = pixels.mean(axis=2)
    assert grey.std() > 0.05  # not a blank page
    assert (grey < 0.9).mean() > 0.02  # text and figures drawn
    poisoned = scanned.report["summary"]["poisoned_classes"]
    red = (pixels[..., 0] > 0.6) & (pixels[..., 1] < 0.35) & (pixels[..., 2] < 0.35)
    if poisoned:
        assert red.sum() > 500  # the verdict's red headline, badges and flagged rows

    dom = chromium(["--dump-dom", url], tmp_path / "p2")
    assert dom.returncode == 0, dom.stderr[-2000:]
    o = outline(dom.stdout)
    assert "verdict" in o.ids
    assert {f"class-{c['label']}" for c in scanned.report["classes"]} <= set(o.details)
    assert "samples flagged" in dom.stdout or "No class looks poisoned" in dom.stdout


def test_images_beyond_the_budget_are_linked_poisoned_classes_first(
        scanned: SimpleNamespace) -> None:
    figs = build_figures(scanned.result.clusters, scanned.result.detection, scanned.data)
    sizes = {f.label: sum(4 * -(-len(p) // 3) for p in f.pngs().values()) for f in figs}
    poisoned = [c["label"] for c in scanned.report["classes"] if c["verdict"] == "poisoned"]
    clean = [c["label"] for c in scanned.report["classes"] if c["verdict"] == "clean"]
    assert poisoned and clean
    # room for the poisoned classes and nothing more: every clean class is linked
    budget = (sum(sizes[k] for k in poisoned) + 1) / 2**20
    html = render_html(scanned.report, scanned.result, scanned.data, figures=figs,
                       plots_href="plots", max_embedded_mb=budget)
    urls = outline(html).urls
    linked = sorted({int(m) for u in urls for m in re.findall(r"^plots/class_(\d+)_", u)})
    assert linked == sorted(clean)
    assert sum(u.startswith("data:") for u in urls) == sum(len(f.pngs()) for f in figs
                                                           if f.label in poisoned)
    assert any(f.differences for f in figs if f.label in poisoned)  # embedded with them
    assert f"the figures of {len(clean):,} classes (all clean) are not embedded" in html
    assert all((scanned.out / u).is_file() for u in urls if u.startswith("plots/"))
    # no plots folder: the images beyond the budget are left out, and the page says so
    html = render_html(scanned.report, scanned.result, scanned.data, figures=figs,
                       max_embedded_mb=0)
    assert "data:" not in html and 'src="plots/' not in html
    assert "left out (no plots folder was written)" in html
    # no limit: everything embedded, no note
    html = render_html(scanned.report, scanned.result, scanned.data, figures=figs,
                       max_embedded_mb=None)
    assert "To keep this page" not in html and 'src="plots/' not in html


def test_figure_budget_takes_suspicious_classes_after_poisoned_ones(
        scanned: SimpleNamespace) -> None:
    figs = build_figures(scanned.result.clusters, scanned.result.detection, scanned.data)
    sizes = {f.label: sum(4 * -(-len(p) // 3) for p in f.pngs().values()) for f in figs}
    report = copy.deepcopy(scanned.report)
    classes = report["classes"]
    poisoned = [c["label"] for c in classes if c["verdict"] == "poisoned"]
    assert len(poisoned) >= 2 or len(classes) >= 3
    # the last class becomes suspicious, the first poisoned; room for those two only
    first, last = classes[0], classes[-1]
    for c in classes:
        c["verdict"] = "clean"
    first["verdict"], last["verdict"] = "poisoned", "suspicious"
    budget = (sizes[first["label"]] + sizes[last["label"]] + 1) / 2**20
    html = render_html(report, scanned.result, scanned.data, figures=figs,
                       plots_href="plots", max_embedded_mb=budget)
    linked = sorted({int(m) for u in outline(html).urls
                     for m in re.findall(r"^plots/class_(\d+)_", u)})
    assert linked == [c["label"] for c in classes[1:-1]]
    html = render_html(report, scanned.result, scanned.data, figures=figs,
                       plots_href="plots", max_embedded_mb=sizes[first["label"]] / 2**20)
    assert "1 suspicious among them" in html


def test_docs_output_names_every_report_field(scanned: SimpleNamespace) -> None:
    """docs/output.md documents report.json: every key a real report has is named there."""
    from conftest import REPO
    doc = (REPO / "docs" / "output.md").read_text(encoding="utf-8")

    def keys(node: object) -> set[str]:
        if isinstance(node, list):
            return set().union(*(keys(v) for v in node)) if node else set()
        if not isinstance(node, dict):
            return set()
        out = set()
        for k, v in node.items():
            out.add(k)
            # keyed by class label, or the options of ActivationClustering / TrainConfig
            if k not in ("per_class", "poison_per_cluster", "detector", "train"):
                out |= keys(v)
        return out

    found = keys(json.loads((scanned.out / "report.json").read_text(encoding="utf-8")))
    assert {"evaluation", "votes", "poison_per_cluster", "sha256"} <= found
    missing = sorted(k for k in found if f"`{k}`" not in doc)
    assert not missing, f"docs/output.md does not mention {missing}"
    header = (scanned.out / "flagged.csv").read_text(encoding="utf-8").splitlines()[0]
    assert all(f"`{column}`" in doc for column in header.split(","))
