"""Arrays beside the database: written atomically, read without pickle."""
from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path
from typing import BinaryIO, Callable

import numpy as np


_UMASK = os.umask(0)
os.umask(_UMASK)


class DiskFull(OSError):
    """The disk under the home folder filled up; what was being written has been removed."""


def _disk_full(e: OSError, path: Path) -> OSError:
    """`e` as a DiskFull naming the file when it says the disk or quota is full; else `e` itself."""
    if e.errno in (errno.ENOSPC, errno.EDQUOT):
        return DiskFull(e.errno, f"no space left on the disk holding {path.parent} while writing {path.name}: free some space and try again (nothing was left half-written)")
    return e


def write_atomic(path: Path, write: Callable[[BinaryIO], None]) -> None:
    """Call `write` on a temporary file beside `path`, then move it into place: a reader (or a
    resumed run) never sees half a file, and a failed write leaves nothing behind."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; other workers may need to read
        os.replace(tmp, path)
    except OSError as e:
        Path(tmp).unlink(missing_ok=True)
        raise _disk_full(e, path) from e
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save(path: Path, array: np.ndarray) -> None:
    """Write `array` to `path` atomically, readable without pickle."""
    write_atomic(path, lambda f: np.save(f, np.asarray(array), allow_pickle=False))


def load(path: Path, mmap: bool = False) -> np.ndarray:
    """Read an array written by `save`."""
    return np.load(path, allow_pickle=False, mmap_mode="r" if mmap else None)


def exists(path: Path) -> bool:
    return path.is_file()
