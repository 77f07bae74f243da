"""The trust document and the k-of-n witness policy (gateway/kernel/ledger/trust.py)."""

from __future__ import annotations

import time

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.kernel.ledger import checkpoint, trust

ORIGIN = "example.test/log"


def _witness(name: str) -> tuple[Ed25519PrivateKey, checkpoint.CosignatureVerifier]:
    key = Ed25519PrivateKey.generate()
    return key, checkpoint.CosignatureVerifier(name, key.public_key())


@pytest.fixture
def log() -> checkpoint.NoteSigner:
    return checkpoint.NoteSigner(ORIGIN, Ed25519PrivateKey.generate())


def _note(log: checkpoint.NoteSigner, *cosigners: tuple[str, Ed25519PrivateKey]) -> bytes:
    body = checkpoint.Checkpoint(ORIGIN, 5, bytes(32)).body()
    note = checkpoint.sign_note(body, [log])
    for name, key in cosigners:
        note += checkpoint.cosign(body, name, key, int(time.time()))
    return note


def test_the_fingerprint_is_sha256_of_the_vkey_text_in_groups_of_four() -> None:
    shown = trust.fingerprint("abc")
    assert shown == "BA78 16BF 8F01 CFEA 4141 40DE 5DAE 2223"


def test_k_of_n_counts_distinct_pinned_witnesses(log: checkpoint.NoteSigner) -> None:
    (k1, w1), (k2, w2), (k3, _) = _witness("w.test/1"), _witness("w.test/2"), _witness("w.test/3")
    policy = trust.WitnessPolicy((w1, w2), 2)
    head, names = policy.check(_note(log, ("w.test/1", k1), ("w.test/2", k2)), log.verifier())
    assert head.size == 5 and names == ("w.test/1", "w.test/2")
    # One pinned cosignature and one from a stranger: 1 of the 2 needed.
    with pytest.raises(trust.TrustError, match="1 of the 2"):
        policy.check(_note(log, ("w.test/1", k1), ("w.test/3", k3)), log.verifier())
    # The same witness twice counts once.
    with pytest.raises(trust.TrustError, match="1 of the 2"):
        policy.check(_note(log, ("w.test/1", k1), ("w.test/1", k1)), log.verifier())
    # A cosignature under a pinned name with another key is not that witness's.
    with pytest.raises(trust.TrustError):
        policy.check(_note(log, ("w.test/1", k1), ("w.test/2", k3)), log.verifier())
    # Another log key: refused whatever the witnesses say.
    other = checkpoint.NoteSigner(ORIGIN, Ed25519PrivateKey.generate())
    with pytest.raises(trust.TrustError):
        policy.check(_note(other, ("w.test/1", k1), ("w.test/2", k2)), log.verifier())


def test_a_policy_must_be_satisfiable_and_unambiguous() -> None:
    _, w1 = _witness("w.test/1")
    with pytest.raises(trust.TrustError, match="quorum 2 of 1"):
        trust.WitnessPolicy((w1,), 2)
    with pytest.raises(trust.TrustError, match="name of its own"):
        trust.WitnessPolicy((w1, w1), 1)


def test_the_trust_document_round_trips_and_checks_its_fingerprints(
    log: checkpoint.NoteSigner,
) -> None:
    _, w1 = _witness("w.test/1")
    document = trust.TrustDocument(log.verifier(), trust.WitnessPolicy((w1,), 1))
    data = document.to_json()
    assert data["log"]["fingerprint"] == trust.fingerprint(log.verifier().to_vkey())
    parsed = trust.TrustDocument.parse(data)
    assert parsed.log.to_vkey() == log.verifier().to_vkey() and parsed.policy.quorum == 1
    data["witnesses"][0]["fingerprint"] = data["log"]["fingerprint"]
    with pytest.raises(trust.TrustError, match="fingerprint"):
        trust.TrustDocument.parse(data)
    for broken in ({}, {"format": "other"}, {**document.to_json(), "quorum": "1"}):
        with pytest.raises(trust.TrustError):
            trust.TrustDocument.parse(broken)
    swapped = {**document.to_json(), "log": document.to_json()["witnesses"][0]}
    with pytest.raises(trust.TrustError, match="log key"):
        trust.TrustDocument.parse(swapped)  # a witness key is not a log key
