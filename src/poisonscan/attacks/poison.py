"""Poisoning a dataset for evaluation: triggered copies of source-class samples, relabelled.

Rate convention (as in the paper and IBM ART): ``rate`` is the fraction of each *target* class
that is poison after poisoning. Poison samples are triggered copies of randomly chosen
source-class samples, appended to the training set with the target label; the clean samples all
stay. A target class with ``n_t`` clean samples receives ``round(rate * n_t / (1 - rate))``
poison samples, split evenly over its source classes. ``rate=0`` returns a clean copy with an
all-false ``is_poison``.
"""

from __future__ import annotations

import numpy as np

from .._validation import check_real
from ..data.dataset import Dataset
from ..errors import InputError
from .triggers import Trigger

__all__ = ["parse_mapping", "poison_dataset"]


def parse_mapping(spec: str, n_classes: int) -> list[tuple[int, int]]:
    """Parse a source->target mapping into ``[(source, target), ...]``.

    ``"all-to-next"`` maps every label l to (l + 1) mod K; ``"S:T"`` one source to one target;
    ``"S1,S2:T"`` several sources to one target; several groups may be joined with ``;``.
    """
    spec = spec.strip()
    if spec == "all-to-next":
        return [(s, (s + 1) % n_classes) for s in range(n_classes)]
    pairs: list[tuple[int, int]] = []
    try:
        for group in filter(None, (g.strip() for g in spec.split(";"))):
            sources, target = group.split(":")
            t = int(target)
            pairs += [(int(s), t) for s in sources.split(",")]
    except ValueError:
        raise InputError(f"mapping must be 'all-to-next', 'S:T' or 'S1,S2:T' with integer "
                         f"classes; got {spec!r}.") from None
    if not pairs:
        raise InputError(f"mapping {spec!r} names no classes.")
    for s, t in pairs:
        if not (0 <= s < n_classes and 0 <= t < n_classes):
            raise InputError(f"mapping {spec!r} names class {s if not 0 <= s < n_classes else t}, "
                             f"but the dataset has classes 0..{n_classes - 1}.")
        if s == t:
            raise InputError(f"mapping {spec!r} maps class {s} to itself.")
    return pairs


def poison_dataset(
    data: Dataset,
    trigger: Trigger,
    mapping: list[tuple[int, int]],
    *,
    rate: float,
    seed: int = 0,
) -> Dataset:
    """Return a poisoned copy of ``data`` with ground truth filled in.

    Parameters
    ----------
    data
        Clean dataset; its arrays are not modified.
    trigger
        Function adding the trigger to a batch of samples (see :mod:`poisonscan.attacks.triggers`).
        A text trigger (:class:`~poisonscan.attacks.text.TextTrigger`) is first bound to the
        data's vocab, which gains the phrase's missing words.
    mapping
        ``(source, target)`` pairs, e.g. from :func:`parse_mapping`.
    rate
        Fraction of each target class that is poison after poisoning, in [0, 1).
    seed
        Seed for choosing which source samples are copied.

    Returns
    -------
    Dataset
        ``x``/``y`` with the poison appended (text: ``raw_text`` too, with the phrase inserted;
        image folders: ``files`` too, each copy named after its original),
        ``is_poison`` and ``source`` (true labels) filled;
        when ``data`` has a test set, ``x_test_poison``/``y_test_poison``/``source_test_poison``
        hold every source-class test image with the trigger and its target label.
    """
    rate = check_real("rate", rate, low=0.0, high=1.0, high_open=True)
    if hasattr(trigger, "bind"):  # a text trigger: add its phrase to the vocab, bind to it
        data, trigger = trigger.bind(data)
    rng = np.random.default_rng(seed)
    y = data.y
    truth = data.source if data.source is not None else y
    targets = sorted({t for _, t in mapping})
    chosen: list[np.ndarray] = []
    new_labels: list[np.ndarray] = []
    for t in targets:
        sources = [s for s, tt in mapping if tt == t]
        n_poison = int(round(rate * np.sum(y == t) / (1.0 - rate)))
        per_source = np.full(len(sources), n_poison // len(sources))
        per_source[: n_poison % len(sources)] += 1
        for s, k in zip(sources, per_source):
            pool = np.flatnonzero((y == s) & (truth == s))
            if k > len(pool):
                raise InputError(f"rate {rate} needs {k} poison samples from class {s} for "
                                 f"target {t}, but class {s} has only {len(pool)} samples.")
            chosen.append(np.sort(rng.choice(pool, size=k, replace=False)))
            new_labels.append(np.full(k, t, dtype=np.int64))
    idx = np.concatenate(chosen) if chosen else np.zeros(0, dtype=np.int64)
    poison_y = np.concatenate(new_labels) if new_labels else np.zeros(0, dtype=np.int64)
    base_poison = data.is_poison if data.is_poison is not None else np.zeros(len(y), bool)
    fields: dict[str, object] = {
        "x": np.concatenate([data.x, trigger(data.x[idx])]) if len(idx) else data.x.copy(),
        "y": np.concatenate([y, poison_y]),
        "is_poison": np.concatenate([base_poison, np.ones(len(idx), bool)]),
        "source": np.concatenate([truth, truth[idx]]),
        "name": f"{data.name}-poisoned",
    }
    if data.raw_text is not None:  # text: the poison copies' sentences, with the phrase shown
        raw = (trigger.apply_text(data.raw_text[idx], data.x[idx])
               if hasattr(trigger, "apply_text") else data.raw_text[idx])
        fields["raw_text"] = np.concatenate([data.raw_text, raw])
    if data.files is not None:  # the copies have no file of their own: name their original
        fields["files"] = np.concatenate([data.files,
                                          np.char.add("poisoned copy of ", data.files[idx])])
    if data.x_test is not None and data.y_test is not None and rate > 0:
        test_idx = np.concatenate([np.flatnonzero(data.y_test == s) for s, _ in mapping])
        test_target = np.concatenate([np.full(np.sum(data.y_test == s), t) for s, t in mapping])
        fields.update(x_test_poison=trigger(data.x_test[test_idx]), y_test_poison=test_target,
                      source_test_poison=data.y_test[test_idx])
    return data.replace(**fields)
