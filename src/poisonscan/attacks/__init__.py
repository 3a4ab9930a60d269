"""Evaluation tooling: triggers and dataset poisoning."""

from .poison import parse_mapping, poison_dataset
from .triggers import TRIGGERS, blend, get_trigger, patch, pattern, pixel

__all__ = ["TRIGGERS", "blend", "get_trigger", "parse_mapping", "patch", "pattern", "pixel",
           "poison_dataset"]
