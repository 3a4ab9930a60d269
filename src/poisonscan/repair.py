"""Repairing a model after detection: relabel the poison and continue training, or remove it.

``relabel`` (the paper's method) gives every flagged sample the suspected source class found by
exclusionary reclassification, then continues training the already-trained model. To keep this
much cheaper than retraining, the continued training runs over the relabelled samples plus a seeded
*replay* of ``replay`` times as many unflagged samples (so the model does not drift away from
the clean data); flagged samples without a suspected source are dropped. If the model then
reads clearly fewer unflagged samples as their label than before (:data:`DISTURBANCE`), it
trains a few more epochs over the same samples (``settle_epochs``). ``remove`` drops the
flagged samples and retrains from scratch.
"""

from __future__ import annotations

import copy
import time
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
from torch import nn

from ._validation import check_choice, check_int, check_real
from .data.dataset import Dataset
from .errors import InputError
from .models.io import ModelSpec
from .models.nets import build_model
from .train import TrainConfig, model_metrics, predict, train_model

__all__ = ["AGREEMENT", "DEFAULT_REPLAY", "DEFAULT_SETTLE_EPOCHS", "DISTURBANCE", "UNFLAGGED_CHECK",
           "RepairResult", "corrected_dataset", "corrected_labels", "model_metrics", "repair",
           "repair_warning"]


@dataclass(frozen=True)
class RepairResult:
    """The repaired model and what it cost.

    ``epochs_run`` counts the repair's epochs, with any run to settle a disturbed model
    (``settle_epochs``). ``before``/``after``/``scratch`` hold ``test_accuracy`` and
    ``attack_success_rate`` (where the data has those test sets) of the scanned model, the
    repaired model, and a model trained from scratch on the same corrected data;
    ``repair_s``/``scratch_s`` are wall seconds.
    Where flagged samples have a suspected source, each also holds ``flagged_as_source_rate``:
    the share of them that the model puts in that source class. Each also holds
    ``unflagged_as_label_rate``: the share of the unflagged training samples (up to
    :data:`UNFLAGGED_CHECK` of them, drawn once) that the model puts in their label. Neither
    needs a test set: together they say whether the repair moved the flagged samples without
    disturbing what the model knew of the rest.
    """

    mode: str
    model: nn.Module
    n_flagged: int
    n_relabelled: int
    n_removed: int
    repair_s: float
    before: dict[str, float] = field(default_factory=dict)
    after: dict[str, float] = field(default_factory=dict)
    scratch: dict[str, float] | None = None
    scratch_s: float | None = None
    epochs_run: int = 0

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("model")
        d["repair_vs_scratch_time"] = (self.repair_s / self.scratch_s
                                       if self.scratch_s else None)
        return d


