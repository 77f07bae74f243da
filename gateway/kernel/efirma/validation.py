"""The SAT e.firma verdict: certificate checks, OCSP revocation and signature, as one report.

Owns the rules that turn the building blocks (``efirma`` parsing and validation, ``ocsp`` request
building and response verification) into one answer, shared by SAT's ``valida-efirma`` and
``verifica-firma`` operations and by ``enlace efirma check``: which checks run, their stable
failure codes, the verdict and the JSON shape of the report.

Verdict, after ETSI EN 319 102-1's three outcomes:

- ``valid``: every check passed, including an OCSP ``good`` verified fresh, signed and bound to
  our nonce;
- ``invalid``: a check proved the certificate (or the signature) bad: a CSD, expired, unknown
  issuer, revoked, not the data subject's, signature mismatch...;
- ``indeterminate``: nothing was proven bad, but revocation could not be established (no
  responder configured, responder down, slow, answering garbage, a tampered, stale or replayed
  response, or ``unknown`` status).

Only ``valid`` sets ``valid: true``: revocation unknown fails closed. ``indeterminate`` tells the
consumer that asking again later may succeed, where ``invalid`` will not.

The network is injected: ``check`` takes an ``OcspFetch`` coroutine (the HTTP edge is
``trusted_sources.sat.service``), so everything here runs in tests without sockets.
``check_offline`` runs every rule but revocation (no request at all), for a caller that asks
OCSP only about a certificate and signature already found good (the citizen login).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from gateway.kernel.efirma import certificate as efirma
from gateway.kernel.efirma import ocsp
from gateway.kernel.efirma.certificate import Failure
from gateway.kernel.efirma.errors import SatError
from gateway.kernel.encoding import b64encode, iso_utc

Verdict = Literal["valid", "invalid", "indeterminate"]
RevocationStatus = Literal["good", "revoked", "unknown", "unavailable", "not_checked"]
CheckStatus = Literal["passed", "failed", "skipped"]

#: ``fetch(url, request_der) -> response_der``; raises ``OcspTransportError``.
OcspFetch = Callable[[str, bytes], Awaitable[bytes]]

#: Every check in report order. ``certificate`` collects codes a newer ``efirma`` may add.
CHECKS = (
    "kind",
    "validity",
    "usage",
    "chain",
    "revocation",
    "subject",
    "signature",
    "certificate",
)
_CHECK_OF_CODE = {
    "efirma.is_csd": "kind",
    "efirma.not_efirma": "kind",
    "efirma.not_yet_valid": "validity",
    "efirma.expired": "validity",
    "efirma.is_ca": "usage",
    "efirma.bad_key_usage": "usage",
    "efirma.unknown_issuer": "chain",
    "efirma.revoked": "revocation",
    "efirma.subject_mismatch": "subject",
    "signature.mismatch": "signature",
    "signature.unsupported_key": "signature",
}
_NONCE_BYTES = 16


class OcspTransportError(SatError):
    """The responder could not be asked: ``ocsp.unavailable``, ``ocsp.timeout``,
    ``ocsp.http_error`` or ``ocsp.too_large``."""

    code = "ocsp.unavailable"


@dataclass(frozen=True, slots=True)
class Trust:
    """The configured SAT CA certificates and pinned OCSP responder certificates."""

    roots: tuple[x509.Certificate, ...]
    intermediates: tuple[x509.Certificate, ...] = ()
    responders: tuple[x509.Certificate, ...] = ()


@dataclass(frozen=True, slots=True)
class OcspPolicy:
    """Where and how to ask for revocation status. ``url=None`` means nobody to ask."""

    url: str | None
    max_age: timedelta = timedelta(hours=1)
    hash_algorithm: ocsp.CertIdHash = "sha1"


@dataclass(frozen=True, slots=True)
class Revocation:
    status: RevocationStatus
    failure: Failure | None
    detail: str
    ocsp: ocsp.OcspStatus | None = None
    response_der: bytes | None = None  # whatever the responder sent, verified or not


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    status: CheckStatus
    detail: str
    failures: tuple[Failure, ...]


@dataclass(frozen=True, slots=True)
class Report:
    certificate: efirma.SatCertificate
    validation: efirma.ValidationResult
    revocation: Revocation
    at: datetime
    failures: tuple[Failure, ...]
    checks: tuple[Check, ...]
    signed: bool | None  # None when no signature was asked about

    @property
    def verdict(self) -> Verdict:
        if not self.failures:
            return "valid"
        if all(f.code.startswith("ocsp.") for f in self.failures):
            return "indeterminate"
        return "invalid"

    @property
    def valid(self) -> bool:
        return self.verdict == "valid"

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(f.code for f in self.failures)

    def subjects(self) -> tuple[str, ...]:
        """CURPs the report carries (holder, or representative of a persona moral)."""
        cert = self.certificate
        return tuple(c for c in (cert.curp, cert.representative_curp) if c)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "verdict": self.verdict,
            "valid": self.valid,
            "checked_at": iso_utc(self.at),
            "certificate": certificate_json(self.certificate),
            "checks": [
                {
                    "check": c.name,
                    "status": c.status,
                    "detail": c.detail,
                    "failures": [_failure_json(f) for f in c.failures],
                }
                for c in self.checks
            ],
            "revocation": _revocation_json(self.revocation),
            "failures": [_failure_json(f) for f in self.failures],
        }
        if self.signed is not None:
            out["signed"] = self.signed
        return out


async def check(
    certificate: efirma.SatCertificate,
    *,
    trust: Trust,
    policy: OcspPolicy,
    fetch: OcspFetch,
    at: datetime,
    now: datetime | None = None,
    subject: str | None = None,
    signature: tuple[bytes, bytes] | None = None,
) -> Report:
    """Validate ``certificate`` at ``at`` and, if given, the ``(signature, data)`` it made.

    ``now`` (default ``at``) is the wall clock OCSP freshness is judged against: a response is
    always about the present, while ``at`` may be an earlier signing time, in which case a
    revocation after ``at`` is reported but is not a failure. ``subject`` is the CURP the
    query is about; the certificate must be that person's (or their company's, as its
    representative).
    """
    now = now or at
    validation = efirma.validate_certificate(
        certificate, trust_roots=trust.roots, intermediates=trust.intermediates, at=at
    )
    revocation = await _revocation(validation, trust, policy, fetch, at=at, now=now)
    return _report(certificate, validation, revocation, subject, signature)


def check_offline(
    certificate: efirma.SatCertificate,
    *,
    trust: Trust,
    at: datetime,
    subject: str | None = None,
    signature: tuple[bytes, bytes] | None = None,
) -> Report:
    """``check`` without its network step: every rule but revocation, with no OCSP request.

    For a caller that must not make SAT's responder (or its own state) work for a certificate
    or signature that is already wrong. Revocation is reported as the failure
    ``ocsp.not_checked``, so the verdict is never ``valid``: at best ``indeterminate``.
    """
    validation = efirma.validate_certificate(
        certificate, trust_roots=trust.roots, intermediates=trust.intermediates, at=at
    )
    if len(validation.chain) < 2:
        revocation = Revocation(
            "not_checked", None, "no chain to a SAT CA, so no issuer to ask about"
        )
    else:
        failure = Failure("ocsp.not_checked", "revocation not checked: offline validation")
        revocation = Revocation("not_checked", failure, failure.message)
    return _report(certificate, validation, revocation, subject, signature)


def _report(
    certificate: efirma.SatCertificate,
    validation: efirma.ValidationResult,
    revocation: Revocation,
    subject: str | None,
    signature: tuple[bytes, bytes] | None,
) -> Report:
    subject_failure = _subject_failure(certificate, subject)
    signed, signature_failure = _signature(certificate, signature)

    failures = list(validation.failures)
    failures += [f for f in (revocation.failure, subject_failure, signature_failure) if f]
    checks = _checks(certificate, validation, revocation, subject, signature, failures)
    return Report(
        certificate=certificate,
        validation=validation,
        revocation=revocation,
        at=validation.at,
        failures=tuple(failures),
        checks=checks,
        signed=signed,
    )


def certificate_json(cert: efirma.SatCertificate) -> dict[str, Any]:
    """What a SAT certificate says about its holder, as the report shows it."""
    der = cert.certificate.public_bytes(serialization.Encoding.DER)
    representative = (
        {"rfc": cert.representative_rfc, "curp": cert.representative_curp}
        if cert.representative_rfc or cert.representative_curp
        else None
    )
    return {
        "kind": cert.kind,
        "persona": cert.persona,
        "rfc": cert.rfc,
        "curp": cert.curp,
        "name": cert.name,
        "representative": representative,
        "email": cert.email,
        "branch": cert.branch,
        "serial": cert.serial_ascii,
        "serial_hex": format(cert.certificate.serial_number, "x"),
        "not_before": iso_utc(cert.not_before),
        "not_after": iso_utc(cert.not_after),
        "issuer": cert.issuer.rfc4514,
        "sha256": hashlib.sha256(der).hexdigest(),
    }


# --- steps -----------------------------------------------------------------------------------


async def _revocation(
    validation: efirma.ValidationResult,
    trust: Trust,
    policy: OcspPolicy,
    fetch: OcspFetch,
    *,
    at: datetime,
    now: datetime,
) -> Revocation:
    if len(validation.chain) < 2:
        return Revocation("not_checked", None, "no chain to a SAT CA, so no issuer to ask about")
    if policy.url is None:
        failure = Failure("ocsp.not_configured", "revocation unknown: no OCSP responder configured")
        return Revocation("unavailable", failure, failure.message)
    leaf, issuer = validation.chain[0], validation.chain[1]
    nonce = os.urandom(_NONCE_BYTES)
    request = ocsp.build_request(leaf, issuer, nonce, policy.hash_algorithm)
    try:
        der = await fetch(policy.url, request)
    except OcspTransportError as exc:
        failure = Failure(exc.code, f"revocation unknown: {exc.message}")
        return Revocation("unavailable", failure, failure.message)
    try:
        status = ocsp.verify_response(
            der,
            cert=leaf,
            issuer=issuer,
            responder_certs_trusted=trust.responders,
            nonce=nonce,
            at=now.astimezone(UTC),
            max_age=policy.max_age,
        )
    except ocsp.OcspError as exc:
        failure = Failure(exc.code, f"revocation unknown: {exc.message}")
        return Revocation("unavailable", failure, failure.message, response_der=der)
    if status.status == "revoked" and status.revocation_time is not None:
        reason = status.revocation_reason or "no reason"
        when = f"revoked at {iso_utc(status.revocation_time)} ({reason})"
        if status.revocation_time <= at:
            return Revocation("revoked", Failure("efirma.revoked", when), when, status, der)
        return Revocation("revoked", None, f"{when}, after {iso_utc(at)}", status, der)
    if status.status == "unknown":
        failure = Failure(
            "ocsp.status_unknown", "revocation unknown: the responder does not know the certificate"
        )
        return Revocation("unknown", failure, failure.message, status, der)
    detail = f"good at {iso_utc(status.this_update)}, signed by {status.responder}"
    return Revocation("good", None, detail, status, der)


def _subject_failure(cert: efirma.SatCertificate, subject: str | None) -> Failure | None:
    if subject is None or subject in (cert.curp, cert.representative_curp):
        return None
    return Failure(
        "efirma.subject_mismatch",
        "the certificate is not the data subject's (neither holder nor representative)",
    )


def _signature(
    cert: efirma.SatCertificate, signature: tuple[bytes, bytes] | None
) -> tuple[bool | None, Failure | None]:
    if signature is None:
        return None, None
    try:
        ok = efirma.verify_signature(cert, *signature)
    except efirma.UnsupportedKeyError as exc:
        return False, Failure("signature.unsupported_key", exc.message)
    if ok:
        return True, None
    return False, Failure(
        "signature.mismatch", "the signature is not this certificate's over these data"
    )


def _checks(
    cert: efirma.SatCertificate,
    validation: efirma.ValidationResult,
    revocation: Revocation,
    subject: str | None,
    signature: tuple[bytes, bytes] | None,
    failures: Sequence[Failure],
) -> tuple[Check, ...]:
    by_check: dict[str, list[Failure]] = {name: [] for name in CHECKS}
    for failure in failures:
        name = _CHECK_OF_CODE.get(failure.code)
        if name is None:
            name = "revocation" if failure.code.startswith("ocsp.") else "certificate"
        by_check[name].append(failure)
    chain = " -> ".join(c.subject.rfc4514_string() for c in validation.chain[1:])
    details = {
        "kind": {"efirma": "e.firma", "csd": f"CSD, branch {cert.branch!r}"}.get(
            cert.kind, "neither e.firma nor CSD"
        ),
        "validity": f"{iso_utc(cert.not_before)} to {iso_utc(cert.not_after)}",
        "usage": "key usage and basic constraints",
        "chain": f"issued by {chain}" if chain else "no path to a configured SAT CA",
        "revocation": revocation.detail,
        "subject": "holder or representative is the data subject",
        "signature": "PKCS#1 v1.5 SHA-256 over the data",
        "certificate": "other certificate rules",
    }
    ran = {"subject": subject is not None, "signature": signature is not None}
    out = []
    for name in CHECKS:
        found = tuple(by_check[name])
        if name == "certificate" and not found:
            continue
        if not ran.get(name, True):
            continue
        if found:
            status: CheckStatus = "failed"
        elif name == "revocation" and revocation.status == "not_checked":
            status = "skipped"
        else:
            status = "passed"
        out.append(Check(name, status, details[name], found))
    return tuple(out)


# --- JSON ------------------------------------------------------------------------------------


def _failure_json(failure: Failure) -> dict[str, str]:
    return {"code": failure.code, "message": failure.message}


def _revocation_json(revocation: Revocation) -> dict[str, Any]:
    status = revocation.ocsp
    return {
        "status": revocation.status,
        "detail": revocation.detail,
        "revoked_at": iso_utc(status.revocation_time)
        if status and status.revocation_time
        else None,
        "reason": status.revocation_reason if status else None,
        "this_update": iso_utc(status.this_update) if status else None,
        "next_update": iso_utc(status.next_update) if status and status.next_update else None,
        "produced_at": iso_utc(status.produced_at) if status else None,
        "responder": status.responder if status else None,
        "nonce_verified": status.nonce_verified if status else None,
        "ocsp_response": (b64encode(revocation.response_der) if revocation.response_der else None),
    }
