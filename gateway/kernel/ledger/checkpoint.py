"""C2SP signed notes, tlog checkpoints and Ed25519 cosignatures (pure, no I/O).

This module owns the *wire formats* that publish the audit ledger's tree heads:

* ``c2sp.org/tlog-checkpoint``: ``Checkpoint`` (origin, tree size, root hash, extension lines),
  its exact note-text encoding ``Checkpoint.body()`` and the strict ``parse_checkpoint``;
* ``c2sp.org/signed-note`` with Ed25519 (signature type 0x01): ``NoteSigner`` / ``NoteVerifier``,
  the ``PRIVATE+KEY+<name>+<hex id>+<base64>`` signer-key and ``<name>+<hex id>+<base64>``
  verifier-key (vkey) strings, ``generate_key``, ``sign_note`` and the strict ``open_note``;
* ``c2sp.org/tlog-cosignature`` v1 for Ed25519 (type 0x04): ``cosign`` produces a witness's
  timestamped signature line, ``CosignatureVerifier`` checks it (also inside ``open_note``) and
  ``verify_cosignature`` checks one returned line and yields its timestamp.

Computing roots belongs to ``gateway.kernel.ledger.merkle``; key storage and witness policy (which
cosigners, what quorum, how fresh) belong to the ledger service, not here.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import NamedTuple, Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)

from gateway.kernel.encoding import b64decode, b64encode

__all__ = [
    "MAX_NOTE_SIZE",
    "MAX_SIGNATURES",
    "Checkpoint",
    "CosignatureVerifier",
    "InvalidSignatureError",
    "KeyFormatError",
    "MalformedCheckpointError",
    "MalformedNoteError",
    "NoteError",
    "NoteSignature",
    "NoteSigner",
    "NoteVerifier",
    "OpenedNote",
    "UnverifiedNoteError",
    "Verifier",
    "cosign",
    "cosignature_timestamp",
    "generate_key",
    "open_checkpoint",
    "open_note",
    "parse_checkpoint",
    "parse_signature_line",
    "sign_note",
    "verify_cosignature",
]

SIG_TYPE_ED25519 = 0x01
SIG_TYPE_COSIGNATURE_V1 = 0x04

# The spec requires accepting at least 16 signatures; 100 is golang.org/x/mod/sumdb/note's limit.
MAX_SIGNATURES = 100
# Room for 100 signatures of up to ~5 kB (post-quantum) each, per the signed-note spec's warning.
MAX_NOTE_SIZE = 1 << 20

_ROOT_HASH_SIZE = 32
_MAX_TREE_SIZE = (1 << 64) - 1  # checkpoints are read as uint64 by other implementations
_MAX_TIMESTAMP = (1 << 63) - 1  # tlog-cosignature: the timestamp MUST NOT exceed 2^63 - 1
_SIG_PREFIX = "\u2014 "  # em dash, space
_COSIGNATURE_HEADER = b"cosignature/v1\n"
_PRIVATE_KEY_PREFIX = "PRIVATE+KEY+"
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f]")  # ASCII controls other than newline
_DECIMAL = re.compile(r"0|[1-9][0-9]*", re.ASCII)
_KEY_ID_HEX = re.compile(r"[0-9a-f]{8}", re.ASCII)


class NoteError(Exception):
    """Base class for signed-note, checkpoint and key errors."""


class MalformedNoteError(NoteError):
    """The note does not follow the signed-note syntax or exceeds the size limits."""


class InvalidSignatureError(NoteError):
    """A signature from a known key did not verify."""


class UnverifiedNoteError(NoteError):
    """No signature from a known key is present, so the note text must be ignored."""


class KeyFormatError(NoteError, ValueError):
    """A key name, signer key or verifier key string is malformed or inconsistent."""


class MalformedCheckpointError(NoteError, ValueError):
    """The note text is not a well-formed tlog-checkpoint."""


def _check_key_name(name: str) -> None:
    # signed-note: non-empty, no Unicode spaces, no "+"; controls could never appear in a note.
    if not name or "+" in name or _CONTROL.search(name) or any(c.isspace() for c in name):
        raise KeyFormatError(f"invalid key name {name!r}")


def _key_id(name: str, sig_type: int, public_key: bytes) -> int:
    """key ID = SHA-256(key name || 0x0A || signature type || public key)[:4], big-endian."""
    digest = hashlib.sha256(name.encode() + b"\n" + bytes([sig_type]) + public_key).digest()
    return int.from_bytes(digest[:4], "big")


def _raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def _parse_vkey(vkey: str, sig_type: int) -> tuple[str, Ed25519PublicKey]:
    """Parse ``<name>+<hex key ID>+<base64(type || public key)>`` and check the key ID."""
    name, _, rest = vkey.partition("+")
    key_id_hex, _, key_b64 = rest.partition("+")
    _check_key_name(name)
    if not _KEY_ID_HEX.fullmatch(key_id_hex):
        raise KeyFormatError("verifier key ID must be 8 lower-case hex digits")
    try:
        key = b64decode(key_b64, canonical=True)
    except ValueError as exc:
        raise KeyFormatError(f"verifier key material: {exc}") from None
    if len(key) != 33 or key[0] != sig_type:
        raise KeyFormatError(f"verifier key must be type 0x{sig_type:02x} and 32 bytes")
    if _key_id(name, sig_type, key[1:]) != int(key_id_hex, 16):
        raise KeyFormatError("verifier key ID does not match the key")
    return name, Ed25519PublicKey.from_public_bytes(key[1:])


def _format_vkey(name: str, sig_type: int, key: Ed25519PublicKey) -> str:
    raw = _raw_public(key)
    return f"{name}+{_key_id(name, sig_type, raw):08x}+{b64encode(bytes([sig_type]) + raw)}"


class Verifier(Protocol):
    """What ``open_note`` needs from a trusted key."""

    @property
    def name(self) -> str: ...

    @property
    def key_id(self) -> int: ...

    def verify(self, text: bytes, signature: bytes) -> bool:
        """Check ``signature`` (without the 4-byte key ID) over the note text."""
        ...


@dataclass(frozen=True)
class NoteVerifier:
    """An Ed25519 (type 0x01) signed-note verifier key."""

    name: str
    public_key: Ed25519PublicKey

    def __post_init__(self) -> None:
        _check_key_name(self.name)

    @classmethod
    def from_vkey(cls, vkey: str) -> NoteVerifier:
        """Parse a ``<name>+<hex key ID>+<base64(0x01 || key)>`` verifier key."""
        return cls(*_parse_vkey(vkey, SIG_TYPE_ED25519))

    def to_vkey(self) -> str:
        """The verifier key string, safe to publish."""
        return _format_vkey(self.name, SIG_TYPE_ED25519, self.public_key)

    @cached_property  # signing a receipt per exchange needs it: derived once per key
    def key_id(self) -> int:
        return _key_id(self.name, SIG_TYPE_ED25519, _raw_public(self.public_key))

    def verify(self, text: bytes, signature: bytes) -> bool:
        try:
            self.public_key.verify(signature, text)
        except InvalidSignature:
            return False
        return True


@dataclass(frozen=True)
class NoteSigner:
    """An Ed25519 (type 0x01) signed-note signing key."""

    name: str
    private_key: Ed25519PrivateKey = field(repr=False)

    def __post_init__(self) -> None:
        _check_key_name(self.name)

    @classmethod
    def from_skey(cls, skey: str) -> NoteSigner:
        """Parse a ``PRIVATE+KEY+<name>+<hex key ID>+<base64(0x01 || seed)>`` signer key."""
        if not skey.startswith(_PRIVATE_KEY_PREFIX):
            raise KeyFormatError("signer key must start with PRIVATE+KEY+")
        name, _, rest = skey[len(_PRIVATE_KEY_PREFIX) :].partition("+")
        key_id_hex, _, key_b64 = rest.partition("+")
        _check_key_name(name)
        if not _KEY_ID_HEX.fullmatch(key_id_hex):
            raise KeyFormatError("signer key ID must be 8 lower-case hex digits")
        try:
            key = b64decode(key_b64, canonical=True)
        except ValueError as exc:
            raise KeyFormatError(f"signer key material: {exc}") from None
        if len(key) != 33 or key[0] != SIG_TYPE_ED25519:
            raise KeyFormatError("signer key must be type 0x01 and a 32-byte Ed25519 seed")
        signer = cls(name, Ed25519PrivateKey.from_private_bytes(key[1:]))
        # The ID names the *public* key, so it can only be checked after deriving it.
        if signer.key_id != int(key_id_hex, 16):
            raise KeyFormatError("signer key ID does not match the key")
        return signer

    def to_skey(self) -> str:
        """The signer key string. It contains the private key: keep it secret."""
        seed = self.private_key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
        key = b64encode(bytes([SIG_TYPE_ED25519]) + seed)
        return f"{_PRIVATE_KEY_PREFIX}{self.name}+{self.key_id:08x}+{key}"

    def verifier(self) -> NoteVerifier:
        return NoteVerifier(self.name, self.private_key.public_key())

    @cached_property  # signing a receipt per exchange needs it: derived once per key
    def key_id(self) -> int:
        return _key_id(self.name, SIG_TYPE_ED25519, _raw_public(self.private_key.public_key()))

    def sign(self, text: bytes) -> bytes:
        """The raw Ed25519 signature over the note text (without the key ID)."""
        return self.private_key.sign(text)


def generate_key(name: str) -> tuple[str, str]:
    """Create a fresh Ed25519 note key; return (signer key string, verifier key string)."""
    signer = NoteSigner(name, Ed25519PrivateKey.generate())
    return signer.to_skey(), signer.verifier().to_vkey()


@dataclass(frozen=True)
class NoteSignature:
    """One parsed signature line: ``— <name> base64(key ID || signature)``."""

    name: str
    key_id: int
    signature: bytes

    def line(self) -> bytes:
        """The encoded line, including the final newline."""
        payload = b64encode(self.key_id.to_bytes(4, "big") + self.signature)
        return f"{_SIG_PREFIX}{self.name} {payload}\n".encode()


def parse_signature_line(line: str) -> NoteSignature:
    """Parse one signature line (without its newline); raise MalformedNoteError if invalid."""
    if not line.startswith(_SIG_PREFIX):
        raise MalformedNoteError("signature line must start with an em dash and a space")
    name, _, payload = line[len(_SIG_PREFIX) :].partition(" ")
    try:
        _check_key_name(name)
        raw = b64decode(payload, canonical=True)
    except ValueError as exc:
        raise MalformedNoteError(f"malformed signature line: {exc}") from None
    if len(raw) < 5:
        raise MalformedNoteError("signature must hold a 4-byte key ID and a signature")
    return NoteSignature(name, int.from_bytes(raw[:4], "big"), raw[4:])


def _check_note_chars(text: str, what: str) -> None:
    if _CONTROL.search(text):
        raise MalformedNoteError(f"{what} contains ASCII control characters other than newline")


def sign_note(text: bytes, signers: Sequence[NoteSigner]) -> bytes:
    """Sign ``text`` (which must end in a newline) and return the signed note."""
    try:
        decoded = text.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedNoteError("note text is not valid UTF-8") from None
    _check_note_chars(decoded, "note text")
    if not decoded.endswith("\n"):
        raise MalformedNoteError("note text must end with a newline")
    if not signers:
        raise ValueError("a signed note needs at least one signer")
    keys = [(s.name, s.key_id) for s in signers]
    if len(set(keys)) != len(keys):
        raise ValueError("the same key cannot sign a note twice")
    lines = (NoteSignature(s.name, s.key_id, s.sign(text)).line() for s in signers)
    return text + b"\n" + b"".join(lines)


class OpenedNote(NamedTuple):
    """A note whose signatures checked out: its text and who vouched for it."""

    body: bytes
    verified_names: tuple[str, ...]


def open_note(
    note: bytes,
    verifiers: Iterable[Verifier],
    *,
    max_size: int = MAX_NOTE_SIZE,
    max_signatures: int = MAX_SIGNATURES,
) -> OpenedNote:
    """Parse a signed note and verify it against trusted keys.

    Signatures whose (name, key ID) match no verifier are ignored, as the spec requires.  Every
    signature from a known key must verify (else InvalidSignatureError), and at least one must be
    present (else UnverifiedNoteError).  ``verified_names`` lists each verifying key name once, in
    note order.
    """
    text, signatures = _split_note(note, max_size, max_signatures)
    known = _verifiers_by_key(verifiers)
    body = text.encode()
    verified = _verified_names(body, signatures, known)
    if not verified:
        raise UnverifiedNoteError("note has no signature from a known key")
    return OpenedNote(body, verified)


def _split_note(note: bytes, max_size: int, max_signatures: int) -> tuple[str, list[NoteSignature]]:
    """A note's text (with its final newline) and its parsed signature lines."""
    if len(note) > max_size:
        raise MalformedNoteError(f"note is larger than {max_size} bytes")
    try:
        decoded = note.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedNoteError("note is not valid UTF-8") from None
    _check_note_chars(decoded, "note")
    # The text keeps its final newline; the last blank line separates it from the signatures.
    split = decoded.rfind("\n\n")
    if split < 0:
        raise MalformedNoteError("note has no blank line before its signatures")
    text, block = decoded[: split + 1], decoded[split + 2 :]
    if not block.endswith("\n"):
        raise MalformedNoteError("note must end with a newline after its last signature")
    lines = block[:-1].split("\n")
    if len(lines) > max_signatures:
        raise MalformedNoteError(f"note has more than {max_signatures} signatures")
    return text, [parse_signature_line(line) for line in lines]


