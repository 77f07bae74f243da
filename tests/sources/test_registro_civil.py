"""The Registro Civil through the real HTTPS gateway, and its evidence checked offline."""

from __future__ import annotations

import base64
import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from gateway.cli.main import app as enlace_app
from gateway.devtools import bootstrap, devca, population
from gateway.kernel import pki
from gateway.kernel.ids import MemberId, ServiceId
from gateway.kernel.protocol import evidence
from gateway.kernel.protocol import headers as h
from gateway.server.run import free_port, running
from gateway.storage import registry
from services.sdk import InvalidRequest, NotFound
from tests.conftest import CITIZENS
from tests.e2e.helpers import ledger_entry
from tests.sources.identity import becas, call, first, pseudonyms
from trusted_sources import registro_civil
from trusted_sources.records import SEX_NAMES, Person
from trusted_sources.registro_civil import RegistroCivilAdapter
from trusted_sources.server import SourceServer, server_ssl_context
from trusted_sources.server import running as serving


def _with_parents(people: list[Person]) -> Person:
    return first(
        people,
        estatus_curp="AN",
        madre_curp=lambda c: c is not None,
        padre_curp=lambda c: c is not None,
        documento_probatorio=lambda d: d.tipo == 1,
    )


def _acta(dev, url, subject: str, **kwargs):
    with becas(dev, url) as client:
        return call(client, bootstrap.ACTA_SERVICE, subject, **kwargs)


def test_acta_by_curp_is_the_registry_record_signed_by_the_registro_civil(dev, gateway_url, people):
    child = _with_parents(people)
    by_curp = {p.curp: p for p in people}
    madre, padre = by_curp[child.madre_curp], by_curp[child.padre_curp]
    result = _acta(dev, gateway_url, child.curp)
    acta, doc = result.data, child.documento_probatorio

    assert acta["registrado"] == {
        "curp": child.curp,
        "nombres": child.nombres,
        "primerApellido": child.primer_apellido,
        "segundoApellido": child.segundo_apellido,
        "sexo": SEX_NAMES[child.sexo],
        "fechaNacimiento": child.fecha_nacimiento.isoformat(),
        "lugarNacimiento": acta["registrado"]["lugarNacimiento"],
    }
    assert acta["registrado"]["lugarNacimiento"]["claveEntidad"] == child.entidad_nacimiento
    assert [(p["rol"], p["curp"], p["nombres"]) for p in acta["progenitores"]] == [
        ("PADRE", padre.curp, padre.nombres),
        ("MADRE", madre.curp, madre.nombres),
    ]
    registro = acta["registro"]
    assert (registro["claveEntidad"], registro["claveMunicipio"]) == (
        doc.entidad_registro,
        doc.municipio_registro.clave,
    )
    assert (registro["libro"], registro["numeroActa"]) == (doc.libro, doc.num_acta)
    assert registro["fechaRegistro"] >= child.fecha_nacimiento.isoformat()
    ident = acta["identificadorElectronico"]
    assert len(ident) == 20
    assert ident.startswith(doc.entidad_registro + doc.municipio_registro.clave)
    assert ident[9:13] == str(doc.anio_registro)
    assert acta["anotacionesMarginales"] == []

    certification = acta["certificacion"]
    issued = registro_civil.today_in_mexico().isoformat()
    assert certification["fechaExpedicion"] == issued
    rest = {k: v for k, v in acta.items() if k != "certificacion"}
    assert certification["codigoVerificacion"] == registro_civil.verification_code(
        rest, registro_civil.today_in_mexico()
    )
    assert ident in certification["texto"] and certification["texto"].endswith("Doy fe.")
    # The same acta the adapter's pure core builds from the population.
    record = population.synthetic(CITIZENS, 0).by_curp(child.curp)
    assert acta == registro_civil.acta(record, madre, padre, registro_civil.today_in_mexico())

    # Signed by the Registro Civil (not the gateway) and verifiable offline.
    proof = evidence.verify(result.evidence.token, dev.pki.load_ca().cert)
    assert pki.member_of(proof.signer) == bootstrap.REGCIVIL.member
    assert proof.claims["iss"] == str(bootstrap.ACTA_SERVICE)
    # The ledger knows whose data the acta carries: the child's and both parents'.
    entry = ledger_entry(dev.database, result.ledger_index)
    assert entry["subjects"] == pseudonyms(dev, child.curp, madre.curp, padre.curp)


