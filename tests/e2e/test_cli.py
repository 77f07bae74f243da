"""The administrator's path: the `enlace` command, as a subprocess, end to end over HTTPS."""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from gateway.devtools.population import generate
from gateway.server.run import free_port
from services.sdk import AccessDenied, EnlaceClient

SERVICE = "MX/GOB/RENAPO/curp/consulta-curp/v1"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "ENLACE_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}",
        "ENLACE_PKI_DIR": str(tmp_path / "certs"),
        "ENLACE_ACTOR": "admin:ana",
    }


def enlace(env: dict[str, str], *args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [sys.executable, "-m", "gateway", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    if check:
        assert result.returncode == 0, result.stderr
    return result


def test_admin_cli_then_serve_then_call(env, tmp_path):
    certs = tmp_path / "certs"
    enlace(env, "pki", "init", "--member", "MX/GOB/RENAPO", "--member", "MX/GOB/SEP")
    assert (certs / "ca.pem").exists() and (certs / "gateway" / "tls.pem").exists()
    for member, name, sub in (("MX/GOB/RENAPO", "RENAPO", "curp"), ("MX/GOB/SEP", "SEP", "becas")):
        cert = certs / "members" / member.replace("/", "__") / "sign.pem"
        enlace(
            env, "member", "add", member, "--name", name, "--cert", str(cert), "--subsystem", sub
        )
    enlace(
        env,
        "source",
        "register",
        "renapo",
        "--provider",
        "MX/GOB/RENAPO/curp",
        "--adapter",
        "renapo",
        "--option",
        "citizens=50",
    )
    enlace(env, "service", "add", SERVICE, "--source", "renapo", "--operation", "consulta-curp")
    grant = ["acl", "grant", "MX/GOB/SEP/becas", SERVICE]
    grant += ["--purpose", "becas-inscripcion", "--legal-basis", "LGE-art-8"]
    untitled = enlace(env, *grant, check=False)
    assert untitled.returncode == 2 and "error [registry.unknown_title]" in untitled.stderr
    enlace(env, "purpose", "add", "becas-inscripcion", "--title", "Inscripción a una beca")
    law = ["--title", "Ley General de Educación, art. 8", "--url", "https://example.mx/LGE.pdf"]
    enlace(env, "legal-basis", "add", "LGE-art-8", *law)
    assert json.loads(enlace(env, "legal-basis", "list", "--json").stdout) == [
        {
            "legal_basis": "LGE-art-8",
            "title": "Ley General de Educación, art. 8",
            "url": "https://example.mx/LGE.pdf",
        }
    ]
    enlace(env, "member", "set-contact", "MX/GOB/SEP", "transparencia@sep.example.mx")
    # Without --method, the method follows the request schema: consulta-datos takes a body.
    datos = "MX/GOB/RENAPO/curp/consulta-datos/v1"
    enlace(env, "service", "add", datos, "--source", "renapo", "--operation", "consulta-datos")
    listed = {
        s["service"]: s["methods"]
        for s in json.loads(enlace(env, "service", "list", "--json").stdout)
    }
    assert listed == {SERVICE: "GET", datos: "POST"}
    enlace(
        env,
        "acl",
        "grant",
        "MX/GOB/SEP/becas",
        SERVICE,
        "--purpose",
        "becas-inscripcion",
        "--legal-basis",
        "LGE-art-8",
    )
    grants = json.loads(enlace(env, "acl", "list", "--json").stdout)
    assert grants == [
        {
            "client": "MX/GOB/SEP/becas",
            "service": SERVICE,
            "purposes": ["becas-inscripcion"],
            "legal_bases": ["LGE-art-8"],
            "hidden_until": None,
        }
    ]
    duplicate = enlace(env, "member", "add", "MX/GOB/SEP", "--name", "x", check=False)
    assert duplicate.returncode == 2
    assert "error [registry.exists]" in duplicate.stderr and "Traceback" not in duplicate.stderr
    bad = enlace(
        env,
        "acl",
        "grant",
        "MX/GOB/SEP",
        SERVICE,
        "--purpose",
        "p",
        "--legal-basis",
        "l",
        check=False,
    )
    assert bad.returncode == 2 and "error [cli.bad_identifier]" in bad.stderr

    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "gateway", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"https://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120  # generous: polls end as soon as it holds
        while True:
            try:
                httpx.get(
                    f"{url}/healthz",
                    verify=ssl.create_default_context(cafile=str(certs / "ca.pem")),
                    timeout=1,
                )
                break
            except httpx.TransportError:
                assert server.poll() is None, server.stdout.read() if server.stdout else ""
                assert time.monotonic() < deadline, "gateway did not start"
                time.sleep(0.2)
        citizen = next(p for p in generate(50) if p.estatus_curp == "AN")
        call = dict(
            subject=citizen.curp,
            purpose="becas-inscripcion",
            legal_basis="LGE-art-8",
            user_id="MX-SEP-1",
            issue="BECA-1",
        )
        with EnlaceClient.from_pki(url, "MX/GOB/SEP/becas", certs) as client:
            assert client.call(SERVICE, **call).data["curp"] == citizen.curp
            enlace(env, "acl", "revoke", "MX/GOB/SEP/becas", SERVICE)
            deadline = time.monotonic() + 120  # generous: polls end as soon as it holds
            while True:  # the running gateway picks the change up within its poll interval
                try:
                    client.call(SERVICE, **call)
                except AccessDenied as exc:
                    assert exc.code == "Client.AccessDenied"
                    break
                assert time.monotonic() < deadline, "revocation was not picked up"
                time.sleep(0.2)
    finally:
        server.terminate()
        output, _ = server.communicate(timeout=20)
    assert citizen.curp not in output, "a CURP reached the application log"

    tail = json.loads(enlace(env, "ledger", "tail", "-n", "100", "--json").stdout)
    actions = [e["entry"].get("action") for e in tail if e["entry"]["kind"] == "admin"]
    assert actions[:5] == [
        "member.add",
        "subsystem.add",
        "certificate.add",
        "member.add",
        "subsystem.add",
    ]
    assert "acl.revoke" in actions
    assert {e["entry"]["actor"] for e in tail if e["entry"]["kind"] == "admin"} == {"admin:ana"}
    outcomes = [e["entry"]["outcome"] for e in tail if e["entry"]["kind"] == "exchange"]
    assert outcomes[0] == "allowed" and outcomes[-1] == "refused"


def test_curp_check(env):
    ok = enlace(env, "curp", "check", "RUTA030715MOCZPNA2", "MECA010309XJCNRLB8", "--json")
    assert [r["valid"] for r in json.loads(ok.stdout)] == [True, True]
    bad = enlace(
        env, "curp", "check", "RUTA030715MOCZPNA3", "PEDO951201HPLRMC09", "--json", check=False
    )
    assert bad.returncode == 1
    results = json.loads(bad.stdout)
    assert results[0]["failures"][0]["code"] == "curp.check_digit"
    assert "curp.inconvenient_word" in {f["code"] for f in results[1]["failures"]}
    human = enlace(env, "curp", "check", "RUTA030715MOCZPNA3", check=False)
    assert "invalid [curp.check_digit]" in human.stdout
