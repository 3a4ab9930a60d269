"""poisonscan: find backdoor poison in a training set with Activation Clustering.

The public names below are imported on first use (PEP 562), so ``import poisonscan.detect``
(or ``from poisonscan import ActivationClustering``) on precomputed activations does not load
PyTorch: about 300 MB less memory and a faster start.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_WHERE = {
    "extract_activations": ".activations", "layer_names": ".activations",
    "get_trigger": ".attacks", "parse_mapping": ".attacks", "poison_dataset": ".attacks",
    "Dataset": ".data", "load_dataset": ".data", "load_npz": ".data", "save_dataset": ".data",
    "ActivationClustering": ".detect", "DetectionResult": ".detect",
    "InputError": ".errors", "evaluate_detection": ".metrics",
    "ScanResult": ".pipeline", "scan": ".pipeline",
    "TrainConfig": ".train", "predict": ".train", "train_model": ".train",
    "Fit": ".fit", "PRESETS": ".presets", "preset": ".presets",
}

__all__ = sorted([*_WHERE, "__version__"])

if TYPE_CHECKING:
    from .activations import extract_activations, layer_names
    from .attacks import get_trigger, parse_mapping, poison_dataset
    from .data import Dataset, load_dataset, load_npz, save_dataset
    from .detect import ActivationClustering, DetectionResult
    from .errors import InputError
    from .metrics import evaluate_detection
    from .pipeline import ScanResult, scan
    from .fit import Fit
    from .presets import PRESETS, preset
    from .train import TrainConfig, predict, train_model


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'poisonscan' has no attribute {name!r}")
    value = getattr(importlib.import_module(_WHERE[name], __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
