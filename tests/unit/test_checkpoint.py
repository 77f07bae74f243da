"""Tests for kernel.ledger.checkpoint against published C2SP and golang.org/x/mod vectors."""

from __future__ import annotations

import base64
import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from gateway.kernel.ledger.checkpoint import (
    Checkpoint,
    CosignatureVerifier,
    InvalidSignatureError,
    KeyFormatError,
    MalformedCheckpointError,
    MalformedNoteError,
    NoteSignature,
    NoteSigner,
    NoteVerifier,
    UnverifiedNoteError,
    cosign,
    cosignature_timestamp,
    generate_key,
    open_note,
    parse_checkpoint,
    parse_signature_line,
    sign_note,
    verify_cosignature,
)
from gateway.kernel.ledger.merkle import EMPTY_ROOT

# --- Vectors from golang.org/x/mod/sumdb/note (note_test.go) ----------------------------------

PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
PETER_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
ENOCH_VKEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
TEXT = (
    b"If you think cryptography is the answer to your problem,\n"
    b"then you don't know what your problem is.\n"
)
PETER_SIG = (
    "\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqf"
    "qdngotpRZb6KE6RyyBwJnAM=\n"
).encode()
ENOCH_SIG = (
    "\u2014 EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnW"
    "Lox33WWd1RvMc+QQ=\n"
).encode()

# --- Vectors from the C2SP tlog-checkpoint and tlog-cosignature specs -------------------------

SPEC_BODY = b"example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
SPEC_LOG_SIG = (
    "\u2014 example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Z"
    "hcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n"
).encode()
SPEC_WITNESS_SIG = (
    "\u2014 witness.example.com/w1 jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrDJs"
    "X3b2oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA==\n"
).encode()
# A published Ed25519 cosignature/v1 (type 0x04) witness key, from transparency-dev/formats.
REMORA_VKEY = "remora.n621.de+da77ade7+BOvN63jn/bLvkieywe8R6UYAtVtNbZpXh34x7onlmtw2"


def peter() -> NoteVerifier:
    return NoteVerifier.from_vkey(PETER_VKEY)


def enoch() -> NoteVerifier:
    return NoteVerifier.from_vkey(ENOCH_VKEY)


# --- Keys ------------------------------------------------------------------------------------


def test_published_key_vectors() -> None:
    verifier = peter()
    assert verifier.name == "PeterNeumann"
    assert verifier.key_id == 0xC74F20A3
    pub = verifier.public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)
    assert hashlib.sha256(b"PeterNeumann\n\x01" + pub).digest()[:4].hex() == "c74f20a3"
    assert verifier.to_vkey() == PETER_VKEY

    signer = NoteSigner.from_skey(PETER_SKEY)
    assert signer.to_skey() == PETER_SKEY
    assert signer.verifier() == verifier
    assert signer.key_id == verifier.key_id
    assert "PRIVATE" not in repr(signer) and "AYEK" not in repr(signer)


def test_generate_key_round_trip() -> None:
    skey, vkey = generate_key("ledger.enlace.example/audit")
    signer, verifier = NoteSigner.from_skey(skey), NoteVerifier.from_vkey(vkey)
    assert signer.verifier() == verifier
    assert skey.startswith("PRIVATE+KEY+ledger.enlace.example/audit+")
    assert open_note(sign_note(TEXT, [signer]), [verifier]).verified_names == (verifier.name,)


def manglings(key: str) -> list[str]:
    """Every proper substring and every one-byte increment, as in note_test.go."""
    out = {key[i:j] for i in range(len(key) + 1) for j in range(i + 1, len(key) + 1)}
    out |= {key[:i] + chr(ord(key[i]) + 1) + key[i + 1 :] for i in range(len(key))}
    out.discard(key)
    return sorted(out)


def test_mangled_vkeys_are_rejected() -> None:
    for bad in manglings(PETER_VKEY):
        with pytest.raises(KeyFormatError):
            NoteVerifier.from_vkey(bad)
    # Wrong key length and unknown algorithm, each with an adjusted key ID (note_test.go).
    for bad in [
        "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==",
        "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
    ]:
        with pytest.raises(KeyFormatError):
            NoteVerifier.from_vkey(bad)


def test_mangled_skeys_are_rejected() -> None:
    for bad in manglings(PETER_SKEY):
        with pytest.raises(KeyFormatError):
            NoteSigner.from_skey(bad)


