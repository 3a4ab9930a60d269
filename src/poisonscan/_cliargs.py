"""The ``poisonscan`` command's arguments: one parser per subcommand, every option with its
default in its help text (the commands themselves are in :mod:`poisonscan.cli`)."""

from __future__ import annotations

import argparse

from . import __version__
from ._cliutil import column_names, epochs_value, floats, height_width, ints
from .attacks import TRIGGERS
from .attacks.text import DEFAULT_PHRASE
from .data.builtin import BUILTIN_DATASETS
from .detect import ANALYSES, REDUCERS, ActivationClustering
from .experiments import EXPERIMENTS
from .models import ARCHITECTURES
from .presets import PRESETS
from .repair import DEFAULT_REPLAY, DEFAULT_SETTLE_EPOCHS, DISTURBANCE
from .train import SCHEDULES, TrainConfig

__all__ = ["DATA_HELP", "build_parser"]

DATA_HELP = (f"a builtin dataset ({', '.join(BUILTIN_DATASETS)}), an .npz file, a UTF-8 "
             ".csv/.tsv text file with columns text,label (or --columns), or a folder of images "
             "with one subfolder per class")

_POISON_EXAMPLE = """example:
  poisonscan poison mnist --data-dir ../shared/datasets --attack pattern \\
      --rate 0.10 --mapping all-to-next --seed 0 --out poisoned.npz"""
_SCAN_EXAMPLE = """example:
  poisonscan scan poisoned.npz --out report/
  poisonscan scan mnist --data-dir ../shared/datasets --reduce pca --analysis silhouette --out r/"""
_REPAIR_EXAMPLE = """example:
  poisonscan repair poisoned.npz --scan report/ --out repaired/ --mode relabel"""
_REPRODUCE_EXAMPLE = """example:
  poisonscan reproduce mnist --data-dir ../shared/datasets --out results/mnist"""


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


def _add_columns(p: argparse.ArgumentParser, help: str = (
        "the text and label columns of a .csv/.tsv file (default text,label)")) -> None:
    p.add_argument("--columns", type=column_names, metavar="TEXT,LABEL", help=help)


def _add_preset(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument("--preset", default="default", choices=list(PRESETS),
                   help=f"{what}: " + "; ".join(f"{name}: {pre.description}"
                                                for name, pre in PRESETS.items())
                   + " (default %(default)s; options given explicitly win)")


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", metavar="FILE.toml",
                   help="TOML file of option values (keys as the long options without '--', "
                        "e.g. epochs = 5 or n-components = 8; a [COMMAND] table applies to that "
                        "command only); flags given on the command line win")
    p.add_argument("--data-dir", help="folder of the builtin datasets (default: $POISONSCAN_DATA)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars or summary")
    p.add_argument("--debug", action="store_true", help="show tracebacks of internal errors")


