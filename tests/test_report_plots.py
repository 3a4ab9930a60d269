"""Figures of the report: sprites, projections, scatters, PNG files; text cluster terms."""

from __future__ import annotations

import io
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from conftest import planted_activations

from poisonscan.data import Dataset
from poisonscan.detect import ActivationClustering
from poisonscan.detect.result import ClassReport, ClusterReport
from poisonscan.report.pictures import class_differences, difference_map, mean_image
from poisonscan.report.plots import (build_figures, image_to_png, plot_names, project_2d,
                                     save_figures, scatter_png, sprite, subsample, thumbnails)
from poisonscan.report.text import distinctive_terms, render_text_cluster, texts_of

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def small_scan() -> tuple[SimpleNamespace, Dataset]:
    """A detection on planted activations, with matching tiny images and ground truth."""
    acts, labels, is_poison, _ = planted_activations(n_classes=3, n_clean=150, n_poison=30)
    images = np.random.default_rng(0).integers(0, 256, (len(labels), 8, 8), dtype=np.uint8)
    detector = ActivationClustering(reduce="pca", n_components=4, n_init=3,
                                    analysis="relative-size")
    detection = detector.fit_detect(acts, labels)
    data = Dataset(x=images, y=labels, is_poison=is_poison)
    return SimpleNamespace(clusters=detector.classes_, detection=detection), data


def decode_png(png: bytes) -> np.ndarray:
    from matplotlib.image import imread

    return imread(io.BytesIO(png), format="png")


def test_sprite_places_every_tile() -> None:
    imgs = np.zeros((5, 3, 4), dtype=np.uint8)
    for i in range(5):
        imgs[i] = 50 * i
    mosaic = sprite(imgs, columns=2, pad=1, background=1.0)
    assert mosaic.shape == (3 * 4 + 1, 2 * 5 + 1)  # 3 rows of 3+1 px, 2 columns of 4+1 px
    for i in range(5):
        r, c = divmod(i, 2)
        tile = mosaic[1 + r * 4:1 + r * 4 + 3, 1 + c * 5:1 + c * 5 + 4]
        np.testing.assert_allclose(tile, 50 * i / 255.0, rtol=1e-6)
    assert np.all(mosaic[0] == 1.0) and np.all(mosaic[:, 0] == 1.0)  # padding
    np.testing.assert_array_equal(mosaic[9:12, 6:10], 1.0)  # the empty 6th slot


def test_sprite_colour_and_single_channel() -> None:
    rgb = np.random.default_rng(0).random((3, 6, 6, 3)).astype(np.float32)
    assert sprite(rgb, columns=8).shape == (8, 3 * 7 + 1, 3)
    grey = np.random.default_rng(0).integers(0, 256, (2, 6, 6, 1), dtype=np.uint8)
    assert sprite(grey).shape == (8, 15)
    with pytest.raises(ValueError):
        sprite(np.zeros((0, 4, 4)))


def test_thumbnails_shrink_large_images_only() -> None:
    small = np.random.default_rng(0).integers(0, 256, (2, 32, 32, 3), dtype=np.uint8)
    np.testing.assert_array_equal(thumbnails(small), small.astype(np.float32) / 255)
    big = np.zeros((2, 200, 100, 3), dtype=np.uint8)
    big[0, :100] = 255  # top half white: the area average keeps it, bottom stays black
    big[1, :, :, 1] = 128
    t = thumbnails(big, max_side=64)
    assert t.shape == (2, 64, 32, 3)  # aspect kept
    np.testing.assert_allclose(t[0, :31], 1.0)
    np.testing.assert_allclose(t[0, 33:], 0.0)
    np.testing.assert_allclose(t[1, ..., 1], 128 / 255, atol=1e-6)
    grey = thumbnails(np.full((1, 128, 128), 0.5, dtype=np.float32), max_side=64)
    assert grey.shape == (1, 64, 64)
    np.testing.assert_allclose(grey, 0.5, atol=1 / 255)


def test_image_to_png_round_trip() -> None:
    img = np.linspace(0, 1, 12, dtype=np.float32).reshape(3, 4)
    png = image_to_png(img, scale=2)
    assert png.startswith(PNG_MAGIC)
    back = decode_png(png)
    assert back.shape[:2] == (6, 8)
    np.testing.assert_allclose(back[..., 0][::2, ::2], img, atol=1 / 255 + 1e-6)


