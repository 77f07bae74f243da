"""Permits office: accepts an application form signed with the applicant's e.firma.

An example agency application on the Enlace SDK (``services.sdk``), run by the Secretaría de
Economía's permits office as client ``MX/GOB/SE/permisos`` of the dev instance.

1. The applicant fills in a form (JSON with at least ``tramite`` and their ``curp``) and signs
   it with the e.firma SAT gave them (``.cer``, ``.key`` and password): PKCS#1 v1.5 SHA-256 over
   the form's RFC 8785 canonical bytes (``sign``). The application is the form, the certificate
   and the signature.
2. The office does not judge the signature itself. It asks SAT, through the gateway, whether that
   e.firma is valid now and made that signature over those bytes (``verifica-firma``), with the
   applicant's CURP as data subject and the purpose, legal basis and case number on the call, so
   the ledger shows who checked whose e.firma, why, and for which case (``review``).
3. The decision (``decide``, pure): ``approved`` when SAT's verified answer says valid and signed
   for the very certificate received; ``pending`` when SAT could not establish revocation
   (``indeterminate``: ask again later); ``rejected`` otherwise, with SAT's failure codes.

    python -m services.apps.permisos sign form.json --cer X.cer --key X.key --password ...
    python -m services.apps.permisos review solicitud.json --gateway https://127.0.0.1:8443 \\
        --case PERM-2026-0001 --official MX-SE-000042
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import typer
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

from gateway.kernel import curp
from gateway.kernel.efirma import certificate as efirma
from gateway.kernel.encoding import b64decode, b64encode
from gateway.kernel.protocol.evidence import canonical
from services.apps import catalogue
from services.sdk import EnlaceClient, EnlaceClientError, GatewayError

Outcome = Literal["approved", "rejected", "pending"]
EXIT_CODES: dict[Outcome, int] = {"approved": 0, "rejected": 1, "pending": 3}
MAX_FILE = 1024 * 1024


class ApplicationError(ValueError):
    """The form or the application file is not usable."""


@dataclass(frozen=True)
class Application:
    """What the applicant hands in: the form, their certificate, their signature of the form."""

    form: dict[str, Any]
    certificate: bytes  # DER, as in the .cer
    signature: bytes

    def to_json(self) -> dict[str, Any]:
        return {
            "formulario": self.form,
            "certificado": b64encode(self.certificate),
            "firma": b64encode(self.signature),
        }

    @classmethod
    def from_json(cls, value: Any) -> Application:
        try:
            form = check_form(value["formulario"])
            certificate = b64decode(value["certificado"])
            signature = b64decode(value["firma"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ApplicationError("an application has formulario, certificado and firma") from exc
        return cls(form, certificate, signature)

    @property
    def applicant(self) -> str:
        return str(self.form["curp"])

    def sat_request(self) -> dict[str, str]:
        """The body of SAT's ``verifica-firma``: did this certificate sign these bytes?"""
        return {
            "certificado": b64encode(self.certificate),
            "firma": b64encode(self.signature),
            "datos": b64encode(canonical(self.form)),
        }


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    reasons: tuple[str, ...]
    case: str
    exchange_id: str | None = None
    ledger_index: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome,
            "reasons": list(self.reasons),
            "case": self.case,
            "exchange_id": self.exchange_id,
            "ledger_index": self.ledger_index,
        }


def check_form(form: Any) -> dict[str, Any]:
    if not isinstance(form, dict) or not isinstance(form.get("tramite"), str):
        raise ApplicationError("the form must be a JSON object with tramite and curp")
    try:
        curp.validate(str(form.get("curp", "")))
    except curp.InvalidCurp as exc:
        raise ApplicationError(f"the form's curp is not valid: {exc}") from exc
    return form


def sign(form: dict[str, Any], certificate: bytes, key_der: bytes, password: bytes) -> Application:
    """The applicant's side: sign the form's canonical bytes with the e.firma's key."""
    form = check_form(form)
    cert = efirma.parse_certificate(certificate)
    key = efirma.load_key(key_der, password)
    if not efirma.key_matches(cert, key):
        raise ApplicationError("the .key does not belong to the .cer")
    signature = key.sign(canonical(form), padding.PKCS1v15(), hashes.SHA256())
    der = cert.certificate.public_bytes(serialization.Encoding.DER)
    return Application(form, der, signature)


def decide(application: Application, answer: dict[str, Any], case: str) -> Decision:
    """The office's rule over SAT's (already verified) answer."""
    sent = hashlib.sha256(application.certificate).hexdigest()
    if answer.get("certificate", {}).get("sha256") != sent:
        return Decision("rejected", ("SAT answered about another certificate",), case)
    failures = tuple(f"{f['code']}: {f['message']}" for f in answer.get("failures", []))
    if answer.get("valid") is True and answer.get("signed") is True:
        return Decision("approved", (), case)
    if answer.get("verdict") == "indeterminate":
        return Decision("pending", failures or ("SAT could not decide",), case)
    return Decision("rejected", failures or ("SAT did not confirm the signature",), case)


