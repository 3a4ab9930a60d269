"""Helpers of the command line that are not commands: argument types, the output folder, and
option values from a TOML file (``--config``)."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

from ._validation import suggest
from .data.builtin import is_image_folder
from .errors import InputError

__all__ = ["column_names", "floats", "height_width", "ints", "load_config", "out_folder",
           "remove_empty", "subparser", "unknown_options"]

T = TypeVar("T")


def _separated(text: str, convert: Callable[[str], T], what: str) -> tuple[T, ...]:
    try:
        return tuple(convert(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated {what}, got {text!r}") from None


def ints(text: str) -> tuple[int, ...]:
    """argparse type: ``"3,4"`` -> ``(3, 4)``."""
    return _separated(text, int, "integers")


def floats(text: str) -> tuple[float, ...]:
    """argparse type: ``"1,0.5,0"`` -> ``(1.0, 0.5, 0.0)``."""
    return _separated(text, float, "numbers")


def height_width(text: str) -> tuple[int, int]:
    """argparse type of ``--image-size``: ``"64,48"`` -> ``(64, 48)``, both >= 1."""
    try:
        h, w = (int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected H,W (two whole numbers of pixels, e.g. 32,32), got {text!r}") from None
    if h < 1 or w < 1:
        raise argparse.ArgumentTypeError(f"expected H,W of at least 1 pixel each, got {text!r}")
    return h, w


def epochs_value(text: str) -> int | str:
    """``--epochs``: a whole number of epochs, or ``auto``."""
    if text.strip().lower() == "auto":
        return "auto"
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number or 'auto'; got {text!r}"
                                         ) from None


def column_names(text: str) -> tuple[str, str]:
    """argparse type of ``--columns``: ``"review,stars"`` -> ``("review", "stars")``."""
    names = tuple(v.strip() for v in text.split(","))
    if len(names) != 2 or not all(names) or names[0] == names[1]:
        raise argparse.ArgumentTypeError(
            f"expected TEXT,LABEL (the names of two different columns), got {text!r}")
    return names  # type: ignore[return-value]


def out_folder(args: argparse.Namespace, *, data: str | None = None) -> Path:
    """Check (and create) ``args.out`` before any long work starts.

    With ``data`` (the input argument), an output folder inside an input *folder of images*
    is refused: its report, model and ``plots/*.png`` would become part of the data set (a new
    class folder) the next time it is read. The folders created here are listed in
    ``args.created_folders`` so that ``main`` can remove them again, if they are still empty,
    when the command fails.
    """
    out = Path(args.out)
    if data is not None and is_image_folder(data):
        folder = Path(data).resolve()
        if out.resolve() == folder or folder in out.resolve().parents:
            raise InputError(f"--out {str(args.out)!r} is inside the image folder {data!r}: the "
                             "report and its plots would become part of the data. Name a folder "
                             "outside it (the input is only read).")
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {str(args.out)!r} is a file; name a folder (created if missing).")
    missing = [p for p in (out, *out.parents) if not p.exists()]
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot create the output folder {str(args.out)!r}: "
                         f"{exc.strerror or exc}.") from None
    args.created_folders = missing  # deepest first
    return out


def remove_empty(folders: Sequence[Path]) -> None:
    """Remove the folders a failed command created, deepest first, if they are still empty."""
    for folder in folders:
        try:
            folder.rmdir()  # fails on a folder that holds anything: nothing is ever lost
        except OSError:
            return


def unknown_options(parser: argparse.ArgumentParser, command: str | None,
                    extra: list[str]) -> str:
    """The one-line error for unrecognised options, with the nearest valid one suggested."""
    target = subparser(parser, command) if command else parser
    valid = [o for a in target._actions for o in a.option_strings]
    first = next((e for e in extra if e.startswith("-")), extra[0])
    return (f"{target.prog}: error: unrecognized arguments: {' '.join(extra)}."
            + suggest(first.split("=")[0], valid) + f" (see '{target.prog} --help')")


def subparser(parser: argparse.ArgumentParser, command: str) -> argparse.ArgumentParser:
    """The parser of one command (``scan``, ``repair``, ...)."""
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices[command]


def load_config(path: str, command: str, sub: argparse.ArgumentParser) -> dict[str, object]:
    """Option values from a TOML file, checked against ``command``'s options.

    Top-level keys and the keys of a ``[command]`` table apply to ``command`` (the table wins);
    tables of other commands are ignored. Keys are long option names without ``--``
    (``n-components`` or ``n_components``); an unknown key fails with a suggestion. Positional
    arguments (the data) stay on the command line.
    """
    try:
        import tomllib  # noqa: PLC0415  (Python 3.11+)
    except ImportError:  # pragma: no cover
        raise InputError("--config needs Python 3.11 or newer (tomllib).") from None
    try:
        with open(path, "rb") as fh:
            raw = tomllib.load(fh)
    except FileNotFoundError:
        raise InputError(f"config file not found: {path}") from None
    except (tomllib.TOMLDecodeError, OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path} is not a valid TOML file ({exc}).") from None
    commands = {"poison", "scan", "repair", "reproduce", "demo"}
    options = {a.dest: a for a in sub._actions if a.option_strings and a.dest != "help"}
    values: dict[str, object] = {}
    for scope in (raw, raw.get(command, {})):
        for key, value in scope.items():
            if key in commands and isinstance(value, dict):
                continue
            dest = key.replace("-", "_")
            if dest not in options or dest == "config":
                raise InputError(f"{path}: unknown option {key!r} for '{command}'."
                                 + suggest(dest.replace("_", "-"),
                                           [o.replace("_", "-") for o in options]))
            values[dest] = value
    return values
