"""Batch size of inference (activation extraction and prediction) on the CPU.

For each architecture, times ``extract_activations`` on 10,000 random inputs at batch sizes
1024 down to 64, checks that every batch size gives bit-identical activations and predictions,
and writes ``benchmarks/results/inference_batch.json``. On this 2-core machine, batches of
1,024 were up to twice as slow as batches of 128 (the colour CNN), with identical outputs, so
poisonscan infers in batches of ``INFERENCE_BATCH`` = 128.

    python benchmarks/inference_batch.py
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from poisonscan._io import write_json
from poisonscan.activations import extract_activations
from poisonscan.models.nets import build_model
from poisonscan.train import predict

SHAPES = {"cnn": (28, 28), "color-cnn": (32, 32, 3), "mlp": (64,), "textcnn": (50,)}
BATCHES = (1024, 512, 256, 128, 64)


def inputs(arch: str, n: int, rng: np.random.Generator) -> np.ndarray:
    shape = SHAPES[arch]
    if arch == "textcnn":
        return rng.integers(0, 5000, (n, *shape)).astype(np.int64)
    if arch == "mlp":
        return rng.random((n, *shape)).astype(np.float32)
    return rng.integers(0, 256, (n, *shape), dtype=np.uint8)


def main() -> None:
    rng = np.random.default_rng(0)
    out: dict = {"n": 10_000, "threads": torch.get_num_threads(), "architectures": {}}
    for arch in SHAPES:
        model = build_model(arch, SHAPES[arch], 10, seed=0,
                            **({"vocab_size": 5000} if arch == "textcnn" else {}))
        x = inputs(arch, out["n"], rng)
        ref_acts, ref_pred = extract_activations(model, x, batch_size=BATCHES[0]), predict(
            model, x, batch_size=BATCHES[0])
        rows = []
        for bs in BATCHES:
            start = time.perf_counter()
            acts = extract_activations(model, x, batch_size=bs)
            seconds = time.perf_counter() - start
            rows.append({"batch_size": bs, "extract_s": round(seconds, 3),
                         "identical_activations": bool(np.array_equal(acts, ref_acts)),
                         "identical_predictions": bool(np.array_equal(
                             predict(model, x, batch_size=bs), ref_pred))})
        out["architectures"][arch] = rows
        print(arch, [(r["batch_size"], r["extract_s"]) for r in rows],
              all(r["identical_activations"] and r["identical_predictions"] for r in rows))
    write_json(Path(__file__).parent / "results" / "inference_batch.json", out)


if __name__ == "__main__":
    main()