@pytest.mark.parametrize("name", ["", "a+b", "a b", "a\u00a0b", "tab\there", "nl\n"])
def test_invalid_key_names(name: str) -> None:
    with pytest.raises(KeyFormatError):
        NoteSigner(name, Ed25519PrivateKey.generate())


# --- Signed notes ----------------------------------------------------------------------------


def test_sign_matches_published_note() -> None:
    note = sign_note(TEXT, [NoteSigner.from_skey(PETER_SKEY)])
    assert note == TEXT + b"\n" + PETER_SIG
    assert open_note(note, [peter()]) == (TEXT, ("PeterNeumann",))


def test_open_with_known_and_unknown_keys() -> None:
    note = TEXT + b"\n" + PETER_SIG + ENOCH_SIG
    body, names = open_note(note, [peter()])
    assert body == TEXT and names == ("PeterNeumann",)  # Enoch's signature is ignored
    assert open_note(note, [peter(), enoch()]).verified_names == ("PeterNeumann", "EnochRoot")
    assert open_note(note, [enoch()]).verified_names == ("EnochRoot",)
    with pytest.raises(UnverifiedNoteError):
        open_note(note, [])
    with pytest.raises(ValueError, match="ambiguous"):
        open_note(note, [peter(), peter()])


def test_same_name_or_same_id_alone_is_an_unknown_key() -> None:
    note = TEXT + b"\n" + PETER_SIG
    impostor = NoteVerifier("PeterNeumann", Ed25519PrivateKey.generate().public_key())
    with pytest.raises(UnverifiedNoteError):
        open_note(note, [impostor])


def test_multiple_signers() -> None:
    signers = [NoteSigner(f"log{i}.example", Ed25519PrivateKey.generate()) for i in range(16)]
    note = sign_note(TEXT, signers)
    opened = open_note(note, [s.verifier() for s in reversed(signers)])
    assert opened.verified_names == tuple(s.name for s in signers)
    with pytest.raises(ValueError, match="twice"):
        sign_note(TEXT, [signers[0], signers[0]])
    with pytest.raises(ValueError):
        sign_note(TEXT, [])


def test_tampering_is_detected() -> None:
    note = TEXT + b"\n" + PETER_SIG
    with pytest.raises(InvalidSignatureError, match="PeterNeumann"):
        open_note(note.replace(b"cryptography", b"cryptographY"), [peter()])
    # Inserting base64 characters keeps the key ID but changes the signature (note_test.go).
    forged = TEXT + b"\n" + PETER_SIG[:60] + b"ABCD" + PETER_SIG[60:]
    with pytest.raises(InvalidSignatureError):
        open_note(forged, [peter()])
    # A bad signature from a known key rejects the note even if another signature is good.
    with pytest.raises(InvalidSignatureError):
        open_note(forged + ENOCH_SIG, [peter(), enoch()])


def test_text_may_contain_blank_lines() -> None:
    signer = NoteSigner.from_skey(PETER_SKEY)
    text = b"first\n\nsecond\n\n"
    assert open_note(sign_note(text, [signer]), [peter()]).body == text


@pytest.mark.parametrize(
    "note",
    [
        TEXT,
        TEXT + b"\n",
        TEXT + b"\n" + PETER_SIG[:-1],
        b"\x01" + TEXT + b"\n" + PETER_SIG,
        b"\xff" + TEXT + b"\n" + PETER_SIG,
        TEXT + b"\n" + PETER_SIG.replace(b"PeterNeumann", b"Bad Name"),
        TEXT + b"\n" + PETER_SIG + b"Unexpected line.\n",
        TEXT + b"\n" + PETER_SIG.replace("\u2014".encode(), b"-"),
        TEXT + b"\n" + PETER_SIG.replace(b"=\n", b"\n"),  # bad padding
        TEXT + b"\n" + "\u2014 PeterNeumann AAAA\n".encode(),  # too short to hold a key ID
        TEXT + b"\r\n" + PETER_SIG,
    ],
)
def test_malformed_notes(note: bytes) -> None:
    with pytest.raises(MalformedNoteError):
        open_note(note, [peter()])


def test_size_limits() -> None:
    with pytest.raises(MalformedNoteError, match="more than 100"):
        open_note(TEXT + b"\n" + PETER_SIG * 101, [peter()])
    assert open_note(TEXT + b"\n" + PETER_SIG * 100, [peter()]).verified_names == ("PeterNeumann",)
    with pytest.raises(MalformedNoteError, match="larger"):
        open_note(TEXT + b"\n" + PETER_SIG, [peter()], max_size=100)


