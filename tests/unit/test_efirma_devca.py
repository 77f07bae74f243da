"""The SAT-like dev PKI: certificates and .key files must look like SAT's real ones."""

from __future__ import annotations

import shutil
import stat
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from gateway.devtools import sat_ca as devca
from gateway.kernel.efirma import certificate as efirma
from gateway.kernel.efirma import der as _der

DATA = Path(__file__).resolve().parents[1] / "data" / "sat"
SAT_TEST_PASSWORD = b"12345678a"
T0 = datetime(2026, 1, 1, tzinfo=UTC)
FOUR_YEARS = timedelta(days=4 * 365)


@pytest.fixture(scope="module")
def ca() -> devca.DevCA:
    return devca.create_dev_ca(not_before=T0)


@pytest.fixture(scope="module")
def pool() -> devca.KeyPool:
    return devca.KeyPool(2)


def _real(name: str) -> x509.Certificate:
    return efirma.parse_certificate((DATA / name).read_bytes()).certificate


def _layout(name: x509.Name) -> list[tuple[str, object]]:
    return [(a.oid.dotted_string, a._type) for a in name]


def _extensions(cert: x509.Certificate) -> list[tuple[str, bool]]:
    return [(e.oid.dotted_string, e.critical) for e in cert.extensions]


def test_efirma_layout_matches_real_sat_fiel(ca: devca.DevCA, pool: devca.KeyPool) -> None:
    real = _real("FIEL_AAA010101AAA.cer.pem")
    synthetic = devca.issue_efirma_moral(
        ca,
        rfc="AAA010101AAA",
        name="ACCEM SERVICIOS EMPRESARIALES SC",
        email="FactElect@example.org",
        representative_rfc="HEGT7610034S2",
        representative_curp="HEGT761003MDFRNN09",
        serial20="30001000000500000001",
        not_before=T0,
        not_after=T0 + FOUR_YEARS,
        key=pool.take(),
    ).certificate
    assert _layout(synthetic.subject) == _layout(real.subject)
    assert _extensions(synthetic) == _extensions(real)
    for ext in (x509.KeyUsage, x509.ExtendedKeyUsage, x509.BasicConstraints):
        assert (
            synthetic.extensions.get_extension_for_class(ext).value
            == real.extensions.get_extension_for_class(ext).value
        )
    netscape = x509.ObjectIdentifier("2.16.840.1.113730.1.1")
    assert (
        synthetic.extensions.get_extension_for_oid(netscape).value
        == real.extensions.get_extension_for_oid(netscape).value
    )
    public_key = synthetic.public_key()
    assert isinstance(public_key, rsa.RSAPublicKey) and public_key.key_size == 2048
    assert synthetic.signature_algorithm_oid == real.signature_algorithm_oid


def test_fisica_layout_matches_real_sat_fiel(ca: devca.DevCA, pool: devca.KeyPool) -> None:
    real = _real("FIEL_CACX7605101P8.cer")
    synthetic = devca.issue_efirma(
        ca,
        rfc="CACX7605101P8",
        curp="CACX760510MGTSHC04",
        name="XOCHILT CASAS CHAVEZ",
        email="pruebas@example.org",
        serial20="30001000000500000001",
        not_before=T0,
        not_after=T0 + FOUR_YEARS,
        key=pool.take(),
    ).certificate
    assert _layout(synthetic.subject) == _layout(real.subject)
    parsed = efirma.parse_certificate(synthetic.public_bytes(serialization.Encoding.DER))
    assert (parsed.rfc, parsed.curp, parsed.kind) == (
        "CACX7605101P8",
        "CACX760510MGTSHC04",
        "efirma",
    )


