"""Issue-5 benchmark: the detection stage at scale, from memory and from a memmap, against ART.

Generates seeded synthetic activations as memory-mapped ``.npy`` files under ``--tmp`` (never in
the repository) and times the detection stage (reduction, 2-means and the ``relative-size``
analysis; there is no model to retrain here) of poisonscan and, where installed, of IBM ART
1.20.1 (``cluster_activations`` + ``analyze_by_size``, the path of its ``ActivationDefence``).
Every configuration runs in a fresh subprocess, so its peak RSS (``VmHWM``) is its own.

Workloads (class c holds ReLU(mu_c + latent factors + noise), with 20% of its units dead;
``--rate`` of each class are poison: drawn around the *previous* class's mean plus a trigger):

- ``w1``: 1,000,000 x 512 float32 (2.05 GB), 10 classes of 100,000, 10% poison per class;
- ``w2``: 1,000 classes x 1,200 samples x 2,048 dims float32 (9.8 GB), 10% poison per class;
  ART (which keeps a per-class copy of everything in memory) runs on its first 100 classes,
  and so does a poisonscan run for comparison.

Also measures the machine: memory bandwidth (numpy sum and copy of a 2 GiB array) and matmul
GFLOP/s (float64/float32 gemm and syrk). Writes ``benchmarks/results/scale.json``.

    python benchmarks/scale.py                      # everything (about 15 minutes on 2 cores)
    python benchmarks/scale.py --workloads w1 --skip-art
    python benchmarks/scale.py --keep               # keep the generated arrays in --tmp
"""

from __future__ import annotations

import argparse
import hashlib
import json
import mmap
import os
import platform
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np

WORKLOADS = {
    "w1": {"n_classes": 10, "per_class": 100_000, "dim": 512},
    "w2": {"n_classes": 1000, "per_class": 1200, "dim": 2048},
}
SUBSET_CLASSES = 100  # classes of w2 given to ART (in memory) and to the matching poisonscan run


# -- data -------------------------------------------------------------------------------------
def generate(stem: Path, n_classes: int, per_class: int, dim: int, rate: float,
             seed: int) -> None:
    """Write ``stem.npy`` (N, dim) float32 activations and ``stem.labels.npz`` (y, is_poison)."""
    rng = np.random.default_rng(seed)
    n_poison = int(round(rate * per_class))
    y = np.repeat(np.arange(n_classes, dtype=np.int64), per_class)
    poison = np.tile(np.arange(per_class) < n_poison, n_classes)
    perm = rng.permutation(len(y))  # classes interleaved, as in a shuffled training set
    y, poison = y[perm], poison[perm]
    source = np.where(poison, (y - 1) % n_classes, y)
    mu = rng.normal(0.0, 1.0, size=(n_classes, dim)).astype(np.float32)
    mixing = rng.normal(0.0, 0.3, size=(4, dim)).astype(np.float32)  # 4 latent factors
    trigger = rng.normal(0.0, 1.0, size=dim).astype(np.float32)
    trigger *= 8.0 / np.linalg.norm(trigger)
    alive = rng.random((n_classes, dim)) >= 0.2  # 20% dead units per class
    out = np.lib.format.open_memmap(f"{stem}.npy.tmp", mode="w+", dtype=np.float32,
                                    shape=(len(y), dim))
    for start in range(0, len(y), 65536):
        sl = slice(start, min(start + 65536, len(y)))
        m = sl.stop - sl.start
        z = rng.standard_normal((m, dim), dtype=np.float32)
        z += mu[source[sl]]
        z += rng.standard_normal((m, len(mixing)), dtype=np.float32) @ mixing
        z[poison[sl]] += trigger
        np.maximum(z, 0.0, out=z)
        z *= alive[y[sl]]
        out[sl] = z
    out.flush()
    del out
    os.replace(f"{stem}.npy.tmp", f"{stem}.npy")
    np.savez(f"{stem}.labels.npz", y=y, is_poison=poison)