def test_acta_by_identificador_with_unknown_subject(dev, gateway_url, people):
    child = _with_parents(people)
    by_curp = _acta(dev, gateway_url, child.curp).data
    ident = by_curp["identificadorElectronico"]
    result = _acta(dev, gateway_url, h.UNKNOWN_SUBJECT, query={"identificadorElectronico": ident})
    assert result.data == by_curp
    entry = ledger_entry(dev.database, result.ledger_index)
    assert entry["subjects"] == pseudonyms(dev, child.curp, child.madre_curp, child.padre_curp)
    # With the subject named, the acta must be theirs.
    other = first(people, estatus_curp="AN", curp=lambda c: c != child.curp)
    with pytest.raises(NotFound):
        _acta(dev, gateway_url, other.curp, query={"identificadorElectronico": ident})


def test_deceased_person_acta_carries_the_death_note(dev, gateway_url, people):
    deceased = first(people, estatus_curp="BD", documento_probatorio=lambda d: d.tipo == 1)
    acta = _acta(dev, gateway_url, deceased.curp).data
    (note,) = acta["anotacionesMarginales"]
    assert note["tipo"] == "DEFUNCIÓN" and "fallecimiento" in note["texto"]
    assert acta["registro"]["fechaRegistro"] < note["fecha"] < "2026-01-01"


def test_founders_get_parents_without_curp(dev, gateway_url, people):
    founder = first(
        people,
        madre_curp=None,
        padre_curp=None,
        segundo_apellido=lambda s: s is not None,
        documento_probatorio=lambda d: d.tipo == 1,
    )
    progenitores = _acta(dev, gateway_url, founder.curp).data["progenitores"]
    assert [p["rol"] for p in progenitores] == ["PADRE", "MADRE"]
    assert all(p["curp"] is None for p in progenitores)
    assert progenitores[0]["primerApellido"] == founder.primer_apellido
    assert progenitores[1]["primerApellido"] == founder.segundo_apellido


def test_unknown_actas(dev, gateway_url, people):
    foreigner = first(people, documento_probatorio=lambda d: d.tipo != 1)
    with becas(dev, gateway_url) as client:
        for subject, query in (
            (foreigner.curp, None),  # a CURP issued on a migratory document: no acta
            ("RUTA030715MOCZPNA2", None),  # no such CURP
            (h.UNKNOWN_SUBJECT, {"identificadorElectronico": "0" * 20}),
        ):
            with pytest.raises(NotFound) as caught:
                call(client, bootstrap.ACTA_SERVICE, subject, query=query)
            assert caught.value.code == "Source.NotFound"
        with pytest.raises(InvalidRequest) as neither:
            call(client, bootstrap.ACTA_SERVICE, h.UNKNOWN_SUBJECT)
        assert neither.value.code == "Source.InvalidQuery"
        with pytest.raises(InvalidRequest) as malformed:
            call(
                client,
                bootstrap.ACTA_SERVICE,
                h.UNKNOWN_SUBJECT,
                query={"identificadorElectronico": "123"},
            )
        assert malformed.value.code == "Client.InvalidBody"
        assert malformed.value.message.startswith("$.query.identificadorElectronico: must match")


# --- evidence verification, offline ----------------------------------------------------------


@pytest.fixture
def acta_evidence(dev, gateway_url, people, tmp_path):
    token = _acta(dev, gateway_url, _with_parents(people).curp).evidence.token
    path = tmp_path / "acta.jws"
    path.write_text(token + "\n")
    return path


def _tampered(token: str, old: str, new: str) -> str:
    head, payload, signature = token.split(".")
    claims = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    assert old.encode() in claims
    forged = base64.urlsafe_b64encode(claims.replace(old.encode(), new.encode(), 1))
    return f"{head}.{forged.decode().rstrip('=')}.{signature}"


