"""One-off study (issue 23, item 4): the feature-offset transfer test on the development scans.

A backdoor trigger is input-agnostic, a clean sub-population is not. For a candidate cluster
``C`` of class ``t`` whose retrained model read it mostly as class ``s`` (its suspected source,
the top vote other than ``t``), add ``delta = mean(C) - mean(class s)`` to the last hidden layer
of other samples and read them with the scanned model's own classifier (the ``nn.Linear`` after
the hook): ``flip_source`` is the share of class ``s`` then read as ``t``, ``flip_other`` the
share of the other classes' samples (neither ``s`` nor ``t``). No retraining: one matrix product.
Ground truth is used only to say how much of each cluster is poison.

Run the development grid first (it leaves each scan's folder, with ``activations.npy``, in
``--work``), then::

    python benchmarks/grid/run.py benchmarks/grid/dev.toml --work /tmp/gridwork-dev
    python benchmarks/transfer_study.py --work /tmp/gridwork-dev

Writes ``benchmarks/results/transfer_study.json``. Only image and text scans of
poisonscan's own architectures (a ``classifier`` head) are read.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from poisonscan import ActivationClustering, load_dataset
from poisonscan._io import write_json
from poisonscan.models import load_model

#: Samples of the other classes read per cluster (a seeded subset).
OTHERS = 3000


def _labels(work: Path, case: str, report: dict) -> tuple[np.ndarray, np.ndarray]:
    """Labels and ground-truth poison flags of the data a dev scan read."""
    if (work / f"{case}.npz").is_file():
        with np.load(work / f"{case}.npz", allow_pickle=False) as d:
            return d["y"], d["is_poison"]
    data = load_dataset(report["input"]["source"])
    return data.y, np.zeros(len(data.y), bool)


def study_case(work: Path, case: str) -> list[dict[str, object]]:
    folder = work / case
    report = json.loads((folder / "report.json").read_text())
    y, is_poison = _labels(work, case, report)
    acts = np.load(folder / "activations.npy").astype(np.float32)
    model, _ = load_model(folder / "model.safetensors")
    head = model.classifier
    w, b = head.weight.detach().numpy(), head.bias.detach().numpy()
    params = {k: v for k, v in report["parameters"]["detector"].items()
              if k not in ("analysis", "size_threshold")}
    detector = ActivationClustering(**params, analysis="relative-size", size_threshold=1.0)
    detector.fit_detect(acts, y)  # the scan's clusters (the analysis does not change them)
    votes = {(c["label"], cl["cluster"]): cl for c in report["classes"] for cl in c["clusters"]}
    rng = np.random.default_rng(0)
    rows = []
    for cc in detector.classes_:
        for c in cc.candidates:
            seen = votes.get((cc.label, c)) or {}
            others = [v["label"] for v in seen.get("votes") or () if v["label"] != cc.label]
            if not others:
                continue
            source = others[0]
            members = cc.indices[cc.assignment == c]
            delta = acts[members].mean(0) - acts[y == source].mean(0)
            rest = np.flatnonzero((y != source) & (y != cc.label))
            rest = rng.choice(rest, min(OTHERS, len(rest)), replace=False)

            def flipped(idx: np.ndarray) -> float | None:  # None: no such samples (2 classes)
                if not len(idx):
                    return None
                logits = (acts[idx] + delta) @ w.T + b
                return round(float(np.mean(logits.argmax(1) == cc.label)), 3)

            rows.append({"case": case, "class": cc.label, "cluster": c, "size": len(members),
                         "poison_share": round(float(is_poison[members].mean()), 3),
                         "level": seen.get("level"), "l/p": seen.get("statistic"),
                         "source": source,
                         "flip_source": flipped(np.flatnonzero(y == source)),
                         "flip_other": flipped(rest)})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", required=True, help="the dev grid's --work folder")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" /
                                             "transfer_study.json"))
    args = parser.parse_args()
    torch.set_grad_enabled(False)
    work = Path(args.work)
    rows = []
    for folder in sorted(p for p in work.iterdir() if (p / "report.json").is_file()):
        rows += study_case(work, folder.name)
    for r in rows:
        print({k: r[k] for k in ("case", "class", "size", "poison_share", "level", "l/p",
                                 "flip_source", "flip_other")}, flush=True)
    write_json(Path(args.out), {"machine": "2 CPU cores", "others_per_cluster": OTHERS,
                                "rows": rows})


if __name__ == "__main__":
    main()
