"""The scan pipeline: train (or load) a model, extract activations, detect.

This is the library's one-call entry point; the ``poisonscan scan`` command is a thin wrapper.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np
from torch import nn

from .activations import extract_activations, resolve_layer
from .cache import cached_activations
from .data.dataset import Dataset
from .detect.cluster import ClassClusters
from .detect.detector import ActivationClustering
from .detect.result import DetectionResult
from .errors import InputError
from .fit import Fit, fit_model
from .metrics import Evaluation, evaluate_detection
from .models.io import ModelSpec
from .models.nets import build_model, default_architecture
from .train import TrainConfig, model_metrics, predict, train_model

__all__ = ["ScanResult", "scan", "make_reclassifier"]


@dataclass(eq=False)
class ScanResult:
    """Everything a scan produced.

    Attributes
    ----------
    detection
        The detector's result.
    model, spec
        The model that was scanned (trained here or loaded) and how to rebuild it.
    activations
        (N, D) float32 activations of the training samples.
    layer
        The layer the activations were read from.
    timings
        Wall seconds per stage: ``train``, ``extract``, ``detect`` (which includes
        ``reclassify``, the retraining of exclusionary reclassification), ``total``.
    model_metrics
        ``test_accuracy`` and ``attack_success_rate`` where the data has those test sets.
    evaluation
        Detection metrics, when the data has ``is_poison``.
    clusters
        The per-class clusterings (reduced activations, assignments, centres), for plots.
    fit
        How the model was trained and whether it is fit to be judged (None for a given model).
        When it is not, the scan is inconclusive: every poison cluster was made suspicious.
    """

    detection: DetectionResult
    model: nn.Module
    spec: ModelSpec
    activations: np.ndarray
    layer: str
    timings: dict[str, float] = field(default_factory=dict)
    model_metrics: dict[str, float] = field(default_factory=dict)
    evaluation: Evaluation | None = None
    clusters: list[ClassClusters] = field(default_factory=list)
    fit: Fit | None = None

    @property
    def verdict(self) -> str:
        """The scan's verdict: ``"inconclusive"`` when the model was not fit to be judged,
        else ``"poisoned"``, ``"suspicious"`` or ``"clean"`` as its worst class."""
        if self.fit is not None and self.fit.adequate is False:
            return "inconclusive"
        if self.detection.poisoned_classes:
            return "poisoned"
        return "suspicious" if self.detection.suspicious_classes else "clean"


def make_reclassifier(data: Dataset, spec: ModelSpec, config: TrainConfig, *,
                      progress: bool = False, timings: dict[str, float] | None = None):
    """A reclassifier for exclusionary reclassification: a fresh model trained on ``keep``.

    The new model has the scanned model's architecture and ``config``'s training settings.
    """

    def reclassify(keep: np.ndarray, query: np.ndarray) -> np.ndarray:
        start = time.perf_counter()
        fresh = build_model(spec.arch, spec.sample_shape, spec.n_classes, seed=config.seed,
                            vocab_size=spec.vocab_size)
        train_model(fresh, data.x[keep], data.y[keep], config, progress=progress,
                    desc="reclassify")
        out = predict(fresh, data.x[query])
        if timings is not None:
            timings["reclassify"] = timings.get("reclassify", 0.0) + time.perf_counter() - start
        return out

    return reclassify


def scan(
    data: Dataset,
    *,
    detector: ActivationClustering | None = None,
    train_config: TrainConfig = TrainConfig(),
    arch: str | None = None,
    model: nn.Module | None = None,
    spec: ModelSpec | None = None,
    layer: str | None = None,
    progress: bool = True,
    cache_dir: str | os.PathLike[str] | None = None,
    cache_dtype: str = "float32",
    on_trained: Callable[[nn.Module, ModelSpec], None] | None = None,
) -> ScanResult:
    """Train a model on ``data`` (unless ``model`` is given), extract activations, detect poison.

    Parameters
    ----------
    data
        The (untrusted) training set.
    detector
        Detector to use; default ``ActivationClustering()`` with the paper's settings.
    train_config
        Training settings (default: until the held-out loss stops improving, with the model's
        adequacy measured; see :mod:`poisonscan.fit`), also used to retrain for exclusionary
        reclassification (for as many epochs as the scanned model trained).
    arch
        Architecture name (default: from the sample shape).
    model, spec
        A trained model and its :class:`ModelSpec` to scan instead of training one.
    layer
        Layer to read (default: the last hidden layer).
    progress
        Show progress bars.
    cache_dir
        Folder for the activation cache (e.g. the scan's output folder): the activations are
        streamed into ``cache_dir/activations.npy`` (a memory map, so memory does not grow with
        N) and reused by a later scan of the same model, data and layer; see
        :func:`poisonscan.cache.cached_activations`. None (default): extract in memory.
    cache_dtype
        ``"float32"`` or ``"float16"``, the dtype of the cached activations.
    on_trained
        Called with the model and its spec as soon as it is trained (not when ``model`` is
        given), before the activations are read: ``poisonscan scan`` saves it there, so that
        an interrupted scan can go on from it (``--model``) instead of training again.
    """
    detector = detector if detector is not None else ActivationClustering()
    detector._validate_params()  # fail on bad options and data before any long work
    if model is not None:
        if spec is None:
            raise InputError("a model passed to scan() needs its ModelSpec.")
        if tuple(spec.sample_shape) != tuple(data.x.shape[1:]):
            raise InputError(f"the model expects samples of shape {tuple(spec.sample_shape)}; "
                             f"the data has {data.x.shape[1:]}.")
        if data.n_classes > spec.n_classes:
            raise InputError(f"labels out of range: the model has {spec.n_classes} classes, "
                             f"the data has labels up to {data.n_classes - 1}.")
    if detector.segment_by == "label":
        detector.check_segments(data.y)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    if model is None:
        spec = ModelSpec(arch or default_architecture(data.x.shape[1:], is_text=data.is_text),
                         data.x.shape[1:], data.n_classes,
                         vocab_size=len(data.vocab) if data.vocab is not None else None)
        model = build_model(spec.arch, spec.sample_shape, spec.n_classes,
                            seed=train_config.seed, vocab_size=spec.vocab_size)
        used_layer = resolve_layer(model, layer)[0]
        fit = fit_model(model, data.x, data.y, train_config, progress=progress)
        if on_trained is not None:
            on_trained(model, spec)
    else:
        used_layer, fit = resolve_layer(model, layer)[0], None
    timings["train"] = time.perf_counter() - t0

    t1 = time.perf_counter()
    if cache_dir is None:
        acts = extract_activations(model, data.x, layer=layer, progress=progress)
    else:
        acts = cached_activations(model, data.x, cache_dir, layer=layer, dtype=cache_dtype,
                                  progress=progress).array
    timings["extract"] = time.perf_counter() - t1

    t2 = time.perf_counter()
    predictions = predict(model, data.x) if detector.segment_by == "prediction" else None
    # retrain as long as the scanned model trained (auto: up to its best epoch), on all kept data
    retrain = train_config if train_config.epochs != "auto" or fit is None else replace(
        train_config, epochs=fit.retrain_epochs)
    reclassifier = make_reclassifier(data, spec, retrain, progress=progress, timings=timings)
    detection = detector.fit_detect(acts, data.y, predictions=predictions,
                                    reclassifier=reclassifier, progress=progress)
    if fit is not None and fit.adequate is False:
        detection = detection.downgraded("the model was not fit to be judged")
    timings["detect"] = time.perf_counter() - t2
    timings["total"] = time.perf_counter() - t0

    metrics = model_metrics(model, data)
    evaluation = (evaluate_detection(data.is_poison, detection.is_poison, data.y,
                                     clusters=detection.cluster, segments=predictions)
                  if data.is_poison is not None else None)
    return ScanResult(detection, model, spec, acts, used_layer, timings, metrics, evaluation,
                      detector.classes_, fit)