def workload(tmp: Path, name: str, rate: float, seed: int) -> Path:
    w = WORKLOADS[name]
    stem = tmp / f"{name}_{w['n_classes']}x{w['per_class']}x{w['dim']}_seed{seed}_rate{rate}"
    if not Path(f"{stem}.npy").exists():
        t = time.perf_counter()
        generate(stem, **WORKLOADS[name], rate=rate, seed=seed)
        print(f"generated {stem}.npy in {time.perf_counter() - t:.1f} s", flush=True)
    return stem


# -- one configuration, in its own process ---------------------------------------------------
def _peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    import resource  # noqa: PLC0415
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _load(stem: str, source: str, subset: int | None):
    labels = np.load(f"{stem}.labels.npz")
    y, truth = labels["y"], labels["is_poison"]
    acts = np.load(f"{stem}.npy", mmap_mode="r")
    if subset is not None:  # gather the subset's rows, releasing the mapped pages as we go
        rows = np.flatnonzero(y < subset)
        out = np.empty((len(rows), acts.shape[1]), dtype=acts.dtype)
        for start in range(0, len(rows), 8192):
            out[start:start + 8192] = acts[rows[start:start + 8192]]
            acts._mmap.madvise(mmap.MADV_DONTNEED)
        acts, y, truth = out, y[rows], truth[rows]
    elif source == "memory":
        acts = np.load(f"{stem}.npy")
    return acts, y, truth


