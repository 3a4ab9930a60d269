"""The terminal summary of a scan report (the scan's verdict first, one row per class with the
strength of its evidence, class names kept readable, why suspicious classes are only
suspicious, the model's fitness), and flagged.csv."""

from __future__ import annotations

import copy
import csv
import io
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from poisonscan.report import flagged_csv, format_summary


def _report(names: list[str] | None) -> dict[str, Any]:
    """A minimal report of two classes; class 1's smaller cluster is poison from class 0."""
    classes = [
        {"label": 0, "n_samples": 100, "verdict": "clean",
         "clusters": [{"size": 60, "rule": "l/p <= 1", "statistic": 3.0, "is_poison": False,
                       "suspected_source": None},
                      {"size": 40, "rule": "l/p <= 1", "statistic": 5.0, "is_poison": False,
                       "suspected_source": None}]},
        {"label": 1, "n_samples": 110, "verdict": "poisoned",
         "clusters": [{"size": 100, "rule": None, "statistic": None, "is_poison": False,
                       "suspected_source": None},
                      {"size": 10, "rule": "l/p <= 1", "statistic": 0.0, "is_poison": True,
                       "suspected_source": 0}]},
    ]
    return {"parameters": {"detector": {"analysis": "exclusionary-reclassification",
                                        "reduce": "ica", "n_components": 10, "n_clusters": 2}},
            "input": {"n_samples": 210, **({"class_names": names} if names else {})},
            "classes": classes, "summary": {"n_flagged": 10, "poisoned_classes": [1]},
            "model": {}, "timings_s": {"total": 1.0}}


def test_rows_without_names() -> None:
    """An old-style report (no verdict levels, no training, no votes) still reads."""
    lines = format_summary(_report(None)).splitlines()
    assert lines[0] == "verdict: poisoned (class 1)"
    assert lines[2].split() == ["class", "n", "cluster", "sizes", "statistic", "votes", "share",
                                "verdict"]
    assert lines[3].split() == ["0", "100", "60/40", "3,", "5", "-", "60%,", "40%", "clean"]
    assert lines[4].split()[:6] == ["1", "110", "100/10", "0", "-", "9%"]
    assert lines[4].endswith("poisoned (from class 0)")
    assert lines[5] == "flagged 10 of 210 samples; poisoned classes: [1]"


def test_long_class_names_stay_distinct_and_aligned() -> None:
    # names that share their first 14 characters (the old column width) must not collide
    names = ["speed limit (20km/h)", "speed limit (30km/h)"]
    lines = format_summary(_report(names)).splitlines()
    assert lines[0] == "verdict: poisoned (class 1 'speed limit (30km/h)')"
    assert names[0] in lines[3] and names[1] in lines[4]
    assert "(from class 0 'speed limit (20km/h)')" in lines[4]
    header, first, second = lines[2:5]
    end_of_n = header.index(" n ") + 2  # the n column is right-aligned under its header
    assert first[end_of_n - 3:end_of_n] == "100" and second[end_of_n - 3:end_of_n] == "110"


def test_very_long_class_names_are_shortened_in_the_middle() -> None:
    names = ["a" * 40 + "-x", "a" * 40 + "-y"]
    lines = format_summary(_report(names)).splitlines()
    assert "a" * 13 + "..." + "a" * 10 + "-x " in lines[3]
    assert "a" * 13 + "..." + "a" * 10 + "-y " in lines[4]
    assert lines[3].index(" 100") == lines[4].index(" 110")  # same width after shortening


def test_many_classes_list_only_the_poisoned_ones() -> None:
    lines = format_summary(_report(None), max_rows=1).splitlines()
    assert lines[3].split()[:6] == ["1", "110", "100/10", "0", "-", "9%"]
    assert lines[4].strip() == ("(1 clean class not listed; report.html and report.json "
                                "have every class)")
    assert lines[5] == "flagged 10 of 210 samples; poisoned classes: [1]"
    assert format_summary(_report(None), max_rows=2) == format_summary(_report(None))


