"""The detector on synthetic activations with planted sub-clusters, and its analyses."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from conftest import nearest_mean_reclassifier, planted_activations
from poisonscan.detect import ANALYSES, ActivationClustering, reduce
from poisonscan.detect.cluster import best_of_restarts
from poisonscan.errors import InputError


@pytest.mark.parametrize("method", ["ica", "pca", "none"])
def test_planted_poison_found_exactly(method: str) -> None:
    acts, y, is_poison, source = planted_activations()
    det = ActivationClustering(reduce=method, n_components=5)
    res = det.fit_detect(acts, y, reclassifier=nearest_mean_reclassifier(acts, y))
    np.testing.assert_array_equal(res.is_poison, is_poison)
    np.testing.assert_array_equal(res.suspected_source[is_poison], source[is_poison])
    assert res.poisoned_classes == [0, 1, 2, 3]
    assert all(c.suspected_sources == [(c.label - 1) % 4] for c in res.classes)


def test_clean_classes_are_reported_clean() -> None:
    # every class bimodal (two legitimate styles), nothing poisoned
    rng = np.random.default_rng(1)
    acts, y, _, _ = planted_activations(poison=False, seed=1)
    acts[::5, 1] += 15.0  # a legitimate sub-population in every class
    res = ActivationClustering().fit_detect(acts, y,
                                            reclassifier=nearest_mean_reclassifier(acts, y))
    assert not res.is_poison.any()
    assert {c.verdict for c in res.classes} == {"clean"}
    assert rng is not None


@pytest.mark.parametrize("analysis,kwargs", [
    ("relative-size", {"size_threshold": 0.35}),
    ("silhouette", {"silhouette_threshold": 0.1}),
    ("distance", {"distance_threshold": 1.0}),
])
def test_each_analysis_finds_planted_poison(analysis: str, kwargs: dict) -> None:
    acts, y, is_poison, source = planted_activations()
    res = ActivationClustering(analysis=analysis, **kwargs).fit_detect(acts, y)
    np.testing.assert_array_equal(res.is_poison, is_poison)
    if analysis == "distance":
        np.testing.assert_array_equal(res.suspected_source[is_poison], source[is_poison])
    figures = [cl for c in res.classes for cl in c.clusters if cl.rule is not None]
    assert len(figures) == 4 and all(cl.threshold is not None for cl in figures)


def test_silhouette_and_size_leave_balanced_split_alone() -> None:
    # two equal legitimate halves per class: not small, so neither rule flags them
    acts, y, _, _ = planted_activations(poison=False)
    acts[1::2, 1] += 15.0
    for analysis in ("relative-size", "silhouette"):
        res = ActivationClustering(analysis=analysis).fit_detect(acts, y)
        assert not res.is_poison.any(), analysis


def test_exclusionary_statistic_is_l_over_p() -> None:
    acts, y, _, _ = planted_activations(n_classes=3)
    res = ActivationClustering().fit_detect(acts, y,
                                            reclassifier=nearest_mean_reclassifier(acts, y))
    for c in res.classes:
        (cand,) = [cl for cl in c.clusters if cl.rule is not None]
        assert cand.statistic == 0.0 and cand.rule == "<=" and cand.threshold == 1.0


def test_any_k() -> None:
    acts, y, is_poison, _ = planted_activations()
    res = ActivationClustering(n_clusters=3, analysis="distance").fit_detect(acts, y)
    assert res.is_poison[is_poison].all()
    assert all(len(c.clusters) == 3 for c in res.classes)


def test_segment_by_prediction_uses_predictions() -> None:
    acts, y, is_poison, _ = planted_activations()
    res = ActivationClustering(segment_by="prediction").fit_detect(
        acts, y, predictions=y, reclassifier=nearest_mean_reclassifier(acts, y))
    np.testing.assert_array_equal(res.is_poison, is_poison)
    with pytest.raises(InputError, match="predictions"):
        ActivationClustering(segment_by="prediction").fit_detect(acts, y)


def test_same_seed_same_result_and_result_dict() -> None:
    acts, y, _, _ = planted_activations(seed=3)
    r1 = ActivationClustering(random_state=7, analysis="relative-size").fit_detect(acts, y)
    r2 = ActivationClustering(random_state=7, analysis="relative-size").fit_detect(acts, y)
    np.testing.assert_array_equal(r1.flagged_indices, r2.flagged_indices)
    np.testing.assert_array_equal(r1.score, r2.score)
    d = r1.to_dict()
    assert d["flagged_indices"] == sorted(d["flagged_indices"])
    assert d["params"]["random_state"] == 7 and len(d["classes"]) == 4


def test_ica_survives_dead_first_unit() -> None:
    """Regression: a constant feature 0 (a dead ReLU unit) used to collapse FastICA's whitening."""
    acts, y, is_poison, _ = planted_activations()
    acts = np.maximum(acts, 0)  # ReLU
    acts[:, 0] = 0.0            # dead unit in column 0
    acts[y == 1, 1] += 40 * is_poison[y == 1]  # keep a trigger direction in class 1
    cls = np.flatnonzero(y == 1)
    r = reduce(acts[cls], "ica", n_components=5)
    assert np.isfinite(r).all() and r.shape == (len(cls), 5)
    res = ActivationClustering(analysis="relative-size").fit_detect(acts, y)
    np.testing.assert_array_equal(res.is_poison[cls], is_poison[cls])