def _command(sub: argparse._SubParsersAction, name: str, help: str,
             example: str) -> argparse.ArgumentParser:
    """The parser of one subcommand; its ``--help`` ends with ``example``, kept as written."""
    return sub.add_parser(name, help=help, epilog=example, allow_abbrev=False,
                          formatter_class=argparse.RawDescriptionHelpFormatter)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    parser = _Parser(prog="poisonscan", allow_abbrev=False,
                     description="Find backdoor poison in a training set (Activation Clustering).")
    parser.add_argument("--version", action="version", version=f"poisonscan {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = _command(sub, "poison", "make a poisoned copy of a dataset (for evaluation)",
                 _POISON_EXAMPLE)
    p.add_argument("data", nargs="?", help=DATA_HELP)
    p.add_argument("--data", dest="data_option", metavar="DATA",
                   help="the same, as an option (as in earlier versions)")
    _add_image_size(p)
    _add_columns(p)
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
    p.add_argument("--phrase", default=DEFAULT_PHRASE,
                   help="text: the trigger phrase (default %(default)r)")
    p.add_argument("--phrase-position", default="random", choices=["random", "start", "end"],
                   help="text: where the phrase goes in each sentence (default %(default)s)")
    _add_common(p)

    s = _command(sub, "scan", "train, extract activations and detect poison",
                 _SCAN_EXAMPLE)
    s.add_argument("data", help=DATA_HELP)
    _add_image_size(s)
    _add_columns(s)
    s.add_argument("--out", required=True, help="output folder (report.json, flagged.csv, model)")
    s.add_argument("--model", help="scan this .safetensors model instead of training one")
    s.add_argument("--arch", choices=list(ARCHITECTURES), help="default: from the input shape")
    defaults = TrainConfig()
    _add_preset(s, "training recipe and verdict rule")
    s.add_argument("--epochs", type=epochs_value, default=None,
                   help="training epochs, or 'auto': until the loss on a held-out split stops "
                        f"improving, at most {defaults.max_epochs} (default: auto; 3 with "
                        "--preset paper)")
    s.add_argument("--holdout", type=float, default=None,
                   help="share of the data held out (stratified) to stop training and to check "
                        f"that the model is fit to be judged (default {defaults.holdout:g}; 0 "
                        "with --preset paper, which checks nothing)")
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
    s.add_argument("--fail-on-poison", action="store_true",
                   help="exit with status 3 when a class is called poisoned (a gate for CI "
                        "pipelines); the outputs are written as usual")
    s.add_argument("--fail-on-suspicious", action="store_true",
                   help="exit with status 3 also when a class is suspicious or the scan "
                        "inconclusive")
    _add_common(s)

    r = _command(sub, "repair", "relabel or remove the flagged samples and repair the model",
                 _REPAIR_EXAMPLE)
    r.add_argument("data", help="the dataset that was scanned: " + DATA_HELP)
    _add_image_size(r, "as given to the scan (default: the scan's --image-size)")
    _add_columns(r, "as given to the scan (default: the scan's --columns)")
    r.add_argument("--scan", required=True, help="output folder of 'poisonscan scan'")
    r.add_argument("--out", required=True, help="output folder (repair.json, model.safetensors)")
    r.add_argument("--include-suspicious", action="store_true",
                   help="also relabel or remove the samples of suspicious clusters (flagged.csv "
                        "rows with verdict 'suspicious'); by default only 'poisoned' ones")
    r.add_argument("--mode", default="relabel", choices=["relabel", "remove"],
                   help="relabel the flagged samples to their suspected source and continue "
                        "training, or remove them and retrain from scratch (default %(default)s)")
    r.add_argument("--epochs", type=int, default=None,
                   help="epochs of the repair (default: 1 for relabel, the scan's for remove)")
    r.add_argument("--replay", type=float, default=DEFAULT_REPLAY,
                   help="relabel: unflagged samples replayed per relabelled one "
                        "(default %(default)s)")
    r.add_argument("--settle-epochs", type=int, default=DEFAULT_SETTLE_EPOCHS,
                   help="relabel: extra epochs allowed while the repaired model reads more than "
                        f"{DISTURBANCE * 100:g} points fewer unflagged samples as their label "
                        "than the scanned model (default %(default)s; 0: none)")
    r.add_argument("--no-scratch", action="store_true",
                   help="skip the comparison with retraining from scratch")
    r.add_argument("--save-data", action="store_true",
                   help="also write the corrected training set to OUT/corrected.npz (relabelled "
                        "or without the flagged samples), to train on elsewhere")
    r.add_argument("--seed", type=int, default=0, help="seed of the training (default %(default)s)")
    _add_device(r)
    _add_common(r)

    x = _command(sub, "reproduce", "run one of the paper's experiments on real data",
                 _REPRODUCE_EXAMPLE)
    x.add_argument("name", choices=list(EXPERIMENTS), help="the experiment (see docs/results.md)")
    x.add_argument("--out", required=True, help="output folder (results.json, results.md)")
    x.add_argument("--seed", type=int, default=0,
                   help="seed of poisoning, training and clustering (default %(default)s)")
    x.add_argument("--preset", default="paper", choices=list(PRESETS),
                   help="the decision stage: 'paper' flags every cluster with l/p <= 1, as "
                        "docs/results was made; 'default' grades the verdicts. Each experiment "
                        "trains with its own (the paper's) recipe (default %(default)s)")
    _add_common(x)

    d = _command(sub, "demo", "poison, scan and summarise the embedded MNIST sample",
                 "example:\n  poisonscan demo --out demo-report/")
    d.add_argument("--out", default="poisonscan-demo", help="output folder (default %(default)s)")
    d.add_argument("--rate", type=float, default=0.10, help="poison rate (default 0.10)")
    d.add_argument("--seed", type=int, default=0, help="seed of everything (default %(default)s)")
    _add_common(d)
    return parser
