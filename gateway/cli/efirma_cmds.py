"""``enlace efirma check``: the SAT source's e.firma validation, for support staff.

Runs exactly what ``valida-efirma`` / ``verifica-firma`` run (``gateway.kernel.efirma.validation``
via the same option parsing and OCSP client as ``trusted_sources.sat.service``) and prints each
check and why it failed; ``--json`` prints the report the service would answer. Exit status 0
when the verdict is valid, 1 otherwise (invalid or indeterminate), 2 for a usage error.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from gateway.cli import common
from gateway.kernel.efirma import certificate as efirma
from gateway.kernel.efirma.validation import Report, Trust, check
from gateway.kernel.encoding import EncodingError, b64decode
from trusted_sources.sat import service

efirma_app = typer.Typer(help="e.firma (SAT) tools for support staff.", no_args_is_help=True)

_MARK = {"passed": "ok  ", "failed": "FAIL", "skipped": "skip"}
_MAX_FILE = 4 * 1024 * 1024


@efirma_app.command("check")
def efirma_check(
    cert: Annotated[Path, typer.Argument(help="Certificate file: a SAT .cer (DER) or PEM.")],
    signature: Annotated[
        Path | None, typer.Option(help="Signature file (raw bytes or base64 text).")
    ] = None,
    data: Annotated[Path | None, typer.Option(help="The signed data.")] = None,
    at: Annotated[
        str | None, typer.Option(help="Validate at this ISO 8601 time (default: now; UTC).")
    ] = None,
    trust_dir: Annotated[
        Path | None,
        typer.Option(
            envvar="ENLACE_SAT_TRUST_DIR", help="SAT CA certificates (default: PKI/sat/trust)."
        ),
    ] = None,
    ocsp_url: Annotated[
        str | None, typer.Option(envvar="ENLACE_SAT_OCSP_URL", help="OCSP responder URL.")
    ] = None,
    ocsp_responders: Annotated[
        Path | None, typer.Option(help="Directory of pinned OCSP responder certificates.")
    ] = None,
    ocsp_timeout: Annotated[float, typer.Option(help="Seconds for the OCSP round trip.")] = 3.0,
    pki_dir: common.PkiOpt = None,
    as_json: common.JsonOpt = False,
) -> None:
    """Is CERT a valid e.firma (and did it make SIGNATURE over DATA)? Says why not."""
    if (signature is None) != (data is None):
        raise common.CliError("cli.bad_option", "--signature and --data go together")
    moment = _moment(at)
    options = {"ocsp_url": ocsp_url, "ocsp_timeout": ocsp_timeout}
    try:
        policy = service.ocsp_policy(options)
        fetcher = service.ocsp_fetcher(options)
        trust = _trust(trust_dir, ocsp_responders, pki_dir)
    except service.SatConfigError as exc:
        raise common.CliError(exc.code, exc.message) from exc
    try:
        certificate = efirma.parse_certificate(_read(cert))
    except efirma.CertificateFormatError as exc:
        if exc.code == "efirma.malformed" and not as_json:  # the wrong file: one clean line
            raise efirma.CertificateFormatError(
                f"{cert} is not a certificate (a SAT .cer in DER, or PEM)", code=exc.code
            ) from None
        _refuse(cert, exc, as_json)
    signed = (_signature(_read(signature)), _read(data)) if signature and data else None

    async def run() -> Report:
        try:
            return await check(
                certificate,
                trust=trust,
                policy=policy,
                fetch=fetcher,
                at=moment,
                now=datetime.now(UTC),
                signature=signed,
            )
        finally:
            await fetcher.aclose()

    report = asyncio.run(run())
    if as_json:
        typer.echo(json.dumps(report.to_json(), ensure_ascii=False, indent=2))
    else:
        typer.echo(render(str(cert), report.to_json()))
    raise typer.Exit(0 if report.valid else 1)


def render(label: str, report: dict[str, Any]) -> str:
    """The report for people: who the certificate names, each check, the verdict."""
    cert = report["certificate"]
    kind = {"efirma": "e.firma", "csd": "CSD (invoice seal)"}.get(cert["kind"], "not an e.firma")
    representative = cert["representative"] or {}
    lines = [
        f"{label}: {kind} of a persona {'física' if cert['persona'] == 'fisica' else 'moral'}",
        f"  RFC               {cert['rfc']}",
        f"  CURP              {cert['curp'] or '-'}",
        f"  name              {cert['name']}",
    ]
    if representative:
        rep = f"{representative.get('rfc') or '-'} / {representative.get('curp') or '-'}"
        lines.append(f"  representative    {rep}")
    if cert["branch"]:
        lines.append(f"  branch (OU)       {cert['branch']}")
    lines += [
        f"  No. certificado   {cert['serial'] or '(not SAT format) 0x' + cert['serial_hex']}",
        f"  valid             {cert['not_before']} to {cert['not_after']}",
        f"  issuer            {cert['issuer']}",
        f"checks at {report['checked_at']}:",
    ]
    for item in report["checks"]:
        lines.append(f"  {_MARK[item['status']]}  {item['check']:<11} {item['detail']}")
        for failure in item["failures"]:
            why = "" if failure["message"] == item["detail"] else f" {failure['message']}"
            lines.append(f"          [{failure['code']}]{why}")
    codes = ", ".join(f["code"] for f in report["failures"])
    lines.append(f"verdict: {report['verdict'].upper()}" + (f" ({codes})" if codes else ""))
    if report["verdict"] == "indeterminate":
        lines.append("  (revocation could not be established; fail closed, try again later)")
    return "\n".join(lines)


def _refuse(path: Path, exc: efirma.EfirmaError, as_json: bool) -> NoReturn:
    if as_json:
        failure = {"code": exc.code, "message": exc.message}
        report = {"verdict": "invalid", "valid": False, "failures": [failure]}
        typer.echo(json.dumps(report, ensure_ascii=False, indent=2))
    else:
        typer.echo(f"{path}: not a SAT certificate [{exc.code}] {exc.message}")
        typer.echo("verdict: INVALID")
    raise typer.Exit(1)


def _trust(trust_dir: Path | None, responders: Path | None, pki_dir: Path | None) -> Trust:
    if trust_dir is None:
        default = common.settings(pki_dir=pki_dir).pki_dir / "sat" / "trust"
        trust_dir = default if default.is_dir() else None
    if trust_dir is None:
        return Trust(roots=())  # every chain fails: efirma.unknown_issuer says so
    return service.load_trust(trust_dir, responders)


def _moment(text: str | None) -> datetime:
    if text is None:
        return datetime.now(UTC)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise common.CliError("cli.bad_option", "--at must be an ISO 8601 time") from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _read(path: Path) -> bytes:
    try:
        if path.stat().st_size > _MAX_FILE:
            raise common.CliError("cli.bad_file", f"{path}: larger than {_MAX_FILE} bytes")
        return path.read_bytes()
    except OSError as exc:
        raise common.CliError("cli.bad_file", f"{path}: {exc.strerror}") from exc


def _signature(raw: bytes) -> bytes:
    """A signature file holds the raw signature or its base64 text."""
    try:
        return b64decode(raw.strip())
    except EncodingError:
        return raw
