"""The witness's pure core (kernel.ledger.witnessing): request format, decisions, cosignatures."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.kernel.encoding import b64encode
from gateway.kernel.ledger import checkpoint, merkle
from gateway.kernel.ledger.witnessing import (
    MAX_PROOF_LINES,
    AddCheckpoint,
    BadProof,
    Fork,
    Malformed,
    SizeConflict,
    UnknownLog,
    Untrusted,
    WitnessedHead,
    WitnessKey,
    check_add_checkpoint,
    cosignature_from,
    parse_add_checkpoint,
    parse_size_body,
    size_body,
)
from tests.witness.logs import Log

ORIGIN = "example.org/enlace/MX/ledger"

# The example request body of the C2SP tlog-witness specification, verbatim.
SPEC_BODY = (
    "old 20852014\n"
    "PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=\n"
    "jrJZDmY8Y7SyJE0MWLpLozkIVMSMZcD5kvuKxPC3swk=\n"
    "5+pKlUdi2LeF/BcMHBn+Ku6yhPGNCswZZD1X/6QgPd8=\n"
    "/6WVhPs2CwSsb5rYBH5cjHV/wSmA79abXAwhXw3Kj/0=\n"
    "\n"
    "example.com/behind-the-sofa\n"
    "20852163\n"
    "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    "\n"
    "\u2014 example.com/behind-the-sofa "
    "Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n"
    "\u2014 example.com/behind-the-sofa "
    "opLqBQsREYCgu6xQkYQwJr9fo45a62DN9EdmHXnZdXNqlcVGlCum2Wks+49/V6267UEjw6QUXTS5Rovnzv++qbSzm9Q=\n"
).encode()


@pytest.fixture
def log() -> Log:
    return Log(ORIGIN)


def decide(log: Log, request: AddCheckpoint, latest: WitnessedHead | None) -> WitnessedHead:
    return check_add_checkpoint(request, [log.verifier], latest)


# --- The request body ----------------------------------------------------------------------------


def test_the_specification_example_parses_and_rebuilds_byte_for_byte() -> None:
    request = parse_add_checkpoint(SPEC_BODY)
    assert request.old_size == 20852014
    assert len(request.proof) == 4
    assert request.checkpoint.origin == "example.com/behind-the-sofa"
    assert request.checkpoint.size == 20852163
    assert request.text == request.checkpoint.body()
    assert request.body() == SPEC_BODY


def test_a_built_request_parses_back(log: Log) -> None:
    log.grow(5)
    first = log.head()
    log.grow(8)
    request = log.request(first.size)
    assert len(request.proof) > 0
    assert parse_add_checkpoint(request.body()) == request


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"old 5",  # no newline
        b"old 05\n\n",  # leading zero
        b"old -1\n\n",
        b"Old 5\n\n",
        b"old  5\n\n",
        b"old 5\nnot base64!\n\n",
        b"old 5\n" + b64encode(b"short").encode() + b"\n\n",
        b"old 5\n" + b64encode(bytes(32)).encode(),  # no empty line
        b"old 123456789012345678901\n\n",  # beyond uint64
    ],
)
def test_malformed_request_bodies_are_400(body: bytes) -> None:
    with pytest.raises(Malformed) as caught:
        parse_add_checkpoint(body)
    assert caught.value.status == 400


def test_more_than_63_proof_lines_is_400(log: Log) -> None:
    line = b64encode(bytes(32)).encode() + b"\n"
    body = b"old 1\n" + line * (MAX_PROOF_LINES + 1) + b"\n" + log.grow(1).note()
    with pytest.raises(Malformed, match="63"):
        parse_add_checkpoint(body)
    # 63 is fine as far as the format goes.
    assert len(parse_add_checkpoint(b"old 1\n" + line * 63 + b"\n" + log.note()).proof) == 63


@pytest.mark.parametrize(
    "note",
    [
        b"example.org/log\n5\n",  # no signature block
        f"example.org/log\n05\n{b64encode(bytes(32))}\n\n\u2014 x AAAA\n".encode(),
        "example.org/log\n5\nnot-a-hash\n\n\u2014 x AAAA\n".encode(),
    ],
)
def test_malformed_checkpoint_notes_are_400(note: bytes) -> None:
    with pytest.raises(Malformed):
        parse_add_checkpoint(b"old 0\n\n" + note)


# --- The witness's decision ----------------------------------------------------------------------


def test_first_checkpoint_with_old_zero_is_accepted(log: Log) -> None:
    log.grow(7)
    state = decide(log, log.request(0), None)
    assert state == WitnessedHead(7, log.tree.root())


def test_old_zero_with_a_proof_is_422(log: Log) -> None:
    log.grow(7)
    request = AddCheckpoint.of(0, [bytes(32)], log.note())
    with pytest.raises(BadProof) as caught:
        decide(log, request, None)
    assert caught.value.status == 422


def test_consistent_growth_is_accepted_step_after_step(log: Log) -> None:
    state = None
    for step in (1, 1, 2, 5, 8, 13, 64, 3):
        old = state.size if state else 0
        log.grow(step)
        state = decide(log, log.request(old), state)
        assert state == WitnessedHead(log.tree.size, log.tree.root())


def test_the_same_checkpoint_again_is_cosigned_again(log: Log) -> None:
    log.grow(9)
    state = decide(log, log.request(0), None)
    assert decide(log, log.request(9), state) == state


def test_a_stale_old_size_is_409_with_the_witness_size(log: Log) -> None:
    log.grow(10)
    state = decide(log, log.request(0), None)
    log.grow(5)
    for old in (0, 4, 11):
        with pytest.raises(SizeConflict) as caught:
            decide(log, log.request(old), state)
        assert (caught.value.status, caught.value.size) == (409, 10)


def test_a_client_without_state_learns_the_size_from_old_zero(log: Log) -> None:
    log.grow(10)
    state = decide(log, log.request(0), None)
    log.grow(1)
    with pytest.raises(SizeConflict) as caught:
        decide(log, log.request(0), state)
    assert decide(log, log.request(caught.value.size), state).size == 11


def test_a_rollback_to_a_smaller_tree_is_refused(log: Log) -> None:
    log.grow(6)
    small = log.request(0)
    log.grow(10)
    state = decide(log, log.request(0), None)
    # Claiming the witness's own size as old: old > checkpoint size, 400.
    with pytest.raises(Malformed) as bad:
        decide(log, AddCheckpoint.of(16, [], small.note), state)
    assert bad.value.status == 400
    # Claiming any old size the checkpoint allows: not the witness's size, 409.
    with pytest.raises(SizeConflict) as conflict:
        decide(log, small, state)
    assert conflict.value.size == 16


def test_a_fork_at_the_same_size_is_409(log: Log) -> None:
    log.grow(12)
    state = decide(log, log.request(0), None)
    forked = Log(ORIGIN, log.signer, salt="rewritten ").grow(12)
    with pytest.raises(Fork) as caught:
        decide(log, forked.request(12), state)
    assert caught.value.status == 409


def test_a_fork_that_grew_fails_its_consistency_proof(log: Log) -> None:
    log.grow(12)
    state = decide(log, log.request(0), None)
    forked = Log(ORIGIN, log.signer, salt="rewritten ").grow(20)
    with pytest.raises(BadProof):
        decide(log, forked.request(12), state)


@pytest.mark.parametrize("damage", ["flip", "drop", "extra"])
def test_a_bad_consistency_proof_is_422(log: Log, damage: str) -> None:
    log.grow(11)
    state = decide(log, log.request(0), None)
    log.grow(6)
    proof = log.proof(11)
    if damage == "flip":
        proof[0] = bytes([proof[0][0] ^ 1]) + proof[0][1:]
    elif damage == "drop":
        proof = proof[:-1]
    else:
        proof = [*proof, bytes(32)]
    with pytest.raises(BadProof) as caught:
        decide(log, AddCheckpoint.of(11, proof, log.note()), state)
    assert caught.value.status == 422


def test_an_unknown_origin_is_404(log: Log) -> None:
    log.grow(3)
    with pytest.raises(UnknownLog) as caught:
        check_add_checkpoint(log.request(0), [], None)
    assert caught.value.status == 404


def test_a_checkpoint_signed_by_another_key_is_403(log: Log) -> None:
    impostor = checkpoint.NoteSigner(ORIGIN, Ed25519PrivateKey.generate())
    log.grow(3)
    request = AddCheckpoint.of(0, [], log.note(impostor))
    with pytest.raises(Untrusted) as caught:
        decide(log, request, None)
    assert caught.value.status == 403


def test_a_bad_signature_from_the_trusted_key_is_403(log: Log) -> None:
    log.grow(3)
    note = log.note()
    forged = note.replace(b"\n3\n", b"\n4\n")  # same signature over another text
    with pytest.raises(Untrusted):
        decide(log, AddCheckpoint.of(0, [], forged), None)


def test_unknown_signatures_are_ignored_next_to_a_trusted_one(log: Log) -> None:
    other = checkpoint.NoteSigner("someone.else/key", Ed25519PrivateKey.generate())
    log.grow(3)
    request = AddCheckpoint.of(0, [], log.note(other, log.signer))
    assert decide(log, request, None).size == 3


def test_any_of_several_trusted_keys_may_sign(log: Log) -> None:
    rotated = checkpoint.NoteSigner(ORIGIN, Ed25519PrivateKey.generate())
    log.grow(3)
    request = AddCheckpoint.of(0, [], log.note(rotated))
    assert check_add_checkpoint(request, [log.verifier, rotated.verifier()], None).size == 3


def test_an_empty_tree_checkpoint_must_have_the_empty_root(log: Log) -> None:
    assert decide(log, log.request(0), None) == WitnessedHead.empty()
    wrong = checkpoint.Checkpoint(ORIGIN, 0, merkle.leaf_hash(b"x"))
    request = AddCheckpoint.of(0, [], checkpoint.sign_note(wrong.body(), [log.signer]))
    with pytest.raises(Fork):
        decide(log, request, None)


# --- Cosignatures and answers --------------------------------------------------------------------


def test_the_cosignature_verifies_with_the_witness_vkey(log: Log) -> None:
    witness = WitnessKey.generate("witness.example/w1")
    log.grow(4)
    request = log.request(0)
    line = witness.cosign(request, 1_700_000_000)
    vkey = witness.verifier().to_vkey()
    verifier = checkpoint.CosignatureVerifier.from_vkey(vkey)
    assert checkpoint.verify_cosignature(request.text, line, verifier) == 1_700_000_000
    # The cosigned note opens with both keys.
    opened = checkpoint.open_note(request.note + line, [log.verifier, verifier])
    assert opened.verified_names == (ORIGIN, "witness.example/w1")


def test_the_witness_key_round_trips_through_its_secret_string() -> None:
    witness = WitnessKey.generate("witness.example/w1")
    again = WitnessKey.from_skey(witness.to_skey())
    assert again.verifier().to_vkey() == witness.verifier().to_vkey()


def test_cosignature_from_picks_the_trusted_witness_line(log: Log) -> None:
    ours = WitnessKey.generate("witness.example/w1")
    theirs = WitnessKey.generate("witness.example/w2")
    log.grow(4)
    request = log.request(0)
    ours_line = ours.cosign(request, 42)
    answer = theirs.cosign(request, 7) + ours_line
    assert cosignature_from(answer, request, ours.verifier()) == (ours_line, 42)
    with pytest.raises(checkpoint.UnverifiedNoteError):
        cosignature_from(theirs.cosign(request, 7), request, ours.verifier())
    log.grow(1)
    with pytest.raises(checkpoint.InvalidSignatureError):
        cosignature_from(ours_line, log.request(0), ours.verifier())
    with pytest.raises(checkpoint.MalformedNoteError):
        cosignature_from(b"not a signature line\n", request, ours.verifier())


def test_the_409_size_body_round_trips() -> None:
    assert size_body(20852014) == b"20852014\n"
    assert parse_size_body(size_body(0)) == 0
    assert parse_size_body(size_body((1 << 64) - 1)) == (1 << 64) - 1
    for bad in (b"", b"12", b"012\n", b"12\n\n", b" 12\n", b"18446744073709551616\n"):
        with pytest.raises(ValueError):
            parse_size_body(bad)