def test_csd_layout_matches_real_sat_csd(ca: devca.DevCA, pool: devca.KeyPool) -> None:
    real = _real("CSD_CACX7605101P8.cer")
    synthetic = devca.issue_csd(
        ca,
        rfc="CACX7605101P8",
        curp="CACX760510MGTSHC04",
        name="XOCHILT CASAS CHAVEZ",
        branch="XOCHILT CASAS CHAVEZ 2",
        serial20="30001000000500000002",
        not_before=T0,
        not_after=T0 + FOUR_YEARS,
        key=pool.take(),
    ).certificate
    assert _layout(synthetic.subject) == _layout(real.subject)
    assert _extensions(synthetic) == _extensions(real)
    assert (
        synthetic.extensions.get_extension_for_class(x509.KeyUsage).value
        == real.extensions.get_extension_for_class(x509.KeyUsage).value
    )


def test_moral_csd_uses_slash_layout(ca: devca.DevCA, pool: devca.KeyPool) -> None:
    issued = devca.issue_csd(
        ca,
        rfc="AAA010101AAA",
        representative_rfc="HEGT7610034S2",
        representative_curp="HEGT761003MDFRNN09",
        name="ACCEM SERVICIOS EMPRESARIALES SC",
        branch="CSD01_AAA010101AAA",
        serial20="30001000000500000003",
        not_before=T0,
        not_after=T0 + FOUR_YEARS,
        key=pool.take(),
    )
    subject = issued.certificate.subject
    assert subject.get_attributes_for_oid(NameOID.X500_UNIQUE_IDENTIFIER)[0].value == (
        "AAA010101AAA / HEGT7610034S2"
    )
    assert subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER)[0].value == " / HEGT761003MDFRNN09"
    with pytest.raises(ValueError):
        devca.issue_csd(
            ca,
            rfc="AAA010101AAA",
            name="X",
            branch="B",
            serial20="30001000000500000003",
            not_before=T0,
            not_after=T0 + FOUR_YEARS,
            key=pool.take(),
        )


def test_names_outside_printablestring_use_utf8(ca: devca.DevCA, pool: devca.KeyPool) -> None:
    issued = devca.issue_efirma(
        ca,
        rfc="PEÑA800101AB1",
        curp="PEXA800101HDFXXN09",
        name="ANA PEÑA & CIA",
        email="ana@example.org",
        serial20="30001000000500000004",
        not_before=T0,
        not_after=T0 + FOUR_YEARS,
        key=pool.take(),
    )
    cn = issued.certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0]
    assert cn._type == x509.name._ASN1Type.UTF8String
    parsed = efirma.parse_certificate(issued.certificate.public_bytes(serialization.Encoding.PEM))
    assert (parsed.rfc, parsed.name) == ("PEÑA800101AB1", "ANA PEÑA & CIA")


def test_ca_hierarchy(ca: devca.DevCA) -> None:
    assert ca.root_key.key_size == 3072
    assert ca.ca_cert.issuer == ca.root_cert.subject
    assert ca.ca_cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == (
        "AC DE PRUEBAS DEL GATEWAY"
    )
    assert ca.ca_cert.subject.get_attributes_for_oid(NameOID.X500_UNIQUE_IDENTIFIER)[0].value == (
        devca.SAT_RFC
    )
    ca.ca_cert.verify_directly_issued_by(ca.root_cert)
    ca.ocsp_cert.verify_directly_issued_by(ca.ca_cert)
    eku = ca.ocsp_cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.OCSP_SIGNING]
    assert ca.ocsp_cert.extensions.get_extension_for_class(x509.OCSPNoCheck)


def test_sat_serial() -> None:
    serial = devca.sat_serial("30001000000500000001")
    assert serial.to_bytes(20, "big") == b"30001000000500000001"
    for bad in ("3000100000050000000", "3000100000050000000X", "３0001000000500000001"):
        with pytest.raises(ValueError):
            devca.sat_serial(bad)


def test_issue_rejects_inverted_validity(ca: devca.DevCA, pool: devca.KeyPool) -> None:
    with pytest.raises(ValueError):
        devca.issue_efirma(
            ca,
            rfc="CACX7605101P8",
            curp="CACX760510MGTSHC04",
            name="X",
            email="x@example.org",
            serial20="30001000000500000001",
            not_before=T0,
            not_after=T0,
            key=pool.take(),
        )