def test_sign_rejects_bad_text() -> None:
    signer = NoteSigner.from_skey(PETER_SKEY)
    for text in [b"abc", b"\xff\n", b"a\x00b\n"]:
        with pytest.raises(MalformedNoteError):
            sign_note(text, [signer])


def test_signature_line_round_trip() -> None:
    sig = parse_signature_line(PETER_SIG.decode()[:-1])
    assert (sig.name, sig.key_id) == ("PeterNeumann", 0xC74F20A3)
    assert sig.line() == PETER_SIG


# --- Checkpoints -----------------------------------------------------------------------------


def test_checkpoint_round_trip() -> None:
    cp = Checkpoint("ledger.enlace.example/audit", 42, EMPTY_ROOT, ("ext one", "ext two"))
    assert parse_checkpoint(cp.body()) == cp
    assert cp.body() == (
        b"ledger.enlace.example/audit\n42\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n"
        b"ext one\next two\n"
    )
    empty = Checkpoint("o", 0, EMPTY_ROOT)
    assert parse_checkpoint(empty.body()) == empty


def test_spec_checkpoint_parses() -> None:
    cp = parse_checkpoint(SPEC_BODY)
    assert (cp.origin, cp.size, cp.extensions) == ("example.com/behind-the-sofa", 20852163, ())
    assert cp.root_hash == base64.b64decode("CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=")
    assert cp.body() == SPEC_BODY
    # We do not hold the spec's log key, so its note parses but cannot be trusted.
    with pytest.raises(UnverifiedNoteError):
        open_note(SPEC_BODY + b"\n" + SPEC_LOG_SIG + SPEC_WITNESS_SIG, [peter()])


def test_signed_checkpoint_end_to_end() -> None:
    signer = NoteSigner("ledger.enlace.example/audit", Ed25519PrivateKey.generate())
    cp = Checkpoint(signer.name, 7, hashlib.sha256(b"root").digest())
    body, names = open_note(sign_note(cp.body(), [signer]), [signer.verifier()])
    assert parse_checkpoint(body) == cp and names == (signer.name,)


ROOT_B64 = base64.b64encode(EMPTY_ROOT)


@pytest.mark.parametrize(
    "body",
    [
        b"origin\n1\n" + ROOT_B64,  # no final newline
        b"origin\n1\n",  # too few lines
        b"\n1\n" + ROOT_B64 + b"\n",  # empty origin
        b"origin\n1\n" + ROOT_B64 + b"\n\n",  # empty extension line
        b"origin\n01\n" + ROOT_B64 + b"\n",  # leading zero
        b"origin\n-1\n" + ROOT_B64 + b"\n",
        b"origin\n+1\n" + ROOT_B64 + b"\n",
        b"origin\n 1\n" + ROOT_B64 + b"\n",
        b"origin\n1_0\n" + ROOT_B64 + b"\n",
        "origin\n\u0661\n".encode() + ROOT_B64 + b"\n",  # Arabic-Indic digit one
        b"origin\n18446744073709551616\n" + ROOT_B64 + b"\n",  # 2**64
        b"origin\n" + b"9" * 5000 + b"\n" + ROOT_B64 + b"\n",
        b"origin\n1\n" + base64.b64encode(EMPTY_ROOT[:31]) + b"\n",  # 31-byte hash
        b"origin\n1\n" + ROOT_B64.rstrip(b"=") + b"\n",  # missing padding
        b"origin\n1\n" + ROOT_B64[:-2] + b"V=\n",  # non-canonical trailing bits
        b"origin\n1\n" + base64.urlsafe_b64encode(b"\xff" * 32) + b"\n",  # URL-safe alphabet
        b"orig\x00in\n1\n" + ROOT_B64 + b"\n",
        b"\xffrigin\n1\n" + ROOT_B64 + b"\n",
    ],
)
def test_malformed_checkpoints(body: bytes) -> None:
    with pytest.raises(MalformedCheckpointError):
        parse_checkpoint(body)


def test_checkpoint_constructor_validates() -> None:
    for args in [
        ("", 1, EMPTY_ROOT),
        ("a\nb", 1, EMPTY_ROOT),
        ("o", -1, EMPTY_ROOT),
        ("o", 2**64, EMPTY_ROOT),
        ("o", True, EMPTY_ROOT),
        ("o", 1, b"short"),
    ]:
        with pytest.raises(MalformedCheckpointError):
            Checkpoint(*args)
    with pytest.raises(MalformedCheckpointError):
        Checkpoint("o", 1, EMPTY_ROOT, ("",))


# --- Cosignatures ----------------------------------------------------------------------------