def test_score_is_positive_in_minority_clusters() -> None:
    acts, y, is_poison, _ = planted_activations()
    res = ActivationClustering(analysis="relative-size").fit_detect(acts, y)
    assert (res.score[is_poison] > 0).all() and (res.score[~is_poison] < 0).all()


def test_registry_lists_all_analyses() -> None:
    assert set(ANALYSES) == {"exclusionary-reclassification", "relative-size", "silhouette",
                             "distance"}


@pytest.mark.parametrize("kwargs,match", [
    ({"reduce": "icaa"}, "Did you mean 'ica'"),
    ({"analysis": "silhouete"}, "Did you mean 'silhouette'"),
    ({"n_clusters": 1}, "n_clusters"),
    ({"n_components": 2.5}, "integer"),
    ({"size_threshold": 2.0}, "size_threshold"),
])
def test_bad_parameters(kwargs: dict, match: str) -> None:
    acts, y, _, _ = planted_activations()
    with pytest.raises(InputError, match=match):
        ActivationClustering(**kwargs).fit_detect(acts, y)


def test_unknown_parameter_suggests() -> None:
    with pytest.raises(InputError, match="Did you mean 'n_components'"):
        ActivationClustering().set_params(n_component=5)


def test_bad_activations() -> None:
    acts, y, _, _ = planted_activations()
    det = ActivationClustering(analysis="relative-size")
    bad = acts.copy()
    bad[3, 2] = np.nan
    with pytest.raises(InputError, match="NaN"):
        det.fit_detect(bad, y)
    with pytest.raises(InputError, match=r"at least 2 classes; the data has only class \[0\]"):
        det.fit_detect(acts, np.zeros(len(y), int))
    with pytest.raises(InputError, match="at least 2 classes; the data has no samples"):
        det.check_segments(np.zeros(0, int))
    with pytest.raises(InputError, match="no class has the 11 samples needed .* largest has 5"):
        det.fit_detect(acts[:10], np.repeat([0, 1], 5))
    with pytest.raises(InputError, match="same length"):
        det.fit_detect(acts, y[:-1])
    with pytest.raises(InputError, match="reclassifier"):
        ActivationClustering().fit_detect(acts, y)


@pytest.mark.parametrize("reduce, n_small", [("ica", 10), ("none", 2)])
def test_class_too_small_to_judge_is_reported_not_judged(reduce: str, n_small: int) -> None:
    """A class with fewer samples than min_class_size() (11 with ICA to 10 dimensions, 3 for
    2-means on the raw features) is reported "too-small": not clustered, not flagged, and kept
    in the retraining; the other classes are judged as usual."""
    acts, y, is_poison, _ = planted_activations()
    acts = np.concatenate([acts, acts[:n_small] + 50.0])
    y = np.concatenate([y, np.full(n_small, 7)])
    kept: list[np.ndarray] = []
    inner = nearest_mean_reclassifier(acts, y)

    def reclassify(keep: np.ndarray, query: np.ndarray) -> np.ndarray:
        kept.append(keep)
        return inner(keep, query)

    det = ActivationClustering(reduce=reduce)
    assert det.min_class_size() == n_small + 1
    result = det.fit_detect(acts, y, reclassifier=reclassify)
    small = result.classes[-1]
    assert (small.label, small.n_samples, small.verdict, small.clusters) == \
        (7, n_small, "too-small", ())
    assert [c.label for c in result.classes] == [0, 1, 2, 3, 7]
    assert [c.label for c in det.classes_] == [0, 1, 2, 3]
    assert not result.is_poison[-n_small:].any() and (result.cluster[-n_small:] == -1).all()
    assert kept and all(k[-n_small:].all() for k in kept)
    np.testing.assert_array_equal(result.is_poison[:-n_small], is_poison)
    assert result.to_dict()["classes"][-1]["verdict"] == "too-small"


