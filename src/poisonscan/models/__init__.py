"""Model architectures and their safetensors persistence."""

from .io import ModelSpec, load_model, save_model
from .nets import ARCHITECTURES, MLP, ColorCNN, SmallCNN, build_model, default_architecture
from .text import TextCNN

__all__ = ["ARCHITECTURES", "ColorCNN", "MLP", "ModelSpec", "SmallCNN", "TextCNN", "build_model",
           "default_architecture", "load_model", "save_model"]