def review(
    client: EnlaceClient,
    application: Application,
    *,
    case: str,
    official: str,
    purpose: str = catalogue.PERMISOS_PURPOSE,
    legal_basis: str = catalogue.PERMISOS_LEGAL_BASIS,
) -> Decision:
    """The office's side: ask SAT through the gateway and decide."""
    result = client.call(
        str(catalogue.FIRMA_SERVICE),
        subject=application.applicant,
        purpose=purpose,
        legal_basis=legal_basis,
        user_id=official,
        issue=case,
        method="POST",
        body=application.sat_request(),
    )
    decision = decide(application, result.data, case)
    return Decision(
        decision.outcome, decision.reasons, case, result.exchange_id, result.ledger_index
    )


# --- command line ----------------------------------------------------------------------------

app = typer.Typer(
    help="Permits office: applications signed with the applicant's e.firma, checked by SAT.",
    no_args_is_help=True,
)


def _read(path: Path) -> bytes:
    try:
        if path.stat().st_size > MAX_FILE:
            raise typer.BadParameter(f"{path} is larger than {MAX_FILE} bytes")
        return path.read_bytes()
    except OSError as exc:
        raise typer.BadParameter(f"{path}: {exc.strerror}") from exc


def _json(path: Path) -> Any:
    try:
        return json.loads(_read(path))
    except ValueError as exc:
        raise typer.BadParameter(f"{path} is not JSON") from exc


@app.command("sign")
def sign_command(
    form: Annotated[Path, typer.Argument(help="The filled-in form (JSON).")],
    cer: Annotated[Path, typer.Option(help="The applicant's e.firma certificate (.cer).")],
    key: Annotated[Path, typer.Option(help="Its private key (.key, SAT format).")],
    password: Annotated[str, typer.Option(prompt=True, hide_input=True)],
    out: Annotated[Path | None, typer.Option(help="Write the application here.")] = None,
) -> None:
    """Applicant: sign a form with an e.firma and produce the application file."""
    try:
        application = sign(_json(form), _read(cer), _read(key), password.encode())
    except (ApplicationError, efirma.EfirmaError) as exc:
        typer.echo(f"cannot sign: {exc}", err=True)
        raise typer.Exit(2) from exc
    text = json.dumps(application.to_json(), ensure_ascii=False, indent=2)
    if out is None:
        typer.echo(text)
    else:
        out.write_text(text + "\n", encoding="utf-8")
        typer.echo(f"application written to {out}")


@app.command("review")
def review_command(
    application: Annotated[Path, typer.Argument(help="The application file (from sign).")],
    case: Annotated[str, typer.Option(help="Case number, recorded in the ledger.")],
    official: Annotated[str, typer.Option(help="The official deciding, recorded too.")],
    gateway: Annotated[str, typer.Option(envvar="ENLACE_GATEWAY_URL")] = "https://127.0.0.1:8443",
    pki_dir: Annotated[Path, typer.Option(envvar="ENLACE_PKI_DIR")] = Path("certs"),
    client: Annotated[str, typer.Option(help="This office's subsystem.")] = str(catalogue.PERMISOS),
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Office: have SAT check the applicant's e.firma signature, and decide.

    Exit status 0 approved, 1 rejected, 3 pending (revocation unknown), 2 could not ask.
    """
    try:
        submitted = Application.from_json(_json(application))
        with EnlaceClient.from_pki(gateway, client, pki_dir) as enlace:
            decision = review(enlace, submitted, case=case, official=official)
    except ApplicationError as exc:
        typer.echo(f"unusable application: {exc}", err=True)
        raise typer.Exit(2) from exc
    except GatewayError as exc:
        typer.echo(f"SAT could not be asked: {exc.code} {exc.message}", err=True)
        raise typer.Exit(2) from exc
    except EnlaceClientError as exc:  # an answer that does not verify is no answer
        typer.echo(f"SAT's answer did not verify: {exc}", err=True)
        raise typer.Exit(2) from exc
    if as_json:
        typer.echo(json.dumps(decision.to_json(), ensure_ascii=False, indent=2))
    else:
        typer.echo(f"case {case}: {decision.outcome.upper()}")
        for reason in decision.reasons:
            typer.echo(f"  {reason}")
        typer.echo(f"  SAT exchange {decision.exchange_id}, ledger entry #{decision.ledger_index}")
    raise typer.Exit(EXIT_CODES[decision.outcome])


if __name__ == "__main__":
    app()