def test_key_pool_round_robin(pool: devca.KeyPool) -> None:
    first, second, third = pool.take(), pool.take(), pool.take()
    assert len(pool) == 2
    assert first is not second
    assert third is first
    with pytest.raises(ValueError):
        devca.KeyPool(0)


def test_save_and_load(ca: devca.DevCA, tmp_path: Path) -> None:
    ca.save(tmp_path / "pki")
    for name in ("root.key.pem", "ca.key.pem", "ocsp.key.pem"):
        assert stat.S_IMODE((tmp_path / "pki" / name).stat().st_mode) == 0o600
    loaded = devca.DevCA.load(tmp_path / "pki")
    assert loaded.root_cert == ca.root_cert
    assert loaded.ca_cert == ca.ca_cert
    assert loaded.ocsp_cert == ca.ocsp_cert
    assert loaded.ca_key.private_numbers() == ca.ca_key.private_numbers()
    # Saving over existing files keeps keys private even if they were loosened meanwhile.
    (tmp_path / "pki" / "ca.key.pem").chmod(0o644)
    ca.save(tmp_path / "pki")
    assert stat.S_IMODE((tmp_path / "pki" / "ca.key.pem").stat().st_mode) == 0o600


# --- SAT .key export ---------------------------------------------------------------------------


def _pbes2_params(key_der: bytes) -> tuple[list[str], bytes, int, bytes]:
    """(OIDs in order, salt, iterations, iv) from an EncryptedPrivateKeyInfo."""
    outer = _der.children(_der.read_exact(key_der, _der.SEQUENCE).value)
    algorithm = _der.children(outer[0].value)
    kdf, scheme = _der.children(algorithm[1].value)
    kdf_oid, kdf_params = _der.children(kdf.value)
    salt, iterations = _der.children(kdf_params.value)
    scheme_oid, iv = _der.children(scheme.value)
    oids = [_der.decode_oid(x.value) for x in (algorithm[0], kdf_oid, scheme_oid)]
    return oids, salt.value, int.from_bytes(iterations.value, "big"), iv.value


def test_export_reproduces_sat_key_byte_for_byte() -> None:
    sat_key = (DATA / "FIEL_CACX7605101P8.key").read_bytes()
    key = efirma.load_key(sat_key, SAT_TEST_PASSWORD)
    _, salt, _, iv = _pbes2_params(sat_key)
    assert devca.export_key_sat(key, SAT_TEST_PASSWORD, salt=salt, iv=iv) == sat_key


def test_export_uses_sat_algorithms_with_fresh_salt(pool: devca.KeyPool) -> None:
    key = pool.take()
    sat_oids, _, sat_iterations, _ = _pbes2_params((DATA / "FIEL_CACX7605101P8.key").read_bytes())
    first = devca.export_key_sat(key, b"pw")
    oids, salt, iterations, iv = _pbes2_params(first)
    assert (
        oids == sat_oids == ["1.2.840.113549.1.5.13", "1.2.840.113549.1.5.12", "1.2.840.113549.3.7"]
    )
    assert iterations == sat_iterations == 2048
    assert len(salt) == len(iv) == 8
    assert _pbes2_params(devca.export_key_sat(key, b"pw"))[1] != salt
    reloaded = serialization.load_der_private_key(first, b"pw")
    assert isinstance(reloaded, rsa.RSAPrivateKey)
    assert reloaded.private_numbers() == key.private_numbers()
    with pytest.raises(ValueError):
        devca.export_key_sat(key, b"pw", salt=b"short")


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl CLI not installed")
def test_openssl_asn1parse_sees_sat_algorithms(pool: devca.KeyPool, tmp_path: Path) -> None:
    path = tmp_path / "synthetic.key"
    path.write_bytes(devca.export_key_sat(pool.take(), b"pw"))
    out = subprocess.run(
        ["openssl", "asn1parse", "-inform", "DER", "-in", str(path)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    objects = [line.split(":")[-1].strip() for line in out.splitlines() if "OBJECT" in line]
    assert objects == ["PBES2", "PBKDF2", "des-ede3-cbc"]
    assert ":0800" in out  # 2048 iterations
