"""``enlace evidence verify``: checking a source's evidence offline, for anyone who holds it.

FILE holds a compact JWS, or a gateway response body (JSON) carrying it as ``evidence``. The
check is ``gateway.kernel.protocol.evidence.verify`` against the instance CA certificate: signature,
RFC 8785 canonical payload, signer certificate issued by the CA and valid when the evidence
was signed, signer = the provider of the issuing service. The command prints valid or invalid
with the reason code, the issuer, the signer certificate, when it was signed and a summary of
the data; ``--json`` prints the same as JSON (with the data), ``--html OUT`` writes a page for
people. Exit status 0 when valid, 1 when invalid, 2 for a usage error.
"""

from __future__ import annotations

import datetime as dt
import html
import json
from pathlib import Path
from typing import Annotated, Any

import typer

from gateway.cli import common
from gateway.kernel import pki
from gateway.kernel.protocol import evidence

evidence_app = typer.Typer(help="Signed evidence from trusted sources.", no_args_is_help=True)


def read_token(path: Path) -> str:
    """The compact JWS in ``path``: the whole file, or the ``evidence`` of a response body."""
    try:
        if path.stat().st_size > 2 * evidence.MAX_TOKEN:
            raise common.CliError("cli.bad_file", f"{path}: too large for evidence")
        text = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise common.CliError("cli.bad_file", f"{path}: not a readable text file") from exc
    if not text.startswith("{"):
        return text
    try:
        token = json.loads(text).get("evidence")
    except (ValueError, AttributeError) as exc:
        raise common.CliError("cli.bad_file", f"{path}: JSON without an evidence member") from exc
    if not isinstance(token, str):
        raise common.CliError("cli.bad_file", f"{path}: JSON without an evidence member")
    return token


def _person(p: dict[str, Any]) -> str:
    names = (p.get("nombres"), p.get("primerApellido"), p.get("segundoApellido"))
    return " ".join(str(n) for n in names if n)


def summary(data: Any) -> str:
    """One line about the data: actas and CURP records by name, anything else by its shape."""
    if isinstance(data, dict):
        if isinstance(data.get("registrado"), dict) and "identificadorElectronico" in data:
            who = data["registrado"]
            notes = [n.get("tipo") for n in data.get("anotacionesMarginales") or []]
            return (
                f"acta de nacimiento {data['identificadorElectronico']}: {_person(who)}, "
                f"CURP {who.get('curp')}, born {who.get('fechaNacimiento')}"
                + (f"; marginal notes: {', '.join(map(str, notes))}" if notes else "")
            )
        if "statusCurp" in data:
            return (
                f"CURP {data.get('curp')}: {_person(data)}, status {data['statusCurp']} "
                f"({data.get('descriptionStatusCurp')})"
            )
        if isinstance(data.get("registros"), list):
            found = [f"{r.get('curp')} ({r.get('statusCurp')})" for r in data["registros"]]
            return f"{len(found)} CURP record(s): {', '.join(found)}"
        return "object with " + ", ".join(sorted(map(str, data))) if data else "empty object"
    return f"{type(data).__name__} value"


def describe(proof: evidence.Evidence) -> dict[str, Any]:
    claims = proof.claims
    cert = proof.signer
    return {
        "valid": True,
        "issuer": claims["iss"],
        "signed_at": dt.datetime.fromtimestamp(claims["iat"], dt.UTC).isoformat(),
        "exchange_id": claims.get("exchange_id"),
        "client": claims.get("client"),
        "signer": {
            "subject": cert.subject.rfc4514_string(),
            "keyid": pki.keyid(cert),
            "member": str(pki.member_of(cert)),
            "not_before": cert.not_valid_before_utc.isoformat(),
            "not_after": cert.not_valid_after_utc.isoformat(),
        },
        "summary": summary(proof.data),
        "data": proof.data,
    }


def _html_value(value: Any) -> str:
    if isinstance(value, dict):
        rows = "".join(
            f"<tr><th>{html.escape(str(k))}</th><td>{_html_value(v)}</td></tr>"
            for k, v in value.items()
        )
        return f"<table>{rows}</table>"
    if isinstance(value, list):
        return "".join(f"<div class=item>{_html_value(v)}</div>" for v in value) or "—"
    return "—" if value is None else html.escape(str(value))


def render_html(report: dict[str, Any]) -> str:
    """A self-contained page for people: the verification result first, then the data."""
    if report["valid"]:
        status = (
            f"<p class=ok>Valid evidence, signed by {html.escape(report['signer']['subject'])} "
            f"for {html.escape(report['issuer'])} at {html.escape(report['signed_at'])}.</p>"
        )
        body = f"<h2>{html.escape(report['summary'])}</h2>{_html_value(report['data'])}"
    else:
        status = (
            f"<p class=bad>INVALID evidence [{html.escape(report['code'])}]: "
            f"{html.escape(report['message'])}. Do not rely on its content.</p>"
        )
        body = ""
    style = (
        "body{font-family:sans-serif;max-width:60em;margin:2em auto}"
        "table{border-collapse:collapse;width:100%}th,td{border:1px solid #bbb;padding:.3em;"
        "text-align:left;vertical-align:top}th{width:14em;background:#f3f3f3}"
        ".ok{color:#075}.bad{color:#a00;font-weight:bold}.item{margin:.3em 0}"
    )
    return (
        "<!doctype html><html lang=es><meta charset=utf-8><title>Enlace evidence</title>"
        f"<style>{style}</style><h1>Enlace evidence</h1>{status}{body}</html>\n"
    )


@evidence_app.command("verify")
def evidence_verify(
    file: Annotated[Path, typer.Argument(help="Compact JWS, or a response body with evidence.")],
    ca: Annotated[
        Path | None, typer.Option(help="Instance CA certificate (default: PKI dir's ca.pem).")
    ] = None,
    html_out: Annotated[
        Path | None, typer.Option("--html", help="Also write an HTML rendering here.")
    ] = None,
    pki_dir: common.PkiOpt = None,
    as_json: common.JsonOpt = False,
) -> None:
    """Verify evidence offline and say whether it is valid, who signed it and what it says."""
    ca_path = ca or pki.PkiDir(common.settings(pki_dir=pki_dir).pki_dir).ca_cert
    try:
        ca_cert = pki.load_cert(ca_path)
    except (OSError, ValueError) as exc:
        raise common.CliError("cli.bad_file", f"{ca_path}: not a readable CA certificate") from exc
    try:
        report = describe(evidence.verify(read_token(file), ca_cert))
    except evidence.EvidenceError as exc:
        report = {"valid": False, "code": exc.code, "message": str(exc)}
    if html_out is not None:
        html_out.write_text(render_html(report), encoding="utf-8")
    if as_json:
        typer.echo(json.dumps(report, ensure_ascii=False, indent=2))
    elif report["valid"]:
        signer = report["signer"]
        typer.echo("valid")
        typer.echo(f"  issuer     {report['issuer']}")
        typer.echo(f"  signer     {signer['subject']} (key {signer['keyid'][:16]}…)")
        typer.echo(f"  signed at  {report['signed_at']}")
        typer.echo(f"  exchange   {report['exchange_id']} for {report['client']}")
        typer.echo(f"  data       {report['summary']}")
    else:
        typer.echo(f"invalid [{report['code']}]: {report['message']}")
    raise typer.Exit(0 if report["valid"] else 1)
