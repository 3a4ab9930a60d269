"""How much memory the data will take, checked before it is read.

Reading data that does not fit does not fail cleanly: the arrays are allocated lazily, and the
kernel kills the process once their pages are touched, minutes into the decoding. So the
loaders compute the bytes they will need from headers alone (image sizes, ``.npy`` headers in
an ``.npz``) and refuse at once when that is more than the memory available.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from ..errors import InputError

__all__ = ["available_memory", "check_fits", "format_bytes", "npz_nbytes"]


def available_memory() -> int | None:
    """Bytes of memory the system can still give (Linux's MemAvailable), or None if unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def format_bytes(n_bytes: int) -> str:
    """``"1.5 GiB"``, or MiB below one GiB."""
    return f"{n_bytes / 2**30:.1f} GiB" if n_bytes >= 2**30 else f"{n_bytes / 2**20:.1f} MiB"


def check_fits(need: int, what: str, advice: str) -> None:
    """Raise an InputError naming ``what`` and ``advice`` when ``need`` bytes exceed the memory
    available; do nothing where that cannot be known."""
    free = available_memory()
    if free is not None and need > free:
        raise InputError(f"{what} need {format_bytes(need)} of memory, more than the "
                         f"{format_bytes(free)} available; {advice}")


def npz_nbytes(path: str | Path, keys: set[str]) -> int:
    """Bytes the arrays ``keys`` of an ``.npz`` file take once loaded, from their headers.

    Members that are missing or whose header cannot be read count 0 (``np.load`` then reports
    what is wrong with them)."""
    total = 0
    with zipfile.ZipFile(path) as zf:
        for info in zf.infolist():
            if info.filename.removesuffix(".npy") not in keys:
                continue
            try:
                with zf.open(info) as fh:
                    version = np.lib.format.read_magic(fh)
                    read = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                            else np.lib.format.read_array_header_2_0)
                    shape, _, dtype = read(fh)
            except (ValueError, OSError, zipfile.BadZipFile, EOFError):
                continue
            total += int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    return total
