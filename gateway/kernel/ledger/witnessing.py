"""The C2SP tlog-witness protocol's pure core: what a witness decides, and its wire formats.

This module owns, without any I/O:

* the ``add-checkpoint`` request body (``c2sp.org/tlog-witness``): an ``old <size>`` line, up to
  63 base64 consistency-proof lines, an empty line, then the signed checkpoint note.
  ``AddCheckpoint.body()`` builds it and ``parse_add_checkpoint`` reads it strictly;
* the witness's decision, ``check_add_checkpoint``: given the log keys it trusts for the
  checkpoint's origin and its own latest cosigned (size, root) for that origin, either the new
  state to record or a ``Refusal`` carrying the protocol's HTTP status (400 malformed, 403 no valid
  signature from a trusted key, 404 unknown origin, 409 stale ``old`` — with the witness's size —
  or a fork at equal size, 422 a consistency proof that does not verify);
* ``WitnessKey``: the witness's Ed25519 key, and its tlog-cosignature/v1 line over a checkpoint;
* the answers' wire formats: the 409 body (``text/x.tlog.size``) and the 200 body of cosignature
  lines, built and parsed here for both the witness server and its clients.

Persisting the state durably, serialising requests per origin and HTTP belong to
``gateway.witness`` (the server) and ``gateway.kernel.ledger.witness_client`` (the client).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.kernel.encoding import EncodingError, b64decode, b64encode
from gateway.kernel.ledger import checkpoint, merkle

__all__ = [
    "MAX_PROOF_LINES",
    "MAX_REQUEST_SIZE",
    "SIZE_CONTENT_TYPE",
    "AddCheckpoint",
    "BadProof",
    "Fork",
    "Malformed",
    "Refusal",
    "SizeConflict",
    "UnknownLog",
    "Untrusted",
    "WitnessKey",
    "WitnessedHead",
    "check_add_checkpoint",
    "cosignature_from",
    "parse_add_checkpoint",
    "parse_size_body",
    "size_body",
]

#: tlog-witness: a client MUST NOT send more than 63 proof lines (a 2^64 tree needs no more).
MAX_PROOF_LINES = 63
#: The largest request body: the old size line, the proof lines, the blank line and a note.
MAX_REQUEST_SIZE = len("old \n") + 20 + MAX_PROOF_LINES * 45 + 1 + checkpoint.MAX_NOTE_SIZE
#: The 409 answer's media type: the witness's latest cosigned size in decimal and a newline.
SIZE_CONTENT_TYPE = "text/x.tlog.size"

_OLD_LINE = re.compile(r"old (0|[1-9][0-9]{0,19})", re.ASCII)
_SIZE_BODY = re.compile(rb"(0|[1-9][0-9]{0,19})\n")
_MAX_TREE_SIZE = (1 << 64) - 1


class Refusal(Exception):
    """The witness will not cosign; ``status`` is the HTTP status tlog-witness prescribes."""

    status = 400


class Malformed(Refusal):
    """The request body, or its checkpoint note, is not well formed (or old > checkpoint size)."""

    status = 400


class Untrusted(Refusal):
    """No signature from a key the witness trusts for this origin verifies."""

    status = 403


class UnknownLog(Refusal):
    """The witness does not witness this origin."""

    status = 404


class SizeConflict(Refusal):
    """``old`` is not the witness's latest cosigned size for the origin; ``size`` is that size."""

    status = 409

    def __init__(self, size: int) -> None:
        super().__init__(f"the witness's latest cosigned size is {size}")
        self.size = size


class Fork(Refusal):
    """A checkpoint of the witness's latest size with a different root hash: a split view."""

    status = 409


class BadProof(Refusal):
    """The consistency proof from the old size to the checkpoint's size does not verify."""

    status = 422


@dataclass(frozen=True)
class WitnessedHead:
    """What a witness remembers per origin: its latest cosigned tree size and root hash."""

    size: int
    root_hash: bytes

    @classmethod
    def empty(cls) -> WitnessedHead:
        """The state of an origin never cosigned: size 0, the empty tree's root."""
        return cls(0, merkle.EMPTY_ROOT)


