"""e.firma parsing/validation against SAT's real public test certificates and a synthetic PKI."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID

from gateway.devtools import sat_ca as devca
from gateway.kernel.efirma import certificate as efirma

DATA = Path(__file__).resolve().parents[1] / "data" / "sat"
SAT_TEST_PASSWORD = b"12345678a"  # SAT's published password for its test credentials

T0 = datetime(2026, 1, 1, tzinfo=UTC)
AT = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
FOUR_YEARS = timedelta(days=4 * 365)


def _read(name: str) -> bytes:
    return (DATA / name).read_bytes()


@pytest.fixture(scope="module")
def ca() -> devca.DevCA:
    return devca.create_dev_ca(not_before=T0 - timedelta(days=30))


@pytest.fixture(scope="module")
def pool() -> devca.KeyPool:
    return devca.KeyPool(2)


@pytest.fixture(scope="module")
def fisica(ca: devca.DevCA, pool: devca.KeyPool) -> devca.Issued:
    return devca.issue_efirma(
        ca,
        rfc="GODE561231GR8",
        curp="GODE561231HDFRRN09",
        name="EMILIO GOMEZ DIAZ",
        email="emilio@example.org",
        serial20="30001000000500000001",
        not_before=T0,
        not_after=T0 + FOUR_YEARS,
        key=pool.take(),
    )


def _validate(
    issued: devca.Issued, ca: devca.DevCA, *, at: datetime = AT, **kwargs: bool
) -> efirma.ValidationResult:
    cert = efirma.parse_certificate(issued.certificate.public_bytes(serialization.Encoding.DER))
    return efirma.validate_certificate(
        cert, trust_roots=[ca.root_cert], intermediates=[ca.ca_cert], at=at, **kwargs
    )


# --- SAT's real public test certificates (tests/data/sat/README.md) ---------------------------


def test_real_fiel_persona_moral_with_representative() -> None:
    cert = efirma.parse_certificate(_read("FIEL_AAA010101AAA.cer.pem"))
    assert cert.kind == "efirma"
    assert cert.persona == "moral"
    assert cert.serial_ascii == "30001000000300023685"
    assert cert.rfc == "AAA010101AAA"
    assert cert.curp is None
    assert cert.representative_rfc == "HEGT7610034S2"
    assert cert.representative_curp == "HEGT761003MDFRNN09"
    assert cert.name == "ACCEM SERVICIOS EMPRESARIALES SC"
    assert cert.email == "FactElect@sat.gob.mx"
    assert cert.branch is None
    assert cert.not_before == datetime(2017, 5, 16, 23, 29, 17, tzinfo=UTC)
    assert (cert.not_after - cert.not_before).days == 1460
    assert cert.issuer.common_name == "A.C. 2 de pruebas(4096)"
    assert cert.issuer.unique_identifier == "SAT970701NN3"


def test_real_csd_persona_moral_is_csd() -> None:
    cert = efirma.parse_certificate(_read("CSD01_AAA010101AAA.cer.pem"))
    assert cert.kind == "csd"
    assert cert.serial_ascii == "30001000000300023708"
    assert cert.rfc == "AAA010101AAA"
    assert cert.representative_rfc == "HEGT7610034S2"
    assert cert.representative_curp == "HEGT761003MDFRNN09"
    assert cert.branch == "CSD01_AAA010101AAA"
    assert cert.email is None
    assert (cert.not_after - cert.not_before).days == 1461


def test_real_fiel_persona_fisica_der() -> None:
    cert = efirma.parse_certificate(_read("FIEL_CACX7605101P8.cer"))
    assert cert.kind == "efirma"
    assert cert.persona == "fisica"
    assert cert.serial_ascii == "30001000000500003282"
    assert cert.rfc == "CACX7605101P8"
    assert cert.curp == "CACX760510MGTSHC04"
    assert cert.representative_rfc is None
    assert cert.representative_curp is None
    assert cert.name == "XOCHILT CASAS CHAVEZ"
    assert cert.email == "pruebas@pruebas.gob.mx"
    assert cert.branch is None
    assert cert.issuer.common_name == "AC UAT"
    assert cert.not_after == datetime(2027, 5, 8, 18, 5, 49, tzinfo=UTC)


def test_real_csd_persona_fisica() -> None:
    cert = efirma.parse_certificate(_read("CSD_CACX7605101P8.cer"))
    assert cert.kind == "csd"
    assert cert.persona == "fisica"
    assert cert.serial_ascii == "30001000000400002451"
    assert cert.curp == "CACX760510MGTSHC04"
    assert cert.branch == "XOCHILT CASAS CHAVEZ 2"


def test_pem_and_der_parse_the_same() -> None:
    der = _read("FIEL_CACX7605101P8.cer")
    pem = x509.load_der_x509_certificate(der).public_bytes(serialization.Encoding.PEM)
    assert efirma.parse_certificate(pem) == efirma.parse_certificate(der)


def test_real_csd_rejected_and_real_fiel_has_no_configured_issuer(ca: devca.DevCA) -> None:
    at = datetime(2019, 1, 1, tzinfo=UTC)
    csd = efirma.parse_certificate(_read("CSD01_AAA010101AAA.cer.pem"))
    fiel = efirma.parse_certificate(_read("FIEL_AAA010101AAA.cer.pem"))
    roots = [ca.root_cert]
    csd_result = efirma.validate_certificate(csd, trust_roots=roots, intermediates=[], at=at)
    fiel_result = efirma.validate_certificate(fiel, trust_roots=roots, intermediates=[], at=at)
    assert csd_result.codes == ("efirma.is_csd", "efirma.unknown_issuer")
    assert fiel_result.codes == ("efirma.unknown_issuer",)


def test_real_fiel_expired() -> None:
    fiel = efirma.parse_certificate(_read("FIEL_AAA010101AAA.cer.pem"))
    result = efirma.validate_certificate(fiel, trust_roots=[], intermediates=[], at=AT)
    assert result.codes == ("efirma.expired", "efirma.unknown_issuer")


def test_real_sat_key_loads_signs_and_matches_certificate() -> None:
    key = efirma.load_key(_read("FIEL_CACX7605101P8.key"), SAT_TEST_PASSWORD)
    cert = efirma.parse_certificate(_read("FIEL_CACX7605101P8.cer"))
    assert efirma.key_matches(cert, key)
    data = b"cadena original"
    signature = key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    assert efirma.verify_signature(cert, signature, data)


def test_real_sat_key_wrong_password() -> None:
    with pytest.raises(efirma.BadPasswordError) as info:
        efirma.load_key(_read("FIEL_CACX7605101P8.key"), b"12345678b")
    assert info.value.code == "efirma.bad_password"


# --- malformed input ----------------------------------------------------------------------------


@pytest.mark.parametrize("data", [b"", b"not a certificate", b"-----BEGIN CERTIFICATE-----\n"])
def test_garbage_certificate(data: bytes) -> None:
    with pytest.raises(efirma.CertificateFormatError) as info:
        efirma.parse_certificate(data)
    assert info.value.code == "efirma.malformed"


def test_certificate_without_rfc(ca: devca.DevCA) -> None:
    with pytest.raises(efirma.CertificateFormatError) as info:
        efirma.parse_certificate(ca.root_cert.public_bytes(serialization.Encoding.PEM))
    assert info.value.code == "efirma.missing_rfc"


def _custom_cert(
    ca: devca.DevCA,
    key: rsa.RSAPrivateKey,
    attributes: list[x509.NameAttribute],
    *,
    serial: int = 12345,
    is_ca: bool = False,
) -> x509.Certificate:
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name(attributes))
        .issuer_name(ca.ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(T0)
        .not_valid_after(T0 + FOUR_YEARS)
        .add_extension(x509.BasicConstraints(ca=is_ca, path_length=None), critical=True)
        .sign(ca.ca_key, hashes.SHA256())
    )


@pytest.mark.parametrize(
    ("attributes", "code"),
    [
        ([(NameOID.COMMON_NAME, "X"), (NameOID.X500_UNIQUE_IDENTIFIER, "NO-ES-RFC")], "bad_rfc"),
        (
            [(NameOID.COMMON_NAME, "X"), (NameOID.X500_UNIQUE_IDENTIFIER, "AAA010101AAA / BAD")],
            "bad_rfc",
        ),
        ([(NameOID.X500_UNIQUE_IDENTIFIER, "GODE561231GR8")], "missing_name"),
    ],
)
def test_malformed_sat_subject(
    ca: devca.DevCA,
    pool: devca.KeyPool,
    attributes: list[tuple[x509.ObjectIdentifier, str]],
    code: str,
) -> None:
    cert = _custom_cert(ca, pool.take(), [x509.NameAttribute(o, v) for o, v in attributes])
    with pytest.raises(efirma.CertificateFormatError) as info:
        efirma.parse_certificate(cert.public_bytes(serialization.Encoding.DER))
    assert info.value.code == f"efirma.{code}"


def test_non_sat_serial_has_no_ascii_form(ca: devca.DevCA, pool: devca.KeyPool) -> None:
    attributes = [x509.NameAttribute(NameOID.X500_UNIQUE_IDENTIFIER, "GODE561231GR8")]
    attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, "EMILIO GOMEZ DIAZ"))
    cert = _custom_cert(ca, pool.take(), attributes, serial=12345)  # bytes 0x3039 == b"09"
    parsed = efirma.parse_certificate(cert.public_bytes(serialization.Encoding.DER))
    assert parsed.serial_ascii is None
    assert parsed.kind == "csd"  # neither OU nor EKU: SAT's rule reads this as a CSD


# --- synthetic e.firma: validation ------------------------------------------------------------


def test_synthetic_efirma_valid(ca: devca.DevCA, fisica: devca.Issued) -> None:
    result = _validate(fisica, ca)
    assert result.ok, result.failures
    assert result.chain == (fisica.certificate, ca.ca_cert, ca.root_cert)
    assert result.chain_method == "webpki"
    result.raise_for_failure()
    cert = result.certificate
    assert (cert.kind, cert.persona, cert.rfc, cert.curp) == (
        "efirma",
        "fisica",
        "GODE561231GR8",
        "GODE561231HDFRRN09",
    )
    assert cert.serial_ascii == "30001000000500000001"
    assert cert.issuer.common_name == devca.ISSUING_CN


def test_issuing_ca_alone_can_be_the_trust_anchor(ca: devca.DevCA, fisica: devca.Issued) -> None:
    cert = efirma.parse_certificate(fisica.certificate.public_bytes(serialization.Encoding.DER))
    result = efirma.validate_certificate(cert, trust_roots=[ca.ca_cert], intermediates=[], at=AT)
    assert result.ok
    assert result.chain == (fisica.certificate, ca.ca_cert)


def test_synthetic_persona_moral(ca: devca.DevCA, pool: devca.KeyPool) -> None:
    issued = devca.issue_efirma_moral(
        ca,
        rfc="EKU9003173C9",
        name="ESCUELA KEMPER URGATE SA DE CV",
        email="kemper@example.org",
        representative_rfc="GODE561231GR8",
        representative_curp="GODE561231HDFRRN09",
        serial20="30001000000500000002",
        not_before=T0,
        not_after=T0 + FOUR_YEARS,
        key=pool.take(),
    )
    result = _validate(issued, ca)
    assert result.ok
    cert = result.certificate
    assert (cert.persona, cert.rfc, cert.curp) == ("moral", "EKU9003173C9", None)
    assert cert.representative_rfc == "GODE561231GR8"
    assert cert.representative_curp == "GODE561231HDFRRN09"


def test_synthetic_csd_rejected(ca: devca.DevCA, pool: devca.KeyPool) -> None:
    issued = devca.issue_csd(
        ca,
        rfc="GODE561231GR8",
        curp="GODE561231HDFRRN09",
        name="EMILIO GOMEZ DIAZ",
        branch="Sucursal 1",
        serial20="30001000000500000003",
        not_before=T0,
        not_after=T0 + FOUR_YEARS,
        key=pool.take(),
    )
    result = _validate(issued, ca)
    assert result.codes == ("efirma.is_csd",)
    assert result.certificate.branch == "Sucursal 1"
    with pytest.raises(efirma.EfirmaValidationError) as info:
        result.raise_for_failure()
    assert info.value.code == "efirma.is_csd"
    assert _validate(issued, ca, require_efirma=False).ok


def test_expired_reports_only_expired(ca: devca.DevCA, fisica: devca.Issued) -> None:
    result = _validate(fisica, ca, at=T0 + FOUR_YEARS + timedelta(seconds=1))
    assert result.codes == ("efirma.expired",)


def test_not_yet_valid(ca: devca.DevCA, fisica: devca.Issued) -> None:
    result = _validate(fisica, ca, at=T0 - timedelta(seconds=1))
    assert result.codes == ("efirma.not_yet_valid",)


def test_validity_bounds_are_inclusive(ca: devca.DevCA, fisica: devca.Issued) -> None:
    assert _validate(fisica, ca, at=T0).ok
    assert _validate(fisica, ca, at=T0 + FOUR_YEARS).ok


def test_foreign_ca_rejected(ca: devca.DevCA, pool: devca.KeyPool) -> None:
    other = devca.create_dev_ca(
        not_before=T0 - timedelta(days=30), root_key=pool.take(), ca_key=pool.take()
    )
    issued = devca.issue_efirma(
        other,
        rfc="GODE561231GR8",
        curp="GODE561231HDFRRN09",
        name="EMILIO GOMEZ DIAZ",
        email="emilio@example.org",
        serial20="30001000000500000001",
        not_before=T0,
        not_after=T0 + FOUR_YEARS,
        key=pool.take(),
    )
    result = _validate(issued, ca)
    assert result.codes == ("efirma.unknown_issuer",)
    assert result.chain == ()
    assert result.chain_method is None


def test_no_trust_roots_configured(fisica: devca.Issued) -> None:
    cert = efirma.parse_certificate(fisica.certificate.public_bytes(serialization.Encoding.DER))
    result = efirma.validate_certificate(cert, trust_roots=[], intermediates=[], at=AT)
    assert result.codes == ("efirma.unknown_issuer",)


def _legacy_ca(pool: devca.KeyPool, *, basic_constraints: bool) -> devca.DevCA:
    """A self-signed CA the web-PKI CA profile rejects (BasicConstraints not critical/absent)."""
    key = pool.take()
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "AC LEGADA DE PRUEBAS")])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(7)
        .not_valid_before(T0 - timedelta(days=1))
        .not_valid_after(T0 + timedelta(days=3650))
    )
    if basic_constraints:
        builder = builder.add_extension(
            x509.BasicConstraints(ca=True, path_length=None), critical=False
        )
    cert = builder.sign(key, hashes.SHA256())
    return devca.DevCA(cert, key, cert, key, cert, key)


@pytest.mark.parametrize(
    ("basic_constraints", "codes", "method"),
    [(True, (), "direct"), (False, ("efirma.unknown_issuer",), None)],
)
def test_legacy_ca_uses_direct_chain_fallback(
    pool: devca.KeyPool, basic_constraints: bool, codes: tuple[str, ...], method: str | None
) -> None:
    legacy = _legacy_ca(pool, basic_constraints=basic_constraints)
    issued = devca.issue_efirma(
        legacy,
        rfc="GODE561231GR8",
        curp="GODE561231HDFRRN09",
        name="EMILIO GOMEZ DIAZ",
        email="emilio@example.org",
        serial20="30001000000500000004",
        not_before=T0,
        not_after=T0 + FOUR_YEARS,
        key=pool.take(),
    )
    cert = efirma.parse_certificate(issued.certificate.public_bytes(serialization.Encoding.DER))
    result = efirma.validate_certificate(
        cert, trust_roots=[legacy.root_cert], intermediates=[], at=AT
    )
    assert result.codes == codes
    assert result.chain_method == method


def test_eku_without_non_repudiation_is_not_an_efirma(ca: devca.DevCA, pool: devca.KeyPool) -> None:
    key = pool.take()
    subject = x509.Name(
        [
            x509.NameAttribute(x509.NameOID.COMMON_NAME, "EMILIO GOMEZ DIAZ"),
            x509.NameAttribute(x509.NameOID.X500_UNIQUE_IDENTIFIER, "GODE561231GR8"),
            x509.NameAttribute(x509.NameOID.SERIAL_NUMBER, "GODE561231HDFRRN09"),
        ]
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca.ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(devca.sat_serial("30001000000500000005"))
        .not_valid_before(T0)
        .not_valid_after(T0 + FOUR_YEARS)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(True, False, False, False, False, False, False, False, False),
            critical=False,
        )
        .add_extension(
            x509.ExtendedKeyUsage([x509.ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
        )
        .sign(ca.ca_key, hashes.SHA256())
    )
    result = _validate(devca.Issued(cert, key), ca)
    assert result.certificate.kind == "unknown"
    assert result.certificate.name == "EMILIO GOMEZ DIAZ"  # CN when `name` is absent
    assert result.codes == ("efirma.not_efirma", "efirma.bad_key_usage")


def test_ca_certificate_rejected(ca: devca.DevCA, pool: devca.KeyPool) -> None:
    attributes = [
        x509.NameAttribute(NameOID.COMMON_NAME, "EMILIO GOMEZ DIAZ"),
        x509.NameAttribute(NameOID.X500_UNIQUE_IDENTIFIER, "GODE561231GR8"),
    ]
    key = pool.take()
    cert = _custom_cert(ca, key, attributes, is_ca=True)
    result = _validate(devca.Issued(cert, key), ca, require_efirma=False)
    assert "efirma.is_ca" in result.codes


def test_naive_time_rejected(ca: devca.DevCA, fisica: devca.Issued) -> None:
    with pytest.raises(ValueError):
        _validate(fisica, ca, at=datetime(2026, 6, 1))


# --- signatures -------------------------------------------------------------------------------


def test_signature_good_bad_and_other_key(
    ca: devca.DevCA, fisica: devca.Issued, pool: devca.KeyPool
) -> None:
    data = b'{"tramite":"constancia"}'
    good = fisica.key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    other_key = next(k for k in (pool.take(), pool.take()) if k is not fisica.key)
    other = other_key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    sha1 = fisica.key.sign(data, padding.PKCS1v15(), hashes.SHA1())
    assert efirma.verify_signature(fisica.certificate, good, data)
    assert not efirma.verify_signature(fisica.certificate, good, data + b" ")
    assert not efirma.verify_signature(fisica.certificate, other, data)
    assert not efirma.verify_signature(fisica.certificate, sha1, data)  # SHA-256 only
    assert not efirma.verify_signature(fisica.certificate, b"", data)


def test_signature_with_non_rsa_certificate() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "EC")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(T0)
        .not_valid_after(T0 + FOUR_YEARS)
        .sign(key, hashes.SHA256())
    )
    with pytest.raises(efirma.UnsupportedKeyError) as info:
        efirma.verify_signature(cert, b"sig", b"data")
    assert info.value.code == "efirma.unsupported_key"


# --- SAT .key files ---------------------------------------------------------------------------


def test_exported_sat_key_round_trip(fisica: devca.Issued) -> None:
    key_der = devca.export_key_sat(fisica.key, b"s3creta")
    loaded = efirma.load_key(key_der, b"s3creta")
    assert efirma.key_matches(fisica.certificate, loaded)
    with pytest.raises(efirma.BadPasswordError):
        efirma.load_key(key_der, b"S3creta")


def test_key_does_not_match_other_certificate(fisica: devca.Issued) -> None:
    sat_key = efirma.load_key(_read("FIEL_CACX7605101P8.key"), SAT_TEST_PASSWORD)
    assert not efirma.key_matches(fisica.certificate, sat_key)


@pytest.mark.parametrize("kind", ["garbage", "unencrypted_pkcs8", "truncated"])
def test_malformed_key(fisica: devca.Issued, kind: str) -> None:
    data = {
        "garbage": b"\x30\x03\x02\x01",
        "unencrypted_pkcs8": fisica.key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
        "truncated": _read("FIEL_CACX7605101P8.key")[:-10],
    }[kind]
    with pytest.raises(efirma.KeyFormatError) as info:
        efirma.load_key(data, SAT_TEST_PASSWORD)
    assert info.value.code == "efirma.malformed_key"


def _self_signed(extensions: list[x509.Extension[x509.ExtensionType]] | None = None) -> bytes:
    key = rsa.generate_private_key(65537, 2048)
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, "ANA LOPEZ PEREZ"),
            x509.NameAttribute(NameOID.X500_UNIQUE_IDENTIFIER, "LOPA850101AB1"),
        ]
    )
    now = datetime.now(UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(12345)
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
    )
    for extension in extensions or []:
        builder = builder.add_extension(extension.value, extension.critical)
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)


def _unrecognised(oid: str, value: bytes) -> x509.Extension[x509.ExtensionType]:
    ext = x509.UnrecognizedExtension(x509.ObjectIdentifier(oid), value)
    return x509.Extension(ext.oid, False, ext)


def _crafted() -> dict[str, tuple[bytes, str]]:
    """Certificates that parse as X.509 but not as what they claim, and the code each gets."""
    twins = _self_signed(
        [_unrecognised("1.2.3.4.5", b"\x05\x00"), _unrecognised("1.2.3.4.6", b"\x05\x00")]
    )
    rsa_oid, unknown_oid = "06092a864886f70d010101", "06092a864886f70d01017f"
    plain = _self_signed()
    return {
        # The second extension's OID made the first's: the same extension twice.
        "repeated extension": (
            twins.replace(bytes.fromhex("06042a030406"), bytes.fromhex("06042a030405")),
            "efirma.malformed",
        ),
        "garbage key usage": (
            _self_signed([_unrecognised("2.5.29.15", b"\xff\xff")]),
            "efirma.malformed",
        ),
        "garbage extended key usage": (
            _self_signed([_unrecognised("2.5.29.37", b"\x30\x03\x02\x01\x01")]),
            "efirma.malformed",
        ),
        "key of no known kind": (
            plain.replace(bytes.fromhex(rsa_oid), bytes.fromhex(unknown_oid), 1),
            "efirma.unsupported_key",
        ),
    }


@pytest.mark.parametrize("case", sorted(_crafted()))
def test_a_crafted_certificate_is_a_format_error_not_a_crash(case: str) -> None:
    data, code = _crafted()[case]
    with pytest.raises(efirma.CertificateFormatError) as refused:
        efirma.parse_certificate(data)
    assert refused.value.code == code
