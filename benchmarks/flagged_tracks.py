"""Which physical signs did a traffic-sign scan flag? Groups a run's flagged samples by track.

GTSRB's training images come in tracks of 30 frames of one physical sign, and ``load_gtsrb``
names each image's original file, ``CLASS/TRACK_FRAME.ppm``, which ``flagged.csv`` repeats.
For each ``scan-*/flagged.csv`` under the given ``poisonscan reproduce traffic-signs`` output
folders, this counts the flagged poisoned copies and the flagged clean frames per track
(``CLASS/TRACK``), and writes them to ``benchmarks/results/flagged_tracks.json``
(``docs/gtsrb.md``, "Which signs are flagged, by file").

    python benchmarks/flagged_tracks.py seed0=docs/results/traffic-signs seed1=/tmp/ts1 ...
"""

from __future__ import annotations

import argparse
import csv
from collections import Counter
from pathlib import Path

from poisonscan._io import write_json

POISON_PREFIX = "poisoned copy of "
TARGET = "00003/"  # speed limit 60, the target class of the traffic-signs experiment


def tracks(flagged_csv: Path) -> dict[str, object]:
    """Flagged poisoned copies, and flagged clean frames per ``CLASS/TRACK`` (most first)."""
    with flagged_csv.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    if rows and "file" not in rows[0]:
        raise SystemExit(f"{flagged_csv} has no file column (written before load_gtsrb "
                         "named the files): run the experiment again")
    poison = sum(r["file"].startswith(POISON_PREFIX) for r in rows)
    clean = Counter(r["file"].rsplit("_", 1)[0] for r in rows
                    if not r["file"].startswith(POISON_PREFIX))
    names = {r["file"].rsplit("_", 1)[0]: r["label_name"] for r in rows}
    return {"flagged": len(rows), "poisoned_copies": poison,
            "clean_frames_by_track": [{"track": t, "class": names[t], "frames": n}
                                      for t, n in clean.most_common()]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", metavar="LABEL=DIR",
                        help="output folders of 'reproduce traffic-signs', each with a label")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" /
                                             "flagged_tracks.json"))
    args = parser.parse_args()
    results = {}
    for run in args.runs:
        label, _, folder = run.partition("=")
        if not folder:
            parser.error(f"expected LABEL=DIR, got {run!r}")
        for csv_path in sorted(Path(folder).glob("scan-*/flagged.csv")):
            key = f"{label}/{csv_path.parent.name}"
            results[key] = tracks(csv_path)
            other = [t for t in results[key]["clean_frames_by_track"]
                     if not t["track"].startswith(TARGET)]
            print(key, results[key]["flagged"], "flagged,", results[key]["poisoned_copies"],
                  "poisoned copies; other classes:",
                  ", ".join(f"{t['track']} ({t['class']}) {t['frames']}" for t in other))
    write_json(args.out, results)


if __name__ == "__main__":
    main()
