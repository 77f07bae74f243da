"""One gateway process per SQLite database: an exclusive lock file beside the database file.

SQLite is the embedded, single-process default: its one gateway process holds
``<database>.gateway-lock`` (``flock``, exclusive, non-blocking) for as long as it runs, so a
second ``enlace serve`` on the same file is refused (``db.in_use``) instead of becoming a second
replay cache and a second checkpoint signer. The kernel releases the lock when the process ends,
however it ends. Within one process the lock is shared (counted), so in-process servers and
tests may open the same file more than once. Admin commands take no lock: they append under
SQLite's own write lock, beside the gateway, as before. PostgreSQL needs none of this.
"""

from __future__ import annotations

import fcntl
import os
import threading
from pathlib import Path

from gateway.kernel.errors import CodedError
from gateway.storage.db import beside

_held: dict[Path, tuple[int, int]] = {}  # lock file → (descriptor, holders in this process)
_guard = threading.Lock()


class DatabaseInUse(CodedError):
    """Another gateway process serves this SQLite database (``db.in_use``)."""

    def __init__(self, message: str) -> None:
        super().__init__("db.in_use", message)


def lock_file(url: str) -> Path | None:
    """The lock file of a SQLite database URL; None for PostgreSQL or an in-memory database."""
    return beside(url, ".gateway-lock")


def acquire(url: str) -> Path | None:
    """Hold the database's gateway lock for this process (``DatabaseInUse`` if another has it);
    the lock file, to ``release``."""
    path = lock_file(url)
    if path is None:
        return None
    with _guard:
        if path in _held:
            fd, count = _held[path]
            _held[path] = (fd, count + 1)
            return path
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise DatabaseInUse(
                f"another gateway process serves the SQLite database beside {path}: SQLite "
                "allows one gateway process (use PostgreSQL for several workers or gateways)"
            ) from None
        _held[path] = (fd, 1)
        return path


def release(path: Path | None) -> None:
    """Give back one hold of ``acquire``; the last one unlocks the file."""
    if path is None:
        return
    with _guard:
        fd, count = _held.pop(path, (-1, 0))
        if count > 1:
            _held[path] = (fd, count - 1)
        elif fd >= 0:
            os.close(fd)  # closing the descriptor releases the flock