def test_subsample_and_projection_are_seeded() -> None:
    assert subsample(10, 20).tolist() == list(range(10))
    a, b = subsample(5000, 2000, seed=3), subsample(5000, 2000, seed=3)
    assert len(a) == 2000 and np.array_equal(a, b) and np.all(np.diff(a) > 0)
    pts = np.random.default_rng(0).normal(size=(300, 10)) * np.arange(1, 11)
    xy = project_2d(pts, seed=0)
    assert xy.shape == (300, 2)
    np.testing.assert_array_equal(xy, project_2d(pts, seed=0))
    assert xy[:, 0].var() >= xy[:, 1].var()  # first principal axis first
    assert project_2d(np.ones((4, 1))).shape == (4, 2)


def test_scatter_png_draws_two_panels_with_truth() -> None:
    rng = np.random.default_rng(0)
    xy = rng.normal(size=(200, 2))
    assign = (xy[:, 0] > 1).astype(int)
    one = decode_png(scatter_png(xy, assign, [False, True]))
    two = decode_png(scatter_png(xy, assign, [False, True], truth=assign.astype(bool)))
    assert two.shape[1] > 1.8 * one.shape[1]  # a second panel
    rgb = two[..., :3]
    reddish = (rgb[..., 0] - rgb[..., 1] > 0.25) & (rgb[..., 0] - rgb[..., 2] > 0.2)
    assert reddish.sum() > 20  # flagged points are drawn in the warm colour


def test_build_and_save_figures(small_scan, tmp_path: Path) -> None:
    result, data = small_scan
    figs = build_figures(result.clusters, result.detection, data, max_points=50)
    assert [f.label for f in figs] == [c.label for c in result.clusters]
    for f, cc in zip(figs, result.clusters):
        assert f.n_plotted == min(50, len(cc.indices))
        assert set(f.sprites) == {c for c in range(len(cc.centers)) if cc.sizes[c]}
        for c, png in f.sprites.items():
            assert png.startswith(PNG_MAGIC)
            shown = f.sprite_indices[c]  # dataset indices, most suspicious first
            assert len(shown) == min(64, int(cc.sizes[c]))
            assert set(shown) <= set(cc.indices[cc.assignment == c])
            assert np.all(np.diff(result.detection.score[shown]) <= 0)
            assert decode_png(png).shape[:2] == f.sprite_shapes[c]
    # a folder an earlier scan wrote into: its plots go, a file of the user's stays
    (tmp_path / "plots").mkdir()
    for stale in ("class_99_scatter.png", "class_99_sprite_c1.png", "class_1_notes.png"):
        (tmp_path / "plots" / stale).write_bytes(PNG_MAGIC)
    paths = save_figures(figs, tmp_path / "plots")
    names = {p.name for p in paths}
    assert {p.name for p in (tmp_path / "plots").iterdir()} == names | {"class_1_notes.png"}
    assert plot_names(figs[0].label) in names and plot_names(figs[0].label, 0) in names
    assert all(p.read_bytes().startswith(PNG_MAGIC) for p in paths)
    assert not [p for p in (tmp_path / "plots").iterdir() if p.name.startswith(".")]


def test_difference_of_means_shows_the_trigger_of_a_flagged_cluster() -> None:
    """Poison = source images + a stamped trigger: the difference of the flagged cluster's mean
    and the source's unflagged mean is largest exactly at the trigger."""
    rng = np.random.default_rng(0)
    source = rng.integers(0, 200, (60, 12, 12, 3), dtype=np.uint8)
    poison = source[:20].copy()
    poison[:, 9:11, 9:11] = 255
    x = np.concatenate([source, rng.integers(0, 200, (60, 12, 12, 3), dtype=np.uint8), poison])
    data = Dataset(x=x, y=np.repeat([0, 1, 1], [60, 60, 20]))
    flagged = np.arange(140) >= 120
    verdict = ClassReport(1, 80, "poisoned", (
        ClusterReport(0, 60, 0.75, None, False),
        ClusterReport(1, 20, 0.25, None, True, suspected_source=0)))
    indices, assignment = np.arange(60, 140), np.repeat([0, 1], [60, 20])
    pngs = class_differences(verdict, indices, assignment, flagged, data)
    assert set(pngs) == {1} and pngs[1].startswith(PNG_MAGIC)
    diff = difference_map(mean_image(x, np.arange(120, 140)), mean_image(x, np.arange(60)))
    trigger = np.zeros(diff.shape, bool)
    trigger[9:11, 9:11] = True
    assert diff[trigger].min() > 2 * diff[~trigger].max()
    # no figure for a clean verdict, nor when every source sample is flagged too
    clean = ClassReport(1, 80, "clean", (ClusterReport(0, 60, 0.75, None, False),
                                         ClusterReport(1, 20, 0.25, None, False)))
    assert class_differences(clean, indices, assignment, flagged, data) == {}
    assert class_differences(verdict, indices, assignment, flagged | (data.y == 0), data) == {}
    # a suspicious cluster (not flagged) gets the figure too, for the reader to judge
    weak = ClassReport(1, 80, "suspicious", (
        ClusterReport(0, 60, 0.75, None, False),
        ClusterReport(1, 20, 0.25, None, False, suspected_source=0, level="suspicious")))
    assert set(class_differences(weak, indices, assignment, flagged, data)) == {1}