def _children_peak_rss_mb() -> float:
    """Sum of the peak RSS of this process's live children (the detector's worker processes,
    used when there are many classes); 0 when there are none."""
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) != os.getpid():
                continue
            for line in (stat.parent / "status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total += int(line.split()[1]) / 1024
        except (OSError, ValueError, IndexError):
            continue
    return total


def _reset_peak_rss() -> bool:
    """Reset VmHWM to the current RSS (Linux: write 5 to /proc/self/clear_refs)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def _art(acts: np.ndarray, y: np.ndarray, reduce: str) -> np.ndarray:
    from art.defences.detector.poison.activation_defence import cluster_activations  # noqa
    from art.defences.detector.poison.clustering_analyzer import ClusteringAnalyzer  # noqa

    classes = np.unique(y)
    members = [np.flatnonzero(y == c) for c in classes]
    separated = [acts[m] for m in members]  # ART's segment_by_class: a copy per class
    clusters, _ = cluster_activations(separated, nb_clusters=2, nb_dims=10,
                                      reduce={"ica": "FastICA", "pca": "PCA"}[reduce])
    assigned_clean, _, _ = ClusteringAnalyzer().analyze_by_size(clusters)
    flagged = np.zeros(len(y), dtype=bool)
    for m, clean in zip(members, assigned_clean):
        flagged[m] = np.asarray(clean) == 0
    return flagged


def run_one(cfg: dict) -> dict:
    """Time one configuration; called in a fresh interpreter by :func:`main`."""
    rss_start = _peak_rss_mb()
    if cfg["tool"] == "poisonscan":
        import poisonscan.detect  # noqa: F401, PLC0415 (numpy, scipy, scikit-learn; not torch)
    rss_import = _peak_rss_mb()
    acts, y, truth = _load(cfg["stem"], cfg["source"], cfg.get("subset"))
    rss_loaded = _peak_rss_mb()
    reset = _reset_peak_rss()  # so the peak below is that of the detection stage
    cpu = os.times()
    t = time.perf_counter()
    if cfg["tool"] == "art":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            flagged = _art(acts, y, cfg["reduce"])
    else:
        from poisonscan import ActivationClustering  # noqa: PLC0415
        extra = {"restart_sample_size": cfg["restart_sample_size"]} \
            if "restart_sample_size" in cfg else {}
        det = ActivationClustering(reduce=cfg["reduce"], analysis="relative-size", **extra)
        flagged = det.fit_detect(acts, y, chunk_rows=cfg.get("chunk_rows")).is_poison
    wall = time.perf_counter() - t
    cpu_end = os.times()
    cpu_s = (cpu_end.user - cpu.user) + (cpu_end.system - cpu.system)
    tp = int(np.sum(truth & flagged))
    precision = tp / max(1, int(flagged.sum()))
    recall = tp / max(1, int(truth.sum()))
    f1 = 2 * precision * recall / (precision + recall) if tp else 0.0
    idx = np.flatnonzero(flagged).astype(np.int64)
    return {**{k: v for k, v in cfg.items() if k != "stem"}, "wall_s": round(wall, 3),
            "cpu_s": round(cpu_s, 2),
            "peak_rss_mb": round(_peak_rss_mb(), 1),
            "children_peak_rss_mb": round(_children_peak_rss_mb(), 1),
            "peak_rss_is_detection_only": reset,
            "rss_start_mb": round(rss_start, 1), "rss_after_import_mb": round(rss_import, 1),
            "rss_after_load_mb": round(rss_loaded, 1),
            "n_samples": int(len(y)), "n_flagged": int(flagged.sum()),
            "precision": round(precision, 6), "recall": round(recall, 6), "f1": round(f1, 6),
            "flagged_sha": hashlib.sha256(idx.tobytes()).hexdigest()[:16]}


def phases(stem: str) -> dict:
    """Core-seconds per phase of poisonscan's ICA detection on ``stem``, single-threaded.

    Thread CPU time (not wall time), so other load on the machine barely changes it; an idle
    machine with T cores needs about (sum of the parallel phases) / T seconds.
    """
    import poisonscan.detect.cluster as cl  # noqa: PLC0415
    import poisonscan.detect.detector as dm  # noqa: PLC0415
    import poisonscan.detect.gram as gm  # noqa: PLC0415
    import poisonscan.detect.stream as st  # noqa: PLC0415

    spent: dict[str, float] = {}

    def add(key: str, t: float) -> None:
        spent[key] = spent.get(key, 0.0) + time.thread_time() - t

    def timed(owner, name: str, key: str) -> None:
        inner = getattr(owner, name)

        def wrapper(*a, **k):
            t = time.thread_time()
            try:
                return inner(*a, **k)
            finally:
                add(key, t)
        setattr(owner, name, wrapper)

    def timed_generator(owner, name: str, key: str) -> None:  # time spent producing items
        inner = getattr(owner, name)

        def wrapper(*a, **k):
            items = inner(*a, **k)
            while True:
                t = time.thread_time()
                try:
                    item = next(items)
                except StopIteration:
                    return
                finally:
                    add(key, t)
                yield item
        setattr(owner, name, wrapper)

    timed_generator(st, "_chunk_segments", "gather each chunk's rows by class (both passes)")
    timed(gm.ClassGrams, "add", "pass 1 per class: dead-unit check, shift, float32 Gram matmul")
    timed(st, "eigh", "eigh")
    timed(cl, "two_means_restarts", "k-means restarts (50, batched 2-means, 5,000 samples)")
    timed(cl.KMeans, "fit", "k-means refinement on all samples (scikit-learn)")
    timed(dm.ActivationClustering, "_screen", "of which restarts beside pass 2 (in the reduction)")
    margin = cl.ClassClusters.__dict__["margin"]  # a cached_property: time the function it caches
    timed(margin, "func", "margins (score)")
    timed(cl, "silhouette_samples", "silhouettes (5,000 per class)")
    timed(dm, "reduce_classes", "reduction total")
    acts = np.load(f"{stem}.npy")
    y = np.load(f"{stem}.labels.npz")["y"]
    t = time.thread_time()
    from threadpoolctl import threadpool_limits  # noqa: PLC0415
    with threadpool_limits(limits=1):
        dm.ActivationClustering(analysis="relative-size").fit_detect(acts, y, n_jobs=1)
    spent["detection total"] = time.thread_time() - t
    spent["pass 2 projection (rest of the reduction)"] = spent["reduction total"] - sum(
        v for k, v in spent.items() if k.startswith(("gather", "pass 1", "eigh", "of which")))
    return {k: round(v, 2) for k, v in spent.items()}


def hardware() -> dict:
    """Memory bandwidth and matmul throughput of this machine, measured with numpy/BLAS."""
    from scipy.linalg.blas import dsyrk, ssyrk  # noqa: PLC0415

    def best(f, reps=3):
        f()
        return min(_timed(f) for _ in range(reps))

    a = np.ones(2**28)  # 2 GiB float64
    b = np.empty_like(a)
    out = {"sum_GBps": round(a.nbytes / best(a.sum) / 1e9, 1),
           "copy_GBps": round(2 * a.nbytes / best(lambda: np.copyto(b, a)) / 1e9, 1)}
    del a, b
    rng = np.random.default_rng(0)
    for dt, syrk in ((np.float64, dsyrk), (np.float32, ssyrk)):
        x = rng.standard_normal((65536, 512)).astype(dt)
        out[f"gemm_{dt.__name__}_GFLOPs"] = round(2 * 65536 * 512**2 / best(lambda: x.T @ x)
                                                  / 1e9, 1)
        c = np.zeros((512, 512), dtype=dt, order="F")
        out[f"syrk_{dt.__name__}_GFLOPs"] = round(  # real flops: n D (D + 1)
            65536 * 512 * 513 / best(lambda: syrk(1.0, x.T, beta=1.0, c=c, overwrite_c=1))
            / 1e9, 1)
    return out


def _timed(f) -> float:
    t = time.perf_counter()
    f()
    return time.perf_counter() - t


# -- driver -----------------------------------------------------------------------------------
def configurations(stems: dict[str, Path], skip_art: bool) -> list[dict]:
    cfgs: list[dict] = []
    if "w1" in stems:
        s = str(stems["w1"])
        cfgs += [{"workload": "w1", "tool": "poisonscan", "reduce": "ica", "source": src,
                  "stem": s} for src in ("memory", "memmap")]
        cfgs += [{"workload": "w1", "tool": "poisonscan", "reduce": "ica", "source": "memmap",
                  "stem": s, "chunk_rows": 1000},
                 {"workload": "w1", "tool": "poisonscan", "reduce": "pca", "source": "memmap",
                  "stem": s},
                 {"workload": "w1", "tool": "poisonscan", "reduce": "ica", "source": "memmap",
                  "stem": s, "restart_sample_size": 0}]  # every restart on all samples
        if not skip_art:
            cfgs += [{"workload": "w1", "tool": "art", "reduce": r, "source": "memory",
                      "stem": s} for r in ("pca", "ica")]
    if "w2" in stems:
        s = str(stems["w2"])
        cfgs.append({"workload": "w2", "tool": "poisonscan", "reduce": "ica", "source": "memmap",
                     "stem": s})
        sub = {"workload": f"w2[:{SUBSET_CLASSES} classes]", "source": "memory", "stem": s,
               "subset": SUBSET_CLASSES}
        cfgs.append({**sub, "tool": "poisonscan", "reduce": "ica"})
        if not skip_art:
            cfgs += [{**sub, "tool": "art", "reduce": r} for r in ("pca", "ica")]
    return cfgs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workloads", nargs="+", default=["w1", "w2"], choices=list(WORKLOADS))
    parser.add_argument("--tmp", default="/tmp/poisonscan-scale")
    parser.add_argument("--rate", type=float, default=0.10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-art", action="store_true")
    parser.add_argument("--repeats", type=int, default=3,
                        help="fresh-process runs of each poisonscan configuration; the run of "
                             "median wall time is reported, with all wall times")
    parser.add_argument("--keep", action="store_true", help="keep the generated arrays")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "scale.json"))
    parser.add_argument("--phases", action="store_true",
                        help="only add the single-threaded phase profile of w1 to --out")
    parser.add_argument("--smoke", action="store_true",
                        help="tiny workloads (1/100 of the samples, 1/8 of the width) to test "
                             "the script; never writes --out")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # internal: one configuration (JSON)
    args = parser.parse_args()
    if args.smoke:
        for w in WORKLOADS.values():
            w["per_class"] //= 100
            w["dim"] //= 8
        args.tmp = str(Path(args.tmp) / "smoke")
    if args.one:
        print(json.dumps(run_one(json.loads(args.one))), flush=True)
        return
    try:
        import art  # noqa: F401, PLC0415
        art_version = art.__version__
    except ImportError:
        art_version = None
    tmp = Path(args.tmp)
    tmp.mkdir(parents=True, exist_ok=True)
    if args.phases:
        stem = workload(tmp, "w1", args.rate, args.seed)
        code = f"import json, scale; print(json.dumps(scale.phases({str(stem)!r})))"
        prof = json.loads(_child(["-c", code]).splitlines()[-1])
        from poisonscan._io import write_json  # noqa: PLC0415
        old = json.loads(Path(args.out).read_text()) if Path(args.out).exists() else {}
        write_json(args.out, {**old, "phases_w1_ica_core_s": {
            **prof, "note": "thread CPU seconds, one thread, in-memory w1 (python "
                            "benchmarks/scale.py --phases)",
            "loadavg": [round(v, 2) for v in os.getloadavg()]}})
        print(json.dumps(prof))
        return
    load_before = os.getloadavg()
    busy = _other_busy_processes()
    hw = json.loads(_child(["-c", "import json, scale; print(json.dumps(scale.hardware()))"]))
    print(json.dumps({"hardware": hw}), flush=True)
    stems = {w: workload(tmp, w, args.rate, args.seed) for w in args.workloads}
    runs = []
    for cfg in configurations(stems, args.skip_art or art_version is None):
        reps = args.repeats if cfg["tool"] == "poisonscan" else 1  # ART's FastICA takes minutes
        done = [json.loads(_child([__file__, "--one", json.dumps(cfg)]).splitlines()[-1])
                for _ in range(reps)]
        median = sorted(done, key=lambda r: r["wall_s"])[len(done) // 2]
        file_mib = Path(f"{cfg['stem']}.npy").stat().st_size / 2**20  # peak RSS is in MiB too
        runs.append({**median, "repeats": reps, "wall_s_repeats": [r["wall_s"] for r in done],
                     "peak_rss_over_file": round(median["peak_rss_mb"] / file_mib, 3),
                     "peak_rss_mb_max": max(r["peak_rss_mb"] for r in done),
                     "flagged_sha_repeats": sorted({r["flagged_sha"] for r in done})})
        print(json.dumps(runs[-1]), flush=True)
    from poisonscan._io import write_json  # noqa: PLC0415
    import sklearn  # noqa: PLC0415
    write_json(args.out if not args.smoke else Path(args.tmp) / "scale.json", {
        "benchmark": "scale", "rate": args.rate, "seed": args.seed,
        "workloads": {w: {**WORKLOADS[w], "file_bytes": Path(f"{stems[w]}.npy").stat().st_size}
                      for w in stems},
        "detection_stage": "reduce + 2-means + relative-size analysis (no retraining)",
        "art": art_version or "not installed: skipped",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "numpy": np.__version__, "scikit-learn": sklearn.__version__,
                    "loadavg_before": [round(v, 2) for v in load_before],
                    "loadavg_after": [round(v, 2) for v in os.getloadavg()],
                    "other_processes_at_start": busy, **hw},
        "runs": runs,
    })
    if not args.keep:
        for stem in stems.values():
            for suffix in (".npy", ".labels.npz"):
                Path(f"{stem}{suffix}").unlink(missing_ok=True)


def _other_busy_processes() -> list[str]:
    """Other processes using > 20% CPU at the start (the timings assume an idle machine)."""
    try:
        ps = subprocess.run(["ps", "-eo", "pid,pcpu,args"], capture_output=True, text=True).stdout
    except OSError:
        return []
    rows = [line.split(None, 2) for line in ps.splitlines()[1:]]
    return [f"{r[1]}% {r[2][:100]}" for r in rows
            if len(r) == 3 and int(r[0]) != os.getpid() and float(r[1]) > 20]


def _child(argv: list[str]) -> str:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent),
                                                         os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, *argv], check=True, capture_output=True, text=True,
                          env=env).stdout


if __name__ == "__main__":
    main()