def _verifiers_by_key(verifiers: Iterable[Verifier]) -> dict[tuple[str, int], Verifier]:
    """The trusted verifiers by (name, key ID); two for one key are a caller's error."""
    known: dict[tuple[str, int], Verifier] = {}
    for v in verifiers:
        if (v.name, v.key_id) in known:
            raise ValueError(f"ambiguous verifiers for key {v.name}+{v.key_id:08x}")
        known[(v.name, v.key_id)] = v
    return known


def _verified_names(
    body: bytes, signatures: list[NoteSignature], known: dict[tuple[str, int], Verifier]
) -> tuple[str, ...]:
    """Each name whose known key signed ``body``, once, in note order; a known key's bad
    signature raises InvalidSignatureError."""
    verified: list[str] = []
    for sig in signatures:
        verifier = known.get((sig.name, sig.key_id))
        if verifier is None:
            continue
        if not verifier.verify(body, sig.signature):
            raise InvalidSignatureError(f"invalid signature for key {sig.name}+{sig.key_id:08x}")
        if sig.name not in verified:
            verified.append(sig.name)
    return tuple(verified)


@dataclass(frozen=True)
class Checkpoint:
    """A tlog-checkpoint: the log's origin, tree size and RFC 9162 root hash."""

    origin: str
    size: int
    root_hash: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "extensions", tuple(self.extensions))
        for line in (self.origin, *self.extensions):
            if not line or "\n" in line or _CONTROL.search(line):
                raise MalformedCheckpointError(f"invalid checkpoint line {line!r}")
        if type(self.size) is not int or not 0 <= self.size <= _MAX_TREE_SIZE:
            raise MalformedCheckpointError(f"tree size {self.size} out of range")
        if len(self.root_hash) != _ROOT_HASH_SIZE:
            raise MalformedCheckpointError(f"root hash must be {_ROOT_HASH_SIZE} bytes")

    def body(self) -> bytes:
        """The note text: origin, size, base64 root hash, extensions, each ending in newline."""
        lines = [self.origin, str(self.size), b64encode(self.root_hash), *self.extensions]
        return "".join(line + "\n" for line in lines).encode()


