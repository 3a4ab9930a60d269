"""poisonscan: find backdoor poison in a training set with Activation Clustering."""

from .activations import extract_activations, layer_names
from .attacks import get_trigger, parse_mapping, poison_dataset
from .data import Dataset, load_dataset, load_npz, save_dataset
from .detect import ActivationClustering, DetectionResult
from .errors import InputError
from .metrics import evaluate_detection
from .pipeline import ScanResult, scan
from .train import TrainConfig, predict, train_model

__version__ = "0.1.0"

__all__ = ["ActivationClustering", "Dataset", "DetectionResult", "InputError", "ScanResult",
           "TrainConfig", "__version__", "evaluate_detection", "extract_activations",
           "get_trigger", "layer_names", "load_dataset", "load_npz", "parse_mapping",
           "poison_dataset", "predict", "save_dataset", "scan", "train_model"]
