"""The ledger's second secret: body digests keyed apart from the pseudonym key."""

from __future__ import annotations

import hashlib

import pytest

from gateway.devtools import devca
from gateway.kernel.encoding import b64encode
from gateway.kernel.ledger import record

BODY = b'{"nombres":"CAMILA","primerApellido":"GARCIA","fechaNacimiento":"1981-06-08"}'


def test_a_body_digest_is_keyed_and_not_the_plain_sha256():
    one, other = record.body_digest(b"a" * 32, BODY), record.body_digest(b"b" * 32, BODY)
    assert one.startswith("hmac-sha256:") and one != other
    assert b64encode(hashlib.sha256(BODY).digest()) not in one
    assert record.body_digest(b"a" * 32, BODY) == one


def test_pki_init_creates_a_distinct_digest_key(tmp_path):
    folder, _ = devca.init_pki(tmp_path, "MX", hosts=["localhost"])
    assert oct(folder.ledger_digest_key.stat().st_mode)[-3:] == "600"
    pseudonym, digest, covert = folder.load_ledger_secrets()
    assert len(digest) == 32 and digest != pseudonym
    assert oct(folder.ledger_covert_key.stat().st_mode)[-3:] == "600"
    assert len(covert) == 32 and covert not in (pseudonym, digest)


def test_an_older_pki_gets_its_digest_key_and_keeps_the_rest(tmp_path):
    folder, _ = devca.init_pki(tmp_path, "MX", hosts=["localhost"])
    folder.ledger_digest_key.unlink()
    folder.ledger_covert_key.unlink()
    pseudonym = folder.pseudonym_key.read_bytes()
    _, created = devca.init_pki(tmp_path, "MX", hosts=["localhost"])
    assert created and folder.ledger_digest_key.exists() and folder.ledger_covert_key.exists()
    assert folder.pseudonym_key.read_bytes() == pseudonym
    _, created_again = devca.init_pki(tmp_path, "MX", hosts=["localhost"])
    assert not created_again


def test_one_secret_used_as_both_is_refused(tmp_path):
    folder, _ = devca.init_pki(tmp_path, "MX", hosts=["localhost"])
    folder.ledger_digest_key.write_bytes(folder.pseudonym_key.read_bytes())
    with pytest.raises(ValueError, match="must differ"):
        folder.load_ledger_secrets()


@pytest.mark.parametrize("other", ["pseudonym_key", "ledger_digest_key"])
def test_a_covert_key_equal_to_another_secret_is_refused(tmp_path, other):
    folder, _ = devca.init_pki(tmp_path, "MX", hosts=["localhost"])
    folder.ledger_covert_key.write_bytes(getattr(folder, other).read_bytes())
    with pytest.raises(ValueError, match="ledger-covert.key must differ"):
        folder.load_ledger_secrets()
