"""Concatenate the ``results.md`` files written by ``poisonscan reproduce`` into one page.

    python -m poisonscan.experiments.collect docs/results > docs/results.md
"""

from __future__ import annotations

import sys
from pathlib import Path

ORDER = ["mnist", "mnist-raw", "traffic-signs", "multimodal", "text"]

HEADER = """# Reproducing Chen et al. (2018), Activation Clustering

Every table below was written by `poisonscan reproduce NAME --out docs/results/NAME` (see
`docs/results/NAME/results.json` for all figures); this page is generated with
`python -m poisonscan.experiments.collect docs/results`, not typed by hand. Machine: 2 CPU cores.
The traffic-sign experiments use GTSRB, a substitute for the paper's LISA data set, which cannot
be obtained here.
"""


def collect(folder: Path) -> str:
    """The Markdown page: a header, then each experiment's ``results.md`` that exists."""
    parts = [HEADER]
    names = ORDER + sorted(p.name for p in folder.iterdir() if p.is_dir() and p.name not in ORDER)
    for name in names:
        md = folder / name / "results.md"
        if md.is_file():
            parts.append(md.read_text(encoding="utf-8"))
    return "\n".join(parts)


if __name__ == "__main__":
    sys.stdout.write(collect(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/results")))