def test_spec_cosignature_structure() -> None:
    sig = parse_signature_line(SPEC_WITNESS_SIG.decode()[:-1])
    assert sig.name == "witness.example.com/w1"
    assert sig.key_id == 0x8D66CF3F
    assert cosignature_timestamp(sig.signature) == 1679315147  # "time 1679315147" in the spec
    # transparency-dev/formats CosignatureTimestamp vector.
    raw = base64.b64decode(
        "ZGhGuQAAAABm/qTPeyKXD+R2rzyQsxPiP8mXum7qq/iF0u4vanlqJyocWODBt97w9uL+8qT7S5gxEHWWOworDc"
        "FiEBYJXORmnFBOBA=="
    )
    assert cosignature_timestamp(raw[4:]) == 1727964367
    with pytest.raises(MalformedNoteError):
        cosignature_timestamp(raw[4:-1])


def test_published_cosignature_vkey() -> None:
    verifier = CosignatureVerifier.from_vkey(REMORA_VKEY)
    assert verifier.key_id == 0xDA77ADE7
    assert verifier.to_vkey() == REMORA_VKEY
    with pytest.raises(KeyFormatError):
        NoteVerifier.from_vkey(REMORA_VKEY)  # type 0x04 is not a plain note key
    with pytest.raises(KeyFormatError):
        CosignatureVerifier.from_vkey(PETER_VKEY)


def test_cosignature_round_trip() -> None:
    log = NoteSigner("ledger.enlace.example/audit", Ed25519PrivateKey.generate())
    witness_key = Ed25519PrivateKey.generate()
    witness = CosignatureVerifier("witness.example/w1", witness_key.public_key())
    body = Checkpoint(log.name, 3, hashlib.sha256(b"r").digest(), ("ext",)).body()

    line = cosign(body, witness.name, witness_key, 1679315147)
    assert verify_cosignature(body, line, witness) == 1679315147
    # The signed message is exactly the spec's header, time line and checkpoint body.
    sig = parse_signature_line(line.decode()[:-1])
    assert sig.key_id == witness.key_id
    witness_key.public_key().verify(sig.signature[8:], b"cosignature/v1\ntime 1679315147\n" + body)

    note = sign_note(body, [log]) + line
    assert open_note(note, [log.verifier(), witness]).verified_names == (log.name, witness.name)
    assert open_note(note, [witness]).verified_names == (witness.name,)
    # The same key as a plain note key has a different ID, so the cosignature is just unknown.
    with pytest.raises(UnverifiedNoteError):
        open_note(body + b"\n" + line, [NoteVerifier(witness.name, witness_key.public_key())])


def test_cosignature_tampering() -> None:
    key = Ed25519PrivateKey.generate()
    witness = CosignatureVerifier("witness.example/w1", key.public_key())
    body = Checkpoint("log.example", 3, EMPTY_ROOT).body()
    sig = parse_signature_line(cosign(body, witness.name, key, 1000).decode()[:-1])

    later = NoteSignature(sig.name, sig.key_id, (1001).to_bytes(8, "big") + sig.signature[8:])
    with pytest.raises(InvalidSignatureError):
        verify_cosignature(body, later.line(), witness)
    other_body = Checkpoint("log.example", 4, EMPTY_ROOT).body()
    with pytest.raises(InvalidSignatureError):
        verify_cosignature(other_body, sig.line(), witness)
    with pytest.raises(InvalidSignatureError, match="not this witness"):
        verify_cosignature(body, sig.line(), CosignatureVerifier("other", key.public_key()))
    # Extension lines are covered by the cosignature.
    with_ext = Checkpoint("log.example", 3, EMPTY_ROOT, ("x",)).body()
    with pytest.raises(InvalidSignatureError):
        verify_cosignature(with_ext, sig.line(), witness)
    huge = NoteSignature(sig.name, sig.key_id, (2**63).to_bytes(8, "big") + sig.signature[8:])
    assert not witness.verify(body, huge.signature)


def test_cosign_rejects_bad_input() -> None:
    key = Ed25519PrivateKey.generate()
    body = Checkpoint("log.example", 3, EMPTY_ROOT).body()
    with pytest.raises(MalformedCheckpointError):
        cosign(b"not a checkpoint\n", "w", key, 1)
    with pytest.raises(ValueError):
        cosign(body, "w", key, -1)
    with pytest.raises(ValueError):
        cosign(body, "w", key, 2**63)
    with pytest.raises(KeyFormatError):
        cosign(body, "bad name", key, 1)