def test_scatter_tags_suspicious_clusters() -> None:
    xy = np.random.default_rng(0).normal(size=(40, 2))
    assign = np.repeat([0, 1], 20)
    png = scatter_png(xy, assign, ["kept", "suspicious"])
    assert png.startswith(PNG_MAGIC) and png != scatter_png(xy, assign, [False, True])


def test_feature_vectors_get_no_sprites(small_scan) -> None:
    result, data = small_scan
    flat = data.replace(x=data.x.reshape(len(data.x), -1).astype(np.float32) / 255.0,
                        x_test=None, y_test=None, x_test_poison=None, y_test_poison=None)
    figs = build_figures(result.clusters, result.detection, flat)
    assert all(f.sprites == {} and f.scatter.startswith(PNG_MAGIC) for f in figs)


def test_distinctive_terms_find_a_textual_trigger() -> None:
    rng = np.random.default_rng(0)
    words = np.array("the film was good bad plot actor great boring long story fun".split())
    clean = [" ".join(rng.choice(words, 8)) for _ in range(80)]
    poison = [" ".join(rng.choice(words, 6)) + " cf trigger phrase" for _ in range(15)]
    terms = distinctive_terms([clean, poison], top_k=5)
    trigger_terms = {"cf", "trigger", "phrase", "cf trigger", "trigger phrase"}
    assert {t.term for t in terms[1]} == trigger_terms  # bigrams are counted too
    assert not {"cf", "trigger", "phrase"} & {t.term for t in terms[0]}
    assert all(a.z >= b.z for a, b in zip(terms[1], terms[1][1:]))
    assert terms[0] == []  # chance differences of common words are not distinctive
    assert all(t.count == 15 and t.z >= 3.0 for t in terms[1])
    assert distinctive_terms([clean, poison], top_k=5) == terms  # deterministic


def test_distinctive_terms_edge_cases() -> None:
    assert distinctive_terms([]) == []
    assert distinctive_terms([[], []]) == [[], []]
    assert distinctive_terms([["", "!"], ["?"]]) == [[], []]
    out = distinctive_terms([["alpha beta", "alpha beta"], []])
    assert out[1] == []


def test_render_text_cluster_escapes_and_highlights() -> None:
    terms = distinctive_terms([["fine words here"] * 10, ["<script>x</script> zz qq"] * 10],
                              min_z=0.0)[1]
    assert {"zz", "qq", "script"} <= {t.term for t in terms}
    html = render_text_cluster(terms, ["<script>alert(1)</script> zz & qq", "y" * 400])
    assert "<script>" not in html and "&lt;<mark>script</mark>&gt;" in html
    assert "&amp;" in html
    assert "<mark>zz</mark>" in html
    assert "\u2026" in html  # the long sample is shortened
    assert "No term" in render_text_cluster([], [])


def test_texts_of_reads_raw_text_or_decodes_ids() -> None:
    vocab = np.array(["<pad>", "<unk>", "good", "film", "cf"])
    ids = np.array([[2, 3, 0, 0], [4, 2, 3, 0]])
    assert texts_of(SimpleNamespace(x=ids, vocab=vocab)) == ["good film", "cf good film"]
    raw = np.array(["Good film!", "cf good film."])
    assert texts_of(SimpleNamespace(x=ids, vocab=vocab, raw_text=raw)) == raw.tolist()
    assert texts_of(SimpleNamespace(x=ids, vocab=vocab), np.array([1])) == ["cf good film"]
    assert texts_of(SimpleNamespace(x=ids, raw_text=raw), np.array([1, 0])) == raw[[1, 0]].tolist()
    assert texts_of(SimpleNamespace(x=np.zeros((2, 4, 4)))) is None
    assert texts_of(SimpleNamespace(x=ids)) is None  # token-like ids but no vocab