def _cluster(cluster: int, size: int, class_size: int, level: str | None, *,
             statistic: float | None = None, source: int | None = None,
             votes: list[tuple[int, int]] | None = None, reasons: tuple[str, ...] = ()
             ) -> dict[str, Any]:
    judged = level is not None
    return {"cluster": cluster, "size": size, "relative_size": size / class_size,
            "silhouette": 0.1, "is_poison": level == "poison",
            "statistic": statistic if judged else None, "threshold": 1.0 if judged else None,
            "rule": "<=" if judged else None, "suspected_source": source,
            "votes": None if votes is None else [{"label": k, "count": n} for k, n in votes],
            "level": level, "reasons": list(reasons)}


_WEAK = ("l/p 0.93 is above 0.5 x the threshold 1", "the cluster holds 48% of its class (over 40%)")
_FIT = {"epochs": "auto", "epochs_run": 12.0, "best_epoch": 9.0, "retrain_epochs": 9,
        "stopped": "criterion", "heldout_size": 400, "heldout_accuracy": 0.963,
        "chance_accuracy": 0.1, "heldout_loss": [0.5, 0.2], "check_epochs": [1.0, 2.0],
        "converged": True, "adequate": True, "reason": None}
_UNFIT_REASON = ("the model had not converged: its held-out loss still fell by more than 5% "
                 "over the last quarter of training; train longer (leave --epochs at 'auto', "
                 "or raise it)")


def _graded(verdict: str) -> dict[str, Any]:
    """A graded report of four classes: 0 clean, 1 poisoned (56 of 176 votes for class 9, 33%
    of its class), 2 suspicious (from class 8, weak for the reasons _WEAK), 3 too small; or,
    for ``verdict``, the same scan found clean, only suspicious or inconclusive."""
    classes = [
        {"label": 0, "n_samples": 500, "verdict": "clean",
         "clusters": [_cluster(0, 300, 500, None),
                      _cluster(1, 200, 500, "legitimate", statistic=3.0,
                               votes=[(0, 150), (7, 50)])]},
        {"label": 1, "n_samples": 530, "verdict": "poisoned",
         "clusters": [_cluster(0, 354, 530, None),
                      _cluster(1, 176, 530, "poison", statistic=0.0, source=9,
                               votes=[(9, 56), (1, 0)])]},
        {"label": 2, "n_samples": 500, "verdict": "suspicious",
         "clusters": [_cluster(0, 260, 500, None),
                      _cluster(1, 240, 500, "suspicious", statistic=0.93, source=8,
                               votes=[(8, 112), (2, 104)], reasons=_WEAK)]},
        {"label": 3, "n_samples": 5, "verdict": "too-small", "clusters": []},
    ]
    if verdict in ("suspicious", "clean", "inconclusive"):  # class 1's cluster not poison
        level = "legitimate" if verdict == "clean" else "suspicious"
        reasons = ["the model was not fit to be judged"] if verdict == "inconclusive" else []
        classes[1]["verdict"] = "clean" if verdict == "clean" else "suspicious"
        classes[1]["clusters"][1].update(level=level, is_poison=False, reasons=reasons)
    if verdict == "clean":
        classes[2]["verdict"] = "clean"
        classes[2]["clusters"][1].update(level="legitimate", reasons=[])
    poisoned = [c["label"] for c in classes if c["verdict"] == "poisoned"]
    suspicious = [c["label"] for c in classes if c["verdict"] == "suspicious"]
    training = dict(_FIT)
    if verdict == "inconclusive":
        training.update(epochs=1, epochs_run=1.0, best_epoch=1.0, stopped="epochs",
                        heldout_accuracy=0.792, chance_accuracy=0.109, converged=False,
                        adequate=False, reason=_UNFIT_REASON)
    return {
        "parameters": {"preset": "default",
                       "detector": {"analysis": "exclusionary-reclassification",
                                    "reduce": "ica", "n_components": 10, "n_clusters": 2}},
        "input": {"n_samples": 1535},
        "classes": classes,
        "summary": {"verdict": verdict,
                    "verdict_reason": (_UNFIT_REASON + ". No class is called poisoned on this "
                                       "model's evidence." if verdict == "inconclusive"
                                       else None),
                    "n_flagged": 176 if poisoned else 0, "poisoned_classes": poisoned,
                    "n_suspicious": sum(c["clusters"][1]["size"] for c in classes
                                        if c["verdict"] == "suspicious"),
                    "suspicious_classes": suspicious,
                    "clean_classes": [c["label"] for c in classes if c["verdict"] == "clean"],
                    "too_small_classes": [3], "min_class_size": 11},
        "training": training, "model": {"test_accuracy": 0.98}, "timings_s": {"total": 1.0}}


