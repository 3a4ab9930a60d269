"""Evaluation tooling: triggers and dataset poisoning."""

from .poison import parse_mapping, poison_dataset
from .text import DEFAULT_PHRASE, TextTrigger, text_trigger, with_phrase_vocab
from .triggers import TRIGGERS, blend, get_trigger, patch, pattern, pixel

__all__ = ["DEFAULT_PHRASE", "TRIGGERS", "TextTrigger", "blend", "get_trigger", "parse_mapping",
           "patch", "pattern", "pixel", "poison_dataset", "text_trigger", "with_phrase_vocab"]