@dataclass(frozen=True)
class AddCheckpoint:
    """One ``add-checkpoint`` request: the old size, the proof and the signed checkpoint note.

    ``checkpoint`` and ``text`` are read from ``note`` when parsing (or building), *before* any
    signature is checked: they say which origin to look up, nothing more.
    """

    old_size: int
    proof: tuple[bytes, ...]
    note: bytes
    text: bytes = field(init=False, repr=False)
    checkpoint: checkpoint.Checkpoint = field(init=False)

    def __post_init__(self) -> None:
        if not 0 <= self.old_size <= _MAX_TREE_SIZE:
            raise Malformed(f"old size {self.old_size} out of range")
        if len(self.proof) > MAX_PROOF_LINES:
            raise Malformed(f"more than {MAX_PROOF_LINES} consistency proof lines")
        if any(len(h) != merkle.HASH_SIZE for h in self.proof):
            raise Malformed(f"a consistency proof hash is not {merkle.HASH_SIZE} bytes")
        text = _note_text(self.note)
        object.__setattr__(self, "text", text)
        object.__setattr__(self, "checkpoint", _parse_checkpoint(text))

    @classmethod
    def of(cls, old_size: int, proof: Sequence[bytes], note: bytes) -> AddCheckpoint:
        return cls(old_size, tuple(proof), note)

    def body(self) -> bytes:
        """The request body, as the protocol spells it."""
        lines = [f"old {self.old_size}", *(b64encode(h) for h in self.proof), ""]
        return "".join(line + "\n" for line in lines).encode() + self.note


def _note_text(note: bytes) -> bytes:
    """A signed note's text (with its final newline): everything before the last blank line."""
    if len(note) > checkpoint.MAX_NOTE_SIZE:
        raise Malformed(f"checkpoint note is larger than {checkpoint.MAX_NOTE_SIZE} bytes")
    split = note.rfind(b"\n\n")
    if split < 0:
        raise Malformed("checkpoint note has no blank line before its signatures")
    return note[: split + 1]


def _parse_checkpoint(text: bytes) -> checkpoint.Checkpoint:
    try:
        return checkpoint.parse_checkpoint(text)
    except checkpoint.MalformedCheckpointError as exc:
        raise Malformed(f"checkpoint: {exc}") from None


def parse_add_checkpoint(body: bytes) -> AddCheckpoint:
    """Read an ``add-checkpoint`` request body strictly; ``Malformed`` if it is not one."""
    if len(body) > MAX_REQUEST_SIZE:
        raise Malformed(f"request is larger than {MAX_REQUEST_SIZE} bytes")
    end = body.find(b"\n")
    match = _OLD_LINE.fullmatch(body[:end].decode("ascii", "replace")) if end >= 0 else None
    if match is None:
        raise Malformed("the first line must be 'old <size>' in canonical decimal")
    proof: list[bytes] = []
    start = end + 1
    # Proof lines run up to the first empty line; the checkpoint note follows it.
    while (end := body.find(b"\n", start)) != start:
        if end < 0 or len(proof) == MAX_PROOF_LINES:
            raise Malformed(f"expected at most {MAX_PROOF_LINES} proof lines and an empty line")
        proof.append(_proof_hash(body[start:end]))
        start = end + 1
    return AddCheckpoint(int(match.group(1)), tuple(proof), body[start + 1 :])


def _proof_hash(line: bytes) -> bytes:
    try:
        value = b64decode(line, canonical=True)
    except EncodingError:
        raise Malformed("a consistency proof line is not canonical base64") from None
    if len(value) != merkle.HASH_SIZE:
        raise Malformed(f"a consistency proof hash is not {merkle.HASH_SIZE} bytes")
    return value