@pytest.mark.parametrize("verdict, first", [
    ("poisoned", "verdict: poisoned (class 1); suspicious: class 2 (weak evidence, see "
                 "report.html)"),
    ("suspicious", "verdict: suspicious, nothing flagged (classes 1, 2: weak evidence, see "
                   "report.html)"),
    ("clean", "verdict: clean"),
    ("inconclusive", "verdict: inconclusive - the model had not converged: its held-out loss "
                     "still fell by more than 5%"),
])
def test_first_line_states_the_scan_verdict(verdict: str, first: str) -> None:
    text = format_summary(_graded(verdict))
    lines = text.splitlines()
    assert lines[0] == first
    assert all(len(line) <= 100 for line in lines), text
    if verdict == "inconclusive":  # the reason (and what to do) goes on, wrapped and indented
        head = lines[:next(i for i, line in enumerate(lines) if line.startswith("analysis:"))]
        said = " ".join(line.strip() for line in head)
        assert said == "verdict: inconclusive - " + _graded(verdict)["summary"]["verdict_reason"]
        assert all(line.startswith("  ") for line in head[1:]) and len(head) > 1


def test_rows_show_votes_share_and_graded_verdicts() -> None:
    lines = format_summary(_graded("poisoned")).splitlines()
    rows = {line.split()[0]: line for line in lines[3:7]}
    assert rows["0"].split() == ["0", "500", "300/200", "3", "50/200", "40%", "clean"]
    assert rows["1"].split()[:6] == ["1", "530", "354/176", "0", "56/176", "33%"]
    assert rows["1"].endswith("  poisoned (from class 9)")
    assert rows["2"].split()[:6] == ["2", "500", "260/240", "0.93", "112/240", "48%"]
    assert rows["2"].endswith("  suspicious (from class 8)")
    assert rows["3"].split()[:6] == ["3", "5", "-", "-", "-", "-"]
    assert rows["3"].endswith("not judged: fewer than 11 samples")
    header = lines[2]
    for row in rows.values():  # the columns stay aligned under their headers
        assert row[header.index("share") + len("share") - 1] != " "


def test_suspicious_classes_get_their_reasons() -> None:
    lines = format_summary(_graded("poisoned")).splitlines()
    at = lines.index("  class 2 suspicious: l/p 0.93 is above 0.5 x the threshold 1; the "
                     "cluster holds 48% of its class")
    assert lines[at + 1] == "    (over 40%)"
    assert lines[at + 2] == ("flagged 176 of 1535 samples; poisoned classes: [1]; "
                             "suspicious: 240 samples in classes [2]")
    assert not [line for line in lines if line.startswith("  class 1 ")]  # poisoned: no reasons
    lines = format_summary(_graded("inconclusive")).splitlines()
    assert "  class 1 suspicious: the model was not fit to be judged" in lines