def corrected_labels(labels: np.ndarray, flagged: np.ndarray,
                     suspected_source: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Labels with flagged samples set to their suspected source; and the (N,) keep mask.

    Flagged samples whose suspected source is unknown (-1) are not kept.
    """
    y = labels.copy()
    relabel = flagged & (suspected_source >= 0)
    y[relabel] = suspected_source[relabel]
    return y, ~(flagged & ~relabel)


def corrected_dataset(data: Dataset, flagged: np.ndarray, suspected_source: np.ndarray, *,
                      mode: str = "relabel") -> Dataset:
    """The training set that ``repair`` (and its from-scratch comparison) trains on.

    ``relabel``: the flagged samples get their suspected source class, and those without one
    are left out; ``remove``: the flagged samples are left out. Per-sample fields (``files``,
    ``raw_text``, ground truth) follow their samples; test sets and names are kept.
    ``flagged`` is (N,) bool and ``suspected_source`` (N,) int (-1: unknown).
    """
    flagged, suspected_source = _detection(data, flagged, suspected_source)
    y, keep = _corrected(data.y, flagged, suspected_source, mode)
    return data.take(keep, y=y)


def _detection(data: Dataset, flagged: np.ndarray,
               suspected_source: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    flagged = np.asarray(flagged, dtype=bool)
    suspected_source = np.asarray(suspected_source, dtype=np.int64)
    if flagged.shape != data.y.shape or suspected_source.shape != data.y.shape:
        raise InputError(f"the detection covers {len(flagged)} samples but the data has "
                         f"{len(data.y)}; repair needs the scan of this very dataset.")
    return flagged, suspected_source


def _corrected(labels: np.ndarray, flagged: np.ndarray, suspected_source: np.ndarray,
               mode: str) -> tuple[np.ndarray, np.ndarray]:
    """Labels and (N,) keep mask of the corrected training set, for ``mode``."""
    check_choice("mode", mode, ["relabel", "remove"])
    if mode == "remove":
        return labels, ~flagged
    if flagged.any() and not (suspected_source[flagged] >= 0).any():
        raise InputError("relabel needs the suspected source class of the flagged samples, "
                         "and this scan names none (relative-size and silhouette do not); "
                         "use --mode remove (mode='remove') to retrain without them.")
    return corrected_labels(labels, flagged, suspected_source)


#: At most this many unflagged training samples are read by each model for
#: ``unflagged_as_label_rate`` (enough for a share within about 1 point).
UNFLAGGED_CHECK = 10_000

#: Unflagged samples replayed per relabelled one: enough clean data to hold the clean accuracy,
#: while the repair's cost stays proportional to the number of flagged samples.
DEFAULT_REPLAY = 1.0

#: A repaired model that reads this much fewer unflagged samples as their label than the
#: scanned model did (a share, 0.05 = 5 points) has been disturbed: ``relabel`` trains on for up
#: to ``settle_epochs`` more epochs, and :func:`repair_warning` speaks up if it stays so.
DISTURBANCE = 0.05

#: A repaired model that reads fewer of the flagged samples than this as their suspected
#: source disagrees with the repair (:func:`repair_warning`).
AGREEMENT = 0.5

#: Extra epochs ``relabel`` may train while the model is disturbed (see :data:`DISTURBANCE`).
DEFAULT_SETTLE_EPOCHS = 2


def repair(
    model: nn.Module,
    spec: ModelSpec,
    data: Dataset,
    flagged: np.ndarray,
    suspected_source: np.ndarray,
    *,
    mode: str = "relabel",
    config: TrainConfig = TrainConfig(epochs=1),
    scratch_config: TrainConfig | None = TrainConfig(epochs=3),
    replay: float = DEFAULT_REPLAY,
    settle_epochs: int = DEFAULT_SETTLE_EPOCHS,
    progress: bool = True,
) -> RepairResult:
    """Repair ``model`` (left unmodified; a copy is trained) given the detection.

    Parameters
    ----------
    model, spec
        The scanned model and its spec.
    data
        The training data that was scanned (with test sets for the metrics).
    flagged
        (N,) bool, the detection.
    suspected_source
        (N,) int suspected true class of each flagged sample, -1 when unknown. ``relabel``
        needs it for at least one flagged sample; the others are left out of the continued
        training (they stay in what the model already learned: ``remove`` retrains without).
    mode
        ``"relabel"`` or ``"remove"``.
    config
        Training settings of the repair: continued training for ``relabel``, training from
        scratch for ``remove``.
    scratch_config
        When given, also train a fresh model from scratch on the corrected data with these
        settings, for comparison (metrics and wall time). None skips it. With ``remove`` and
        ``scratch_config == config`` the repair is that training, so it is not run twice.
    replay
        ``relabel`` only: unflagged samples replayed per relabelled sample.
    settle_epochs
        ``relabel`` only: while the repaired model reads more than :data:`DISTURBANCE` fewer
        unflagged samples as their label than the scanned model did, train up to this many
        more epochs over the same samples. When the relabelled samples all go back to one
        class, one epoch can pull the whole model towards it (measured on Rotten Tomatoes,
        ``docs/verdicts.md``); another epoch over the same samples settles it. 0: never.
    progress
        Show progress bars.
    """
    check_real("replay", replay, low=0.0)
    check_int("settle_epochs", settle_epochs, low=0)
    flagged, suspected_source = _detection(data, flagged, suspected_source)
    y, keep = _corrected(data.y, flagged, suspected_source, mode)
    known = np.flatnonzero(flagged & (suspected_source >= 0))
    unflagged = np.flatnonzero(~flagged)
    if len(unflagged) > UNFLAGGED_CHECK:  # its own generator: the replay's draws stay the same
        unflagged = np.sort(np.random.default_rng([config.seed, 1]).choice(
            unflagged, UNFLAGGED_CHECK, replace=False))

    def agreement(m: nn.Module) -> float:
        return float(np.mean(predict(m, data.x[unflagged]) == data.y[unflagged]))

    def metrics(m: nn.Module, agreed: float | None = None) -> dict[str, float]:
        """The figures of ``m``; ``agreed``: its agreement, when measured already."""
        out = model_metrics(m, data)
        if len(known):
            read = predict(m, data.x[known])
            out["flagged_as_source_rate"] = float(np.mean(read == suspected_source[known]))
        if len(unflagged):
            out["unflagged_as_label_rate"] = agreement(m) if agreed is None else agreed
        return out

    before = metrics(model)

    start = time.perf_counter()
    checked = None  # the repaired model's agreement, measured by the settle check
    if mode == "relabel":
        relabelled = np.flatnonzero(flagged & keep)
        rng = np.random.default_rng(config.seed)
        others = np.flatnonzero(~flagged)
        n_replay = min(len(others), int(round(replay * len(relabelled))))
        subset = np.sort(np.concatenate([relabelled, rng.choice(others, n_replay, replace=False)]))
        repaired = copy.deepcopy(model)
        if len(relabelled):
            train_model(repaired, data.x[subset], y[subset], config, progress=progress,
                        desc="repair")
            floor = before.get("unflagged_as_label_rate", 0.0) - DISTURBANCE
            checked = agreement(repaired) if settle_epochs and len(unflagged) else None
            extra = 0
            while checked is not None and checked < floor and extra < settle_epochs:
                train_model(repaired, data.x[subset], y[subset],
                            replace(config, epochs=1, seed=config.seed + 1 + extra),
                            progress=progress, desc="settle")
                extra += 1
                checked = agreement(repaired)
            epochs_run = config.epochs + extra
        else:
            epochs_run = 0
    else:
        repaired = build_model(spec.arch, spec.sample_shape, spec.n_classes, seed=config.seed,
                               vocab_size=spec.vocab_size)
        train_model(repaired, data.x[keep], y[keep], config, progress=progress, desc="repair")
        epochs_run = config.epochs
    repair_s = time.perf_counter() - start
    after = metrics(repaired, agreed=checked)

    scratch = scratch_s = None
    if mode == "remove" and scratch_config == config:  # that very training, seeded: not twice
        scratch, scratch_s = dict(after), repair_s
    elif scratch_config is not None:
        start = time.perf_counter()
        fresh = build_model(spec.arch, spec.sample_shape, spec.n_classes,
                            seed=scratch_config.seed, vocab_size=spec.vocab_size)
        train_model(fresh, data.x[keep], y[keep], scratch_config, progress=progress,
                    desc="scratch")
        scratch_s = time.perf_counter() - start
        scratch = metrics(fresh)
    return RepairResult(mode=mode, model=repaired, n_flagged=int(flagged.sum()),
                        n_relabelled=int((flagged & keep).sum()) if mode == "relabel" else 0,
                        n_removed=int((~keep).sum()), repair_s=repair_s, before=before,
                        after=after, scratch=scratch, scratch_s=scratch_s,
                        epochs_run=epochs_run)


def repair_warning(before: dict[str, float], after: dict[str, float]) -> str | None:
    """A one-line warning when the repair looks wrong, else None.

    ``before``/``after`` are :class:`RepairResult`'s figures. Two things are checked, without
    a test set:

    - the repaired model reads fewer than :data:`AGREEMENT` of the flagged samples as their
      suspected source: it disagrees with the relabelling (or, after ``remove``, a model that
      never saw them reads them as their own label), so many of them may be clean;
    - continued training on a small set of relabelled samples pulled the whole model towards
      their new labels: the unflagged samples' agreement with their labels fell by more than
      :data:`DISTURBANCE`.
    """
    warnings = []
    read = after.get("flagged_as_source_rate")
    if read is not None and read < AGREEMENT:
        warnings.append(f"the repaired model reads only {read:.1%} of the flagged samples as "
                        "their suspected source: it disagrees with the relabelling, and many of "
                        "them may be clean. Check the scan's report before using this model")
    b, a = before.get("unflagged_as_label_rate"), after.get("unflagged_as_label_rate")
    if b is not None and a is not None and b - a > DISTURBANCE:
        warnings.append(f"the repaired model reads {a:.1%} of the unflagged samples as their "
                        f"label, the scanned model {b:.1%}: the repair disturbed what the model "
                        "knew. Try more --epochs or a larger --replay, or --mode remove")
    return "; ".join(warnings) + "." if warnings else None
