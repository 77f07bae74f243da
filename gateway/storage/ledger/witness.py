"""Witness cosigning of the ledger's checkpoints (C2SP tlog-cosignature v1, Ed25519).

A witness — an independent body such as the data-protection authority — holds its own key and
vouches that the log only ever grew: before cosigning the newest checkpoint it checks that the
log's key signed it for the expected origin, that it is not smaller than the last checkpoint
the witness cosigned, and that a consistency proof (read from storage, verified against both
signed roots) links the two. Its memory of the last cosigned checkpoint is its own state file
when it keeps one (which storage cannot roll back), else the newest stored checkpoint carrying
its valid cosignature. The cosignature line is appended to the stored note.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy.engine import Connection

from gateway.kernel.ledger import checkpoint, merkle
from gateway.storage.ledger import proofs, publisher
from gateway.storage.ledger.errors import LedgerCorrupt, OutOfRange

__all__ = ["Cosigned", "Witness", "WitnessError", "cosign_latest"]


class WitnessError(Exception):
    """The witness refuses to cosign: the log's history is not provably append-only."""


@dataclass(frozen=True)
class Witness:
    name: str
    key: Ed25519PrivateKey

    @classmethod
    def from_skey(cls, skey: str) -> Witness:
        """A witness from a signed-note signer key string (``PRIVATE+KEY+…``)."""
        signer = checkpoint.NoteSigner.from_skey(skey)
        return cls(signer.name, signer.private_key)

    @classmethod
    def generate(cls, name: str) -> tuple[str, str]:
        """A new witness key: (signer key string, cosignature verifier key string to publish)."""
        signer = checkpoint.NoteSigner(name, Ed25519PrivateKey.generate())
        return signer.to_skey(), cls(name, signer.private_key).verifier().to_vkey()

    def verifier(self) -> checkpoint.CosignatureVerifier:
        return checkpoint.CosignatureVerifier(self.name, self.key.public_key())


@dataclass(frozen=True)
class Cosigned:
    """The checkpoint as stored after cosigning, and the size it was checked against."""

    checkpoint: publisher.StoredCheckpoint
    previous_size: int | None
    added: bool


def _open(
    note: bytes, log: checkpoint.NoteVerifier, witness: Witness
) -> tuple[checkpoint.Checkpoint, bool]:
    """A checkpoint signed by the log's key for its origin, and whether the witness cosigned it."""
    opened = checkpoint.open_note(note, [log, witness.verifier()])
    if log.name not in opened.verified_names:
        raise checkpoint.UnverifiedNoteError("checkpoint is not signed by the log's key")
    head = checkpoint.parse_checkpoint(opened.body)
    if head.origin != log.name:
        raise checkpoint.UnverifiedNoteError(f"checkpoint is for another log, {head.origin!r}")
    return head, witness.name in opened.verified_names


def _previous(
    conn: Connection, witness: Witness, log: checkpoint.NoteVerifier, state: bytes | None
) -> checkpoint.Checkpoint | None:
    """The last checkpoint this witness cosigned, verified with its own key and the log's."""
    if state is not None:
        try:
            head, cosigned = _open(state, log, witness)
        except checkpoint.NoteError as exc:
            raise WitnessError(f"witness state: {exc}") from None
        if not cosigned:
            raise WitnessError("witness state is not cosigned by this witness")
        return head
    for stored in publisher.checkpoints(conn, cosigned=True, newest_first=True):
        try:
            head, cosigned = _open(stored.note, log, witness)
        except checkpoint.NoteError as exc:
            raise WitnessError(f"stored checkpoint {stored.size}: {exc}") from None
        if cosigned:
            return head
    return None


def cosign_latest(
    conn: Connection,
    witness: Witness,
    log: checkpoint.NoteVerifier,
    *,
    state: bytes | None = None,
    now: int | None = None,
) -> Cosigned:
    """Check and cosign the newest stored checkpoint inside ``conn``'s write transaction."""
    if witness.name == log.name:
        raise WitnessError("a witness needs a key name of its own")
    latest = publisher.latest_checkpoint(conn)
    if latest is None:
        raise WitnessError("the log has no checkpoint yet")
    try:
        head, cosigned = _open(latest.note, log, witness)
    except checkpoint.NoteError as exc:
        raise WitnessError(f"newest checkpoint: {exc}") from None
    previous = _previous(conn, witness, log, state)
    previous_size = None if previous is None else previous.size
    if previous is not None:
        if previous.size > head.size:
            raise WitnessError(f"log rolled back from size {previous.size} to {head.size}")
        try:
            proof = proofs.consistency_proof(conn, previous.size, head.size)
            merkle.verify_consistency(
                previous.size, head.size, proof, previous.root_hash, head.root_hash
            )
        except (OutOfRange, LedgerCorrupt, merkle.ProofError) as exc:
            raise WitnessError(
                f"checkpoint {head.size} is not an append-only extension of {previous.size}: {exc}"
            ) from None
    if cosigned:
        return Cosigned(latest, previous_size, added=False)
    line = checkpoint.cosign(head.body(), witness.name, witness.key, now or int(time.time()))
    return Cosigned(publisher.add_cosignature(conn, latest.size, line), previous_size, added=True)
