"""Model architectures and their safetensors persistence."""

from .io import ModelSpec, load_model, save_model
from .nets import ARCHITECTURES, MLP, SmallCNN, build_model, default_architecture
from .text import TextCNN

__all__ = ["ARCHITECTURES", "MLP", "ModelSpec", "SmallCNN", "TextCNN", "build_model",
           "default_architecture", "load_model", "save_model"]