def _modes(parts: list[tuple[int, int, int]], seed: int):
    """Well-separated Gaussian modes: ``parts`` lists (class, mode, n); mode m is centred at
    20 e_m in as many dimensions as there are modes. Returns (acts, labels, mode of each row)."""
    rng = np.random.default_rng(seed)
    centres = np.eye(len(parts)) * 20.0
    acts = np.concatenate([rng.normal(centres[m], 1.0, (n, len(parts))) for _, m, n in parts])
    y = np.concatenate([np.full(n, c) for c, _, n in parts])
    mode = np.concatenate([np.full(n, m) for _, m, n in parts])
    return acts, y, mode


def test_confirmation_round_clears_clusters_misread_by_the_screening_model() -> None:
    # class 0: main + a legitimate sub-cluster; class 1: main + poison (source 2); class 2:
    # main + a legitimate sub-cluster. The stub reclassifier mimics a model weakened by the
    # screening round (every candidate removed): it misreads class 0's sub-cluster as class 2
    # unless class 2's sub-cluster is back in the training set.
    acts, y, mode = _modes([(0, 0, 200), (0, 1, 40), (1, 2, 200), (1, 3, 40), (2, 4, 200),
                            (2, 5, 60)], seed=0)
    calls = []

    def reclassifier(keep: np.ndarray, query: np.ndarray) -> np.ndarray:
        calls.append(keep.copy())
        out = y[query].copy()
        out[mode[query] == 3] = 2  # poison is read as its source
        weakened = not keep[mode == 5].any()
        out[(mode[query] == 1) & weakened] = 2
        return out

    res = ActivationClustering(reduce="none").fit_detect(acts, y, reclassifier=reclassifier)
    assert len(calls) == 2
    np.testing.assert_array_equal(~calls[1], np.isin(mode, [1, 3]))  # only the suspects out
    assert [c.verdict for c in res.classes] == ["clean", "poisoned", "clean"]
    np.testing.assert_array_equal(res.is_poison, mode == 3)
    assert set(res.suspected_source[res.is_poison]) == {2}


def test_confirmation_keeps_every_candidate_of_a_suspected_class_out() -> None:
    # k = 3. Class 1 holds poison (mode 4) and a sibling cluster (mode 5) whose leftover poison
    # would teach the trigger again if it were put back; class 0's mode 1 is misread only by
    # the weakened screening model (while class 2's candidates are out).
    acts, y, mode = _modes([(0, 0, 200), (0, 1, 40), (0, 2, 40), (1, 3, 200), (1, 4, 40),
                            (1, 5, 40), (2, 6, 200), (2, 7, 40), (2, 8, 40)], seed=1)
    calls = []

    def reclassifier(keep: np.ndarray, query: np.ndarray) -> np.ndarray:
        calls.append(keep.copy())
        out = y[query].copy()
        if not keep[mode == 5].any():  # the trigger is only unlearnt with mode 5 out too
            out[mode[query] == 4] = 0
        out[(mode[query] == 1) & (not keep[mode == 7].any())] = 2
        return out

    res = ActivationClustering(reduce="none", n_clusters=3).fit_detect(
        acts, y, reclassifier=reclassifier)
    assert len(calls) == 2
    np.testing.assert_array_equal(~calls[1], np.isin(mode, [1, 2, 4, 5]))
    assert [c.verdict for c in res.classes] == ["clean", "poisoned", "clean"]
    np.testing.assert_array_equal(res.is_poison, mode == 4)


