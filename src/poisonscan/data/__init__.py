"""Datasets: the ``.npz`` format, validation, builtin loaders, text files and image folders."""

from .builtin import BUILTIN_DATASETS, load_dataset, load_gtsrb, load_mnist, resolve_data_dir
from .dataset import Dataset, load_npz, save_dataset
from .images import load_image_folder
from .text import load_rt_polarity, load_text_csv

__all__ = ["BUILTIN_DATASETS", "Dataset", "load_dataset", "load_gtsrb", "load_image_folder",
           "load_mnist", "load_npz", "load_rt_polarity", "load_text_csv", "resolve_data_dir",
           "save_dataset"]
