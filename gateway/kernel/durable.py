"""Durable file replacement: after a crash a file holds its old bytes or its new ones, never a mix,
and once the call returns, the new ones (the data and the rename both fsynced)."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def replace_durably(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data``: a temporary file beside it, fsynced, renamed over it, and
    the directory fsynced so that the rename itself survives a power loss. Each call has its own
    temporary file, so concurrent calls cannot take each other's."""
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    directory = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