def test_reclassification_votes_are_the_evidence_behind_l_over_p() -> None:
    # class 1's minority cluster: 30 of its 40 samples read as class 2, 10 as its own class
    acts, y, mode = _modes([(0, 0, 200), (0, 1, 40), (1, 2, 200), (1, 3, 40), (2, 4, 200),
                            (2, 5, 60)], seed=2)

    def reclassifier(keep: np.ndarray, query: np.ndarray) -> np.ndarray:
        out = y[query].copy()
        poison = np.flatnonzero(mode[query] == 3)
        out[poison[:30]] = 2
        return out

    res = ActivationClustering(reduce="none").fit_detect(acts, y, reclassifier=reclassifier)
    by_class = {c.label: c for c in res.classes}
    flagged = [cl for cl in by_class[1].clusters if cl.is_poison]
    assert len(flagged) == 1
    assert [(v.label, v.count) for v in flagged[0].votes] == [(2, 30), (1, 10)]
    assert flagged[0].statistic == pytest.approx(10 / 30)
    kept = [cl for cl in by_class[0].clusters if cl.rule is not None]
    assert [(v.label, v.count) for v in kept[0].votes] == [(0, 40)]
    majority = [cl for cl in by_class[0].clusters if cl.rule is None]
    assert majority[0].votes is None
    as_json = res.to_dict()["classes"][1]["clusters"]
    assert {"label": 2, "count": 30} in next(c["votes"] for c in as_json if c["is_poison"])


def test_evaluation_counts_the_poison_of_each_cluster() -> None:
    from poisonscan.metrics import evaluate_detection  # noqa: PLC0415

    truth = np.array([0, 1, 1, 0, 0, 1, 0, 1], bool)
    labels = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    clusters = np.array([0, 1, 1, 0, 0, 0, 1, 0])
    flagged = clusters == 1
    ev = evaluate_detection(truth, flagged, labels, clusters=clusters)
    assert ev.poison_per_cluster == {0: (0, 2), 1: (2, 0)}
    assert ev.to_dict()["poison_per_cluster"] == {"0": [0, 2], "1": [2, 0]}
    assert (ev.per_class[1].tp, ev.per_class[1].fn) == (0, 2)
    # clustered by prediction: the counts follow the detector's segments, not the labels
    segments = np.array([0, 0, 0, 0, 0, 0, 1, 1])
    by_pred = evaluate_detection(truth, flagged, labels, clusters=clusters, segments=segments)
    assert by_pred.poison_per_cluster == {0: (1, 2), 1: (1, 0)}
    assert "poison_per_cluster" not in evaluate_detection(truth, flagged, labels).to_dict()
    with pytest.raises(ValueError, match=r"clusters must have shape \(8,\)"):
        evaluate_detection(truth, flagged, labels, clusters=clusters[:5])


def test_fewer_distinct_points_than_clusters_are_split_without_fitting() -> None:
    """No warning to silence: catch_warnings is not thread-safe, and classes run in threads."""
    x = np.array([[1.0, 2.0], [3.0, 4.0], [1.0, 2.0], [3.0, 4.0], [1.0, 2.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        km = best_of_restarts(x, 3, 5, 0)
    assert km.labels_.tolist() == [0, 1, 0, 1, 0] and km.inertia_ == 0.0
    assert np.array_equal(km.cluster_centers_[:2], [[1.0, 2.0], [3.0, 4.0]])
    assert km.cluster_centers_.shape == (3, 2)
    spread = np.random.default_rng(0).normal(size=(50, 2))  # enough distinct points: fitted
    assert len(np.unique(best_of_restarts(spread, 3, 5, 0).labels_)) == 3


@pytest.mark.parametrize("k", [2, 3])
def test_class_of_identical_activations_is_clean_and_quiet(k: int) -> None:
    # a class whose activations are all the same (dead units): nothing to split, no warning
    acts, y, is_poison, _ = planted_activations()
    acts[y == 2] = 0.0
    det = ActivationClustering(n_clusters=k, n_components=5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = det.fit_detect(acts, y, reclassifier=nearest_mean_reclassifier(acts, y))
    dead = next(c for c in res.classes if c.label == 2)
    assert dead.verdict == "clean"
    assert sorted(c.size for c in dead.clusters) == [0] * (k - 1) + [int((y == 2).sum())]
    assert not res.is_poison[y == 2].any()
