"""Datasets: the ``.npz`` format, validation and builtin loaders."""

from .builtin import BUILTIN_DATASETS, load_dataset, load_mnist, resolve_data_dir
from .dataset import Dataset, load_npz, save_dataset

__all__ = ["BUILTIN_DATASETS", "Dataset", "load_dataset", "load_mnist", "load_npz",
           "resolve_data_dir", "save_dataset"]
