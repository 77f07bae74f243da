"""A witness's state directory: its key, and per origin the latest cosigned head, kept durably.

Layout of the directory (made by ``enlace witness init``, mode 0700):

* ``witness.key`` (0600): the witness's signer key, ``PRIVATE+KEY+<name>+<id>+<base64>``;
* ``witness.vkey``: its tlog-cosignature verifier key, to publish;
* ``heads/<hex SHA-256 of the origin>.json``: per origin, ``{"origin", "size", "root_hash"
  (base64), "note"}``, where ``note`` is the latest checkpoint it cosigned, with its cosignature;
* ``lock``: held (``flock``) by the one process serving from the directory.

Each head file is replaced durably — written to a temporary file, fsynced, renamed over the old
one, and the directory fsynced — so that a cosignature is only ever answered for a head that
survives a crash: a witness that forgot its head would cosign a rollback.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway.kernel.durable import replace_durably
from gateway.kernel.encoding import EncodingError, b64decode, b64encode
from gateway.kernel.ledger import checkpoint, merkle
from gateway.kernel.ledger.witnessing import WitnessedHead, WitnessKey

__all__ = ["WitnessDir", "WitnessStateError"]

_KEY = "witness.key"
_VKEY = "witness.vkey"
_HEADS = "heads"
_LOCK = "lock"


class WitnessStateError(Exception):
    """The state directory is missing, already in use, or holds something malformed."""


@dataclass(frozen=True)
class WitnessDir:
    """A witness's state directory."""

    path: Path

    def init(self, name: str) -> WitnessKey:
        """Create the directory and a new key named ``name``; refuse if a key is already there."""
        key = WitnessKey.generate(name)
        self.path.mkdir(mode=0o700, parents=True, exist_ok=True)
        (self.path / _HEADS).mkdir(mode=0o700, exist_ok=True)
        try:
            fd = os.open(self.path / _KEY, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            raise WitnessStateError(f"{self.path / _KEY} exists: this witness has a key") from None
        with os.fdopen(fd, "w") as secret:
            secret.write(key.to_skey() + "\n")
        (self.path / _VKEY).write_text(key.verifier().to_vkey() + "\n")
        return key

    def _not_initialised(self) -> WitnessStateError:
        return WitnessStateError(f"no witness in {self.path}: run `enlace witness init` first")

    def key(self) -> WitnessKey:
        """The witness's key."""
        try:
            return WitnessKey.from_skey((self.path / _KEY).read_text().strip())
        except FileNotFoundError:
            raise self._not_initialised() from None
        except checkpoint.KeyFormatError as exc:
            raise WitnessStateError(f"{self.path / _KEY}: {exc}") from None

    @contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the directory for one serving process; ``WitnessStateError`` if another has it."""
        if not (self.path / _KEY).exists():
            raise self._not_initialised()
        with open(self.path / _LOCK, "a") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise WitnessStateError(f"{self.path} is in use by another witness") from None
            yield

    def heads(self) -> dict[str, WitnessedHead]:
        """Every origin's latest cosigned head, read and checked."""
        heads: dict[str, WitnessedHead] = {}
        for path in sorted((self.path / _HEADS).glob("*.json")):
            origin, head = _read_head(path)
            if path.name != _file_name(origin):
                raise WitnessStateError(f"{path} holds the head of another origin, {origin!r}")
            heads[origin] = head
        return heads

    def record(self, origin: str, head: WitnessedHead, note: bytes) -> None:
        """Durably make ``head`` (cosigned as ``note``) the origin's latest; returns once synced."""
        record = {
            "origin": origin,
            "size": head.size,
            "root_hash": b64encode(head.root_hash),
            "note": note.decode(),
        }
        replace_durably(self.path / _HEADS / _file_name(origin), json.dumps(record).encode())


def _file_name(origin: str) -> str:
    # Origins hold slashes and any other character: name the file by a hash of it.
    return hashlib.sha256(origin.encode()).hexdigest() + ".json"


def _read_head(path: Path) -> tuple[str, WitnessedHead]:
    try:
        data: Any = json.loads(path.read_bytes())
        origin, size, root = data["origin"], data["size"], b64decode(data["root_hash"])
    except (OSError, ValueError, KeyError, TypeError, EncodingError) as exc:
        raise WitnessStateError(f"{path}: unreadable witness head ({exc})") from None
    if not isinstance(origin, str) or type(size) is not int or size < 0:
        raise WitnessStateError(f"{path}: malformed witness head")
    if len(root) != merkle.HASH_SIZE:
        raise WitnessStateError(f"{path}: root hash is not {merkle.HASH_SIZE} bytes")
    return origin, WitnessedHead(size, root)