def test_evidence_verify_valid_acta(dev, acta_evidence, tmp_path):
    runner = CliRunner()
    ca = str(dev.pki.ca_cert)
    out = runner.invoke(enlace_app, ["evidence", "verify", str(acta_evidence), "--ca", ca])
    assert out.exit_code == 0, out.output
    assert out.output.startswith("valid\n")
    assert str(bootstrap.ACTA_SERVICE) in out.output
    assert "acta de nacimiento" in out.output and "CN=" in out.output

    page = tmp_path / "acta.html"
    as_json = runner.invoke(
        enlace_app,
        ["evidence", "verify", str(acta_evidence), "--ca", ca, "--json", "--html", str(page)],
    )
    report = json.loads(as_json.output)
    assert report["valid"] is True and report["issuer"] == str(bootstrap.ACTA_SERVICE)
    assert report["signer"]["member"] == str(bootstrap.REGCIVIL.member)
    acta = report["data"]
    assert acta["registrado"]["primerApellido"] in page.read_text()

    # A saved response body works as well as the bare JWS.
    body = tmp_path / "response.json"
    body.write_text(json.dumps({"exchange_id": "x", "evidence": acta_evidence.read_text()}))
    assert runner.invoke(enlace_app, ["evidence", "verify", str(body), "--ca", ca]).exit_code == 0


def test_evidence_verify_rejects_a_tampered_acta(dev, acta_evidence, tmp_path):
    token = acta_evidence.read_text().strip()
    claims = evidence.unverified_claims(token)
    name = claims["data"]["registrado"]["nombres"]
    forged = tmp_path / "forged.jws"
    forged.write_text(_tampered(token, f'"nombres":"{name}"', '"nombres":"OTRA PERSONA"'))
    ca = str(dev.pki.ca_cert)
    # The real command, as a support agent runs it: exit status 1 and the reason.
    result = subprocess.run(
        [sys.executable, "-m", "gateway", "evidence", "verify", str(forged), "--ca", ca],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1, result.stderr
    assert result.stdout.startswith("invalid [evidence.bad_signature]")
    assert "OTRA PERSONA" not in result.stdout

    runner = CliRunner()
    report = json.loads(
        runner.invoke(enlace_app, ["evidence", "verify", str(forged), "--ca", ca, "--json"]).output
    )
    assert report == {
        "valid": False,
        "code": "evidence.bad_signature",
        "message": "JWS signature does not verify",
    }
    # Genuine evidence checked against another instance's CA: untrusted signer.
    other_ca = tmp_path / "other-ca.pem"
    other_ca.write_text(pki.cert_pem(devca.create_ca("XX").cert))
    untrusted = runner.invoke(
        enlace_app, ["evidence", "verify", str(acta_evidence), "--ca", str(other_ca)]
    )
    assert untrusted.exit_code == 1
    assert untrusted.output.startswith("invalid [evidence.untrusted_signer]")
    garbage = tmp_path / "garbage.jws"
    garbage.write_text("not a token")
    malformed = runner.invoke(enlace_app, ["evidence", "verify", str(garbage), "--ca", ca])
    assert malformed.exit_code == 1 and "evidence.malformed" in malformed.output


def test_remote_registro_civil_answers_like_the_in_process_one(dev, people):
    """The same adapter as its own HTTPS service over mutual TLS, registered by URL."""
    child = _with_parents(people)
    cert, key = dev.pki.member(bootstrap.REGCIVIL.member, "tls")
    server = SourceServer(
        RegistroCivilAdapter(population.synthetic(CITIZENS)),
        dev.pki.load_pair(dev.pki.member(bootstrap.REGCIVIL.member)),
        provider=bootstrap.REGCIVIL,
        gateway=MemberId(dev.settings.instance, "ENLACE", "gateway"),
    )
    context = server_ssl_context(cert, key, dev.pki.ca_cert)
    with serving(server.app(), "127.0.0.1", free_port(), context) as source_url:
        registry.register_source(
            dev.database,
            "registro-civil-remoto",
            bootstrap.REGCIVIL,
            url=source_url,
            tls_cert_pem=cert.read_text(),
        )
        remote = ServiceId.parse(f"{bootstrap.REGCIVIL}/consulta-acta/v2")
        registry.add_service(dev.database, remote, "registro-civil-remoto", "consulta-acta")
        registry.grant(
            dev.database,
            bootstrap.BECAS,
            remote,
            [bootstrap.BECAS_PURPOSE],
            [bootstrap.BECAS_LEGAL_BASIS],
        )
        with running(dev.settings) as url:
            local = _acta(dev, url, child.curp)
            with becas(dev, url) as client:
                far = call(client, remote, child.curp)
    assert far.data == local.data
    assert pki.member_of(far.evidence.signer) == bootstrap.REGCIVIL.member
    entry = ledger_entry(dev.database, far.ledger_index)
    assert entry["subjects"] == pseudonyms(dev, child.curp, child.madre_curp, child.padre_curp)
