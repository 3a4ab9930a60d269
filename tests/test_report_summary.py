"""The terminal summary of a scan report (one row per class, class names kept readable), and
flagged.csv."""

from __future__ import annotations

import csv
import io
from types import SimpleNamespace
from typing import Any

import numpy as np

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
    lines = format_summary(_report(None)).splitlines()
    assert lines[1].split() == ["class", "n", "cluster", "sizes", "statistic", "verdict"]
    assert lines[2].split() == ["0", "100", "60/40", "3,", "5", "clean"]
    assert lines[3].split()[:5] == ["1", "110", "100/10", "0", "poisoned"]
    assert lines[3].endswith("(from class 0)")
    assert lines[4] == "flagged 10 of 210 samples; poisoned classes: [1]"


def test_long_class_names_stay_distinct_and_aligned() -> None:
    # names that share their first 14 characters (the old column width) must not collide
    names = ["speed limit (20km/h)", "speed limit (30km/h)"]
    lines = format_summary(_report(names)).splitlines()
    assert names[0] in lines[2] and names[1] in lines[3]
    assert "(from class 0 'speed limit (20km/h)')" in lines[3]
    header, first, second = lines[1:4]
    end_of_n = header.index(" n ") + 2  # the n column is right-aligned under its header
    assert first[end_of_n - 3:end_of_n] == "100" and second[end_of_n - 3:end_of_n] == "110"


def test_very_long_class_names_are_shortened_in_the_middle() -> None:
    names = ["a" * 40 + "-x", "a" * 40 + "-y"]
    lines = format_summary(_report(names)).splitlines()
    assert "a" * 13 + "..." + "a" * 10 + "-x " in lines[2]
    assert "a" * 13 + "..." + "a" * 10 + "-y " in lines[3]
    assert lines[2].index(" 100") == lines[3].index(" 110")  # same width after shortening


def test_many_classes_list_only_the_poisoned_ones() -> None:
    lines = format_summary(_report(None), max_rows=1).splitlines()
    assert lines[2].split()[:5] == ["1", "110", "100/10", "0", "poisoned"]
    assert lines[3].strip() == ("(1 clean class not listed; report.html and report.json "
                                "have every class)")
    assert lines[4] == "flagged 10 of 210 samples; poisoned classes: [1]"
    assert format_summary(_report(None), max_rows=2) == format_summary(_report(None))


def test_flagged_csv_columns_and_inert_formulas() -> None:
    """flagged.csv: one row per flagged sample; text cells from the data never start a formula."""
    det = SimpleNamespace(flagged_indices=np.array([1, 3]),
                          suspected_source=np.array([-1, 0, -1, 0]), cluster=np.array([0, 1, 0, 1]),
                          score=np.array([0.0, 0.5, 0.0, 0.25]))
    labels = np.array([0, 1, 0, 1])
    files = np.array(["a.png", "=HYPERLINK(x).png", "c.png", "d.png"])
    names = np.array(["+cat", "dog"])
    text = flagged_csv(SimpleNamespace(detection=det), labels, files=files, class_names=names,
                       texts=["@SUM(1)", "-- a plain, \"quoted\" review"])
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["index"] for r in rows] == ["1", "3"]
    assert [r["suspected_source"] for r in rows] == ["0", "0"]
    assert rows[0]["file"] == "'=HYPERLINK(x).png" and rows[1]["file"] == "d.png"
    assert rows[0]["label_name"] == "dog" and rows[0]["suspected_source_name"] == "'+cat"
    assert [r["text"] for r in rows] == ["'@SUM(1)", "'-- a plain, \"quoted\" review"]
    assert flagged_csv(SimpleNamespace(detection=det), labels).splitlines()[0] == \
        "index,label,cluster,suspected_source,score"