def test_at_most_ten_reason_lines() -> None:
    report = _graded("suspicious")
    template = report["classes"][2]
    report["classes"] = [{**copy.deepcopy(template), "label": k} for k in range(14)]
    report["summary"]["suspicious_classes"] = list(range(14))
    lines = format_summary(report).splitlines()
    reasons = [line for line in lines if line.startswith("  class ")]
    assert [line.split()[1] for line in reasons] == [str(k) for k in range(10)]
    assert "  (4 more in report.html)" in lines
    assert lines[0] == ("verdict: suspicious, nothing flagged (classes 0, 1, 2, 3, 4, 5, 6, 7 "
                        "and 6 more: weak evidence, see")
    assert lines[1] == "  report.html)"


def test_many_classes_list_poisoned_and_suspicious_ones() -> None:
    lines = format_summary(_graded("poisoned"), max_rows=3).splitlines()
    assert [line.split()[0] for line in lines[3:5]] == ["1", "2"]
    assert lines[5].strip() == ("(1 clean class and 1 too small to judge not listed; "
                                "report.html and report.json have every class)")


def test_model_line_says_whether_the_model_is_fit_to_be_judged() -> None:
    lines = format_summary(_graded("poisoned")).splitlines()
    assert ("model: held-out accuracy 96.3% (chance 10.0%), epoch 9 of 12 (stopped on the "
            "held-out loss)") in lines
    assert "model: clean test accuracy 98.00%" in lines
    lines = format_summary(_graded("inconclusive")).splitlines()
    assert ("model: held-out accuracy 79.2% (chance 10.9%), 1 epoch (fixed), not converged, "
            "not fit to be judged") in lines
    paper = _graded("poisoned")  # the paper preset: nothing held out, nothing measured
    paper["parameters"]["preset"] = "paper"
    paper["training"] = {"epochs": 3, "epochs_run": 3, "best_epoch": 3, "retrain_epochs": 3,
                         "stopped": "epochs", "heldout_size": 0, "heldout_accuracy": None,
                         "chance_accuracy": None, "heldout_loss": [], "check_epochs": [],
                         "converged": None, "adequate": None, "reason": None}
    assert not [line for line in format_summary(paper).splitlines() if "held-out" in line]
    paper["training"] = None  # a given model
    assert format_summary(paper).splitlines()[0] == \
        "verdict: poisoned (class 1); suspicious: class 2 (weak evidence, see report.html)"


def test_flagged_csv_columns_and_inert_formulas() -> None:
    """flagged.csv: one row per flagged or suspicious sample with its verdict; text cells from
    the data never start a formula."""
    det = SimpleNamespace(is_poison=np.array([False, True, False, False]),
                          is_suspicious=np.array([False, False, False, True]),
                          suspected_source=np.array([-1, 0, -1, 0]), cluster=np.array([0, 1, 0, 1]),
                          score=np.array([0.0, 0.5, 0.0, 0.25]))
    labels = np.array([0, 1, 0, 1])
    files = np.array(["a.png", "=HYPERLINK(x).png", "c.png", "d.png"])
    names = np.array(["+cat", "dog"])
    text = flagged_csv(SimpleNamespace(detection=det), labels, files=files, class_names=names,
                       texts=["@SUM(1)", "-- a plain, \"quoted\" review"])
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["index"] for r in rows] == ["1", "3"]
    assert [r["verdict"] for r in rows] == ["poisoned", "suspicious"]
    assert [r["suspected_source"] for r in rows] == ["0", "0"]
    assert rows[0]["file"] == "'=HYPERLINK(x).png" and rows[1]["file"] == "d.png"
    assert rows[0]["label_name"] == "dog" and rows[0]["suspected_source_name"] == "'+cat"
    assert [r["text"] for r in rows] == ["'@SUM(1)", "'-- a plain, \"quoted\" review"]
    assert flagged_csv(SimpleNamespace(detection=det), labels).splitlines()[0] == \
        "index,label,cluster,suspected_source,score,verdict"
