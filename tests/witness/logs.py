"""A small in-memory transparency log for the witness tests: real Merkle tree, real signed notes."""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.kernel.ledger import checkpoint, merkle
from gateway.kernel.ledger.witnessing import AddCheckpoint


class Log:
    """A growing RFC 9162 tree whose checkpoints the log key signs."""

    def __init__(self, origin: str, signer: checkpoint.NoteSigner | None = None, salt: str = ""):
        self.signer = signer or checkpoint.NoteSigner(origin, Ed25519PrivateKey.generate())
        self.origin = origin
        self.salt = salt  # a different salt grows a different tree: a fork under the same key
        self.tree = merkle.CompactRange()
        self.nodes: dict[merkle.NodeId, bytes] = {}

    @property
    def vkey(self) -> str:
        return self.signer.verifier().to_vkey()

    @property
    def verifier(self) -> checkpoint.NoteVerifier:
        return self.signer.verifier()

    def grow(self, count: int) -> Log:
        for _ in range(count):
            data = f"{self.salt}entry {self.tree.size}".encode()
            for level, index, value in self.tree.append(merkle.leaf_hash(data)):
                self.nodes[(level, index)] = value
        return self

    def head(self) -> checkpoint.Checkpoint:
        return checkpoint.Checkpoint(self.origin, self.tree.size, self.tree.root())

    def note(self, *signers: checkpoint.NoteSigner) -> bytes:
        return checkpoint.sign_note(self.head().body(), list(signers) or [self.signer])

    def proof(self, old_size: int) -> list[bytes]:
        return merkle.consistency_proof(
            old_size, self.tree.size, lambda ids: {i: self.nodes[i] for i in ids}
        )

    def request(self, old_size: int) -> AddCheckpoint:
        """An add-checkpoint request for the current head, proving consistency from old_size."""
        return AddCheckpoint.of(old_size, self.proof(old_size), self.note())