def parse_checkpoint(body: bytes) -> Checkpoint:
    """Parse a checkpoint note text strictly; raise MalformedCheckpointError if invalid."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedCheckpointError("checkpoint is not valid UTF-8") from None
    if not text.endswith("\n"):
        raise MalformedCheckpointError("checkpoint must end with a newline")
    lines = text[:-1].split("\n")
    if len(lines) < 3 or not all(lines):
        raise MalformedCheckpointError("checkpoint needs at least three non-empty lines")
    origin, size_line, root_line, *extensions = lines
    # Bound the length first: int() of a huge digit string is slow (and capped by CPython).
    if len(size_line) > 20 or not _DECIMAL.fullmatch(size_line):
        raise MalformedCheckpointError(f"tree size {size_line!r} is not a canonical decimal")
    try:
        root_hash = b64decode(root_line, canonical=True)
    except ValueError as exc:
        raise MalformedCheckpointError(f"root hash: {exc}") from None
    return Checkpoint(origin, int(size_line), root_hash, tuple(extensions))


def open_checkpoint(note: bytes, log: NoteVerifier) -> Checkpoint:
    """A checkpoint note signed by the log's key, for the log's origin; else NoteError."""
    head = parse_checkpoint(open_note(note, [log]).body)
    if head.origin != log.name:
        raise UnverifiedNoteError(f"checkpoint is for another log, {head.origin!r}")
    return head


@dataclass(frozen=True)
class CosignatureVerifier:
    """An Ed25519 tlog-cosignature/v1 (type 0x04) witness key."""

    name: str
    public_key: Ed25519PublicKey

    def __post_init__(self) -> None:
        _check_key_name(self.name)

    @classmethod
    def from_vkey(cls, vkey: str) -> CosignatureVerifier:
        """Parse a ``<name>+<hex key ID>+<base64(0x04 || key)>`` verifier key."""
        return cls(*_parse_vkey(vkey, SIG_TYPE_COSIGNATURE_V1))

    def to_vkey(self) -> str:
        return _format_vkey(self.name, SIG_TYPE_COSIGNATURE_V1, self.public_key)

    @property
    def key_id(self) -> int:
        return _key_id(self.name, SIG_TYPE_COSIGNATURE_V1, _raw_public(self.public_key))

    def verify(self, text: bytes, signature: bytes) -> bool:
        if len(signature) != 72:
            return False
        timestamp = int.from_bytes(signature[:8], "big")
        if timestamp > _MAX_TIMESTAMP:
            return False
        try:
            self.public_key.verify(signature[8:], _cosigned_message(text, timestamp))
        except InvalidSignature:
            return False
        return True


def _cosigned_message(body: bytes, timestamp: int) -> bytes:
    return _COSIGNATURE_HEADER + f"time {timestamp}\n".encode() + body


def cosign(checkpoint_body: bytes, name: str, key: Ed25519PrivateKey, timestamp: int) -> bytes:
    """Cosign a checkpoint as witness ``name`` at POSIX time ``timestamp``.

    Returns the signature line (with its newline), ready to append to the signed checkpoint.
    """
    parse_checkpoint(checkpoint_body)  # a witness must only vouch for well-formed checkpoints
    if not 0 <= timestamp <= _MAX_TIMESTAMP:
        raise ValueError(f"cosignature timestamp {timestamp} out of range")
    _check_key_name(name)
    signature = key.sign(_cosigned_message(checkpoint_body, timestamp))
    key_id = _key_id(name, SIG_TYPE_COSIGNATURE_V1, _raw_public(key.public_key()))
    return NoteSignature(name, key_id, timestamp.to_bytes(8, "big") + signature).line()


def cosignature_timestamp(signature: bytes) -> int:
    """The timestamp of a v1 Ed25519 cosignature (signature bytes without the key ID)."""
    if len(signature) != 72:
        raise MalformedNoteError("an Ed25519 cosignature is 8 + 64 bytes")
    return int.from_bytes(signature[:8], "big")


def verify_cosignature(checkpoint_body: bytes, line: bytes, verifier: CosignatureVerifier) -> int:
    """Verify one cosignature line (e.g. a witness response) and return its timestamp."""
    try:
        decoded = line.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedNoteError("signature line is not valid UTF-8") from None
    sig = parse_signature_line(decoded.removesuffix("\n"))
    if (sig.name, sig.key_id) != (verifier.name, verifier.key_id):
        raise InvalidSignatureError(f"line is from {sig.name}+{sig.key_id:08x}, not this witness")
    if not verifier.verify(checkpoint_body, sig.signature):
        raise InvalidSignatureError(f"invalid cosignature from {sig.name}+{sig.key_id:08x}")
    return cosignature_timestamp(sig.signature)