def check_add_checkpoint(
    request: AddCheckpoint,
    log_keys: Sequence[checkpoint.NoteVerifier],
    latest: WitnessedHead | None,
) -> WitnessedHead:
    """Decide a request as tlog-witness prescribes; return the head to record, else ``Refusal``.

    ``log_keys`` are the keys the witness trusts for the checkpoint's origin (none: unknown
    origin); ``latest`` is its latest cosigned head for that origin (None: never cosigned). The
    checks run in the specification's order, so the status is the one it names.
    """
    head = request.checkpoint
    if not log_keys:
        raise UnknownLog(f"this witness does not witness {head.origin!r}")
    _verify_signature(request.note, log_keys)
    if request.old_size > head.size:
        raise Malformed(f"old size {request.old_size} is larger than the checkpoint's {head.size}")
    known = latest or WitnessedHead.empty()
    if request.old_size != known.size:
        raise SizeConflict(known.size)
    if head.size == known.size:
        if head.root_hash != known.root_hash:
            raise Fork(f"a different root hash for tree size {head.size}: the log forked")
        if request.proof:
            raise BadProof("the consistency proof must be empty between equal sizes")
    else:
        try:
            merkle.verify_consistency(
                known.size, head.size, request.proof, known.root_hash, head.root_hash
            )
        except merkle.ProofError as exc:
            raise BadProof(f"consistency proof from size {known.size}: {exc}") from None
    return WitnessedHead(head.size, head.root_hash)


def _verify_signature(note: bytes, log_keys: Sequence[checkpoint.NoteVerifier]) -> None:
    """At least one trusted key signed the note, and none of their signatures is bad."""
    try:
        checkpoint.open_note(note, log_keys)
    except checkpoint.MalformedNoteError as exc:
        raise Malformed(f"checkpoint note: {exc}") from None
    except (checkpoint.InvalidSignatureError, checkpoint.UnverifiedNoteError) as exc:
        raise Untrusted(str(exc)) from None


@dataclass(frozen=True)
class WitnessKey:
    """A witness's Ed25519 key; its public half is published as a tlog-cosignature vkey.

    It is stored as a signed-note signer key string (``PRIVATE+KEY+…``), the same file format as
    ``enlace ledger witness-key`` writes.
    """

    name: str
    private_key: Ed25519PrivateKey = field(repr=False)

    @classmethod
    def from_skey(cls, skey: str) -> WitnessKey:
        signer = checkpoint.NoteSigner.from_skey(skey)
        return cls(signer.name, signer.private_key)

    @classmethod
    def generate(cls, name: str) -> WitnessKey:
        signer = checkpoint.NoteSigner(name, Ed25519PrivateKey.generate())  # checks the name
        return cls(signer.name, signer.private_key)

    def to_skey(self) -> str:
        """The secret key string."""
        return checkpoint.NoteSigner(self.name, self.private_key).to_skey()

    def verifier(self) -> checkpoint.CosignatureVerifier:
        return checkpoint.CosignatureVerifier(self.name, self.private_key.public_key())

    def cosign(self, request: AddCheckpoint, timestamp: int) -> bytes:
        """The cosignature line (with its newline) over the checkpoint at ``timestamp``."""
        return checkpoint.cosign(request.text, self.name, self.private_key, timestamp)


def size_body(size: int) -> bytes:
    """The 409 answer's body: the witness's latest cosigned size."""
    return f"{size}\n".encode()


def parse_size_body(body: bytes) -> int:
    """The size in a 409 ``text/x.tlog.size`` answer; ``ValueError`` if malformed."""
    match = _SIZE_BODY.fullmatch(body)
    if match is None or int(match.group(1)) > _MAX_TREE_SIZE:
        raise ValueError("a tlog size answer is one canonical decimal and a newline")
    return int(match.group(1))


def cosignature_from(
    response: bytes, request: AddCheckpoint, witness: checkpoint.CosignatureVerifier
) -> tuple[bytes, int]:
    """The trusted witness's cosignature line in a 200 answer, verified, and its timestamp.

    The answer is one or more signature lines; lines from other keys are ignored, as the
    protocol requires. ``checkpoint.NoteError`` if the answer is malformed, holds no line from
    this witness, or its line does not verify over the request's checkpoint.
    """
    try:
        text = response.decode("utf-8")
    except UnicodeDecodeError:
        raise checkpoint.MalformedNoteError("witness answer is not valid UTF-8") from None
    if not text.endswith("\n"):
        raise checkpoint.MalformedNoteError("witness answer must end with a newline")
    for line in text[:-1].split("\n"):
        sig = checkpoint.parse_signature_line(line)
        if (sig.name, sig.key_id) == (witness.name, witness.key_id):
            encoded = (line + "\n").encode()
            return encoded, checkpoint.verify_cosignature(request.text, encoded, witness)
    raise checkpoint.UnverifiedNoteError(f"witness answer holds no cosignature from {witness.name}")
