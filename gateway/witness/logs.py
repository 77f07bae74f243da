"""Which logs a witness witnesses: ``ORIGIN=VKEY`` entries from options and a config file.

An entry pairs a checkpoint origin with a signed-note verifier key (type 0x01) the witness
trusts for it; one origin may be given several keys (a key rotation). The config file holds one
entry a line; empty lines and lines starting with ``#`` are ignored. The origin is everything
before the first ``=`` (so it cannot contain one; a vkey's base64 may end in ``=``).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from gateway.kernel.ledger import checkpoint

__all__ = ["LogConfigError", "TrustedLogs", "read_config", "trusted_logs"]

TrustedLogs = dict[str, tuple[checkpoint.NoteVerifier, ...]]


class LogConfigError(ValueError):
    """A log entry is not ``ORIGIN=VKEY`` with a valid verifier key."""


def read_config(path: Path) -> list[str]:
    """The entries of a config file."""
    try:
        lines = path.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise LogConfigError(f"{path}: {exc}") from None
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


def trusted_logs(entries: Iterable[str]) -> TrustedLogs:
    """Each origin's trusted keys, from ``ORIGIN=VKEY`` entries."""
    logs: dict[str, list[checkpoint.NoteVerifier]] = {}
    for entry in entries:
        origin, sep, vkey = entry.partition("=")
        if not sep or not origin or "\n" in origin:
            raise LogConfigError(f"log entry {entry!r} must be ORIGIN=VKEY")
        try:
            key = checkpoint.NoteVerifier.from_vkey(vkey)
        except checkpoint.KeyFormatError as exc:
            raise LogConfigError(f"log {origin!r}: {exc}") from None
        keys = logs.setdefault(origin, [])
        # The same key twice would make note verification ambiguous.
        if key.to_vkey() not in {k.to_vkey() for k in keys}:
            keys.append(key)
    return {origin: tuple(keys) for origin, keys in logs.items()}
