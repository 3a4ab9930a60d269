"""Diagnosis of the multimodal experiment: which k gives the poison a cluster of its own?

Builds the data of the first ``multimodal`` run (stop signs with the sticker relabelled into
the "speed limit" super-class of GTSRB), trains the same model as ``poisonscan reproduce
multimodal`` (same seed and settings), extracts its activations once, then clusters every
super-class with k = 2..5 and records the composition of each cluster (size, poison samples).
With ``--reclassify`` it also runs the default exclusionary reclassification for each k. Writes
``benchmarks/results/multimodal_k.json``.

    POISONSCAN_DATA=../shared/datasets python benchmarks/multimodal_k.py [--reclassify]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from poisonscan import ActivationClustering, scan
from poisonscan._io import write_json
from poisonscan.activations import extract_activations
from poisonscan.attacks import get_trigger, poison_dataset
from poisonscan.data.builtin import load_gtsrb
from poisonscan.experiments.signs import (SPEED_LIMIT_30, STICKER, STOP, sign_train_config,
                                          to_superclasses)
from poisonscan.models.io import ModelSpec
from poisonscan.models.nets import build_model, default_architecture
from poisonscan.train import train_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--ks", type=int, nargs="+", default=[2, 3, 4, 5])
    parser.add_argument("--reclassify", action="store_true")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" /
                                             "multimodal_k.json"))
    args = parser.parse_args()
    clean = load_gtsrb(args.data_dir)
    data = to_superclasses(poison_dataset(clean, get_trigger("patch", **STICKER),
                                          [(STOP, SPEED_LIMIT_30)], rate=0.25, seed=0))
    config = sign_train_config(0)
    start = time.perf_counter()
    spec = ModelSpec(default_architecture(data.x.shape[1:]), data.x.shape[1:], data.n_classes)
    model = build_model(spec.arch, spec.sample_shape, spec.n_classes, seed=config.seed)
    train_model(model, data.x, data.y, config, progress=False)
    acts = extract_activations(model, data.x, progress=False)
    out = {"run": "multimodal run 1: stop -> speed limit (super-class 0)",
           "train_extract_s": round(time.perf_counter() - start, 1), "k": {}}
    for k in args.ks:
        det = ActivationClustering(n_clusters=k, analysis="relative-size")
        det.fit_detect(acts, data.y)
        classes = []
        for cc in det.classes_:
            poison = data.is_poison[cc.indices]
            classes.append({"label": cc.label, "clusters": [
                {"size": int((cc.assignment == c).sum()),
                 "poison": int(poison[cc.assignment == c].sum())} for c in range(k)]})
        entry = {"classes": classes}
        if args.reclassify:
            result = scan(data, detector=ActivationClustering(n_clusters=k), model=model,
                          spec=spec, train_config=config, progress=False)
            ev = result.evaluation.overall
            entry.update(f1=ev.f1, precision=ev.precision, recall=ev.recall,
                         poisoned_classes=result.detection.poisoned_classes)
            entry["findings"] = [  # l/p is inf when no sample went to another class
                {"label": c.label, "size": cl.size, "is_poison": cl.is_poison,
                 "l_over_p": cl.statistic if np.isfinite(cl.statistic) else "inf"}
                for c in result.detection.classes for cl in c.clusters
                if cl.statistic is not None]
        out["k"][str(k)] = entry
        print(k, entry["classes"][0], {key: entry[key] for key in entry if key != "classes"},
              flush=True)
    write_json(args.out, out)


if __name__ == "__main__":
    main()
