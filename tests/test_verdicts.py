"""Verdict levels (poisonscan.detect.verdicts) and the detector's graded vs paper rule."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import nearest_mean_reclassifier, planted_activations
from poisonscan.detect import ActivationClustering
from poisonscan.detect.analyses import Finding
from poisonscan.detect.result import Vote
from poisonscan.detect.verdicts import MAX_SHARE, MIN_VOTES, grade


def _finding(votes: dict[int, int], label: int = 2, threshold: float = 1.0) -> Finding:
    own = votes.get(label, 0)
    source, p = max(((k, v) for k, v in votes.items() if k != label), key=lambda kv: kv[1])
    ratio = own / p
    return Finding(label, 1, ratio, threshold, "<=", ratio <= threshold, source,
                   tuple(Vote(k, v) for k, v in sorted(votes.items(), key=lambda kv: -kv[1])))


def test_strong_evidence_is_poison() -> None:
    level, reasons = grade(_finding({8: 1280, 2: 2}), 1282, 5000)
    assert (level, reasons) == ("poison", ())


def test_a_handful_of_votes_is_only_suspicious() -> None:
    # a clean class of 12 samples split 3/9; 2 of the 3 read as class 8
    level, reasons = grade(_finding({8: 2, 2: 1}), 3, 12)
    assert level == "suspicious"
    assert any(f"fewer than {MIN_VOTES}" in r for r in reasons)


def test_spread_votes_are_only_suspicious() -> None:
    # the README path's false alarm: 176 samples read 8:56, 1:54, 2:34 (l/p 0.61)
    level, reasons = grade(_finding({8: 56, 1: 54, 2: 34, 3: 32}), 176, 444)
    assert level == "suspicious"
    assert any("less than 50%" in r for r in reasons)
    assert any("l/p 0.61" in r for r in reasons)


def test_a_cluster_of_half_its_class_is_only_suspicious() -> None:
    level, reasons = grade(_finding({0: 1800, 1: 400}), 2200, 4800)
    assert level == "suspicious"
    assert reasons == (f"the cluster holds 46% of its class (over {MAX_SHARE:.0%})",)


def test_paper_rule_and_legitimate_clusters() -> None:
    weak = _finding({8: 2, 2: 1})
    assert grade(weak, 3, 12, "paper") == ("poison", ())
    assert grade(_finding({2: 50, 8: 3}), 53, 500)[0] == "legitimate"


def test_analysis_without_votes_is_graded_on_size_and_share() -> None:
    f = Finding(0, 1, 0.05, 0.35, "<=", True)
    assert grade(f, 50, 1000)[0] == "poison"
    assert grade(f, 4, 1000)[0] == "suspicious"


def _tiny_planted() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Planted poison of 60 samples in classes 0-3, and class 0's poison cut to 4 samples."""
    acts, y, is_poison, _ = planted_activations()
    drop = np.flatnonzero(is_poison & (y == 0))[4:]
    keep = np.setdiff1d(np.arange(len(y)), drop)
    return acts[keep], y[keep], is_poison[keep]


def test_detector_grades_weak_poison_as_suspicious() -> None:
    acts, y, is_poison = _tiny_planted()
    res = ActivationClustering().fit_detect(acts, y,
                                            reclassifier=nearest_mean_reclassifier(acts, y))
    by = {c.label: c for c in res.classes}
    assert by[0].verdict == "suspicious" and [c.label for c in res.classes
                                              if c.verdict == "poisoned"] == [1, 2, 3]
    assert res.suspicious_classes == [0]
    np.testing.assert_array_equal(res.is_suspicious, is_poison & (y == 0))
    np.testing.assert_array_equal(res.is_poison, is_poison & (y != 0))
    assert (res.suspected_source[res.is_suspicious] == 3).all()
    weak = [cl for cl in by[0].clusters if cl.level == "suspicious"]
    assert len(weak) == 1 and weak[0].reasons and not weak[0].is_poison
    d = res.to_dict()
    assert d["suspicious_classes"] == [0] and d["n_suspicious"] == 4
    assert d["classes"][0]["clusters"][weak[0].cluster]["level"] == "suspicious"


def test_paper_rule_flags_the_same_clusters_as_poison() -> None:
    acts, y, is_poison = _tiny_planted()
    res = ActivationClustering(verdict_rule="paper").fit_detect(
        acts, y, reclassifier=nearest_mean_reclassifier(acts, y))
    np.testing.assert_array_equal(res.is_poison, is_poison)
    assert not res.is_suspicious.any() and res.poisoned_classes == [0, 1, 2, 3]


def test_distinct_clean_subpopulation_stays_clean() -> None:
    # every class holds a legitimate mode of 20%: its own label still reads it
    acts, y, _, _ = planted_activations(poison=False, seed=3)
    acts[::5, 2] += 14.0
    res = ActivationClustering().fit_detect(acts, y,
                                            reclassifier=nearest_mean_reclassifier(acts, y))
    assert {c.verdict for c in res.classes} == {"clean"}
    assert not res.is_poison.any() and not res.is_suspicious.any()


def test_downgraded_result_flags_nothing() -> None:
    acts, y, is_poison, _ = planted_activations()
    res = ActivationClustering().fit_detect(acts, y,
                                            reclassifier=nearest_mean_reclassifier(acts, y))
    low = res.downgraded("the model was not fit to be judged")
    assert not low.is_poison.any()
    np.testing.assert_array_equal(low.is_suspicious, is_poison)
    assert {c.verdict for c in low.classes} == {"suspicious"}
    assert all("the model was not fit to be judged" in cl.reasons
               for c in low.classes for cl in c.clusters if cl.level == "suspicious")


def test_unknown_verdict_rule_is_refused() -> None:
    from poisonscan.errors import InputError

    acts, y, _, _ = planted_activations()
    with pytest.raises(InputError, match="verdict_rule must be one of"):
        ActivationClustering(verdict_rule="gradd").fit_detect(acts, y)
