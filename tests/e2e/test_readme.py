"""README's "Running an instance by hand" works pasted line by line: this runs its code block as
written (ports swapped for free ones), then makes a `consulta-datos` call and a citizen login."""

from __future__ import annotations

import os
import re
import shlex
import ssl
import subprocess
import sys
import time
from pathlib import Path

import httpx

from gateway.devtools import sat_pki as devpki
from gateway.devtools.population import generate
from gateway.server.run import free_port
from services.sdk import EnlaceClient
from tests.citizen.helpers import credential, login

README = Path(__file__).resolve().parents[2] / "README.md"


def by_hand_commands() -> list[str]:
    """The shell block under "Running an instance by hand", one command per entry."""
    section = README.read_text(encoding="utf-8").split("## Running an instance by hand", 1)[1]
    block = re.search(r"```sh\n(.*?)```", section, re.S)
    assert block, "README has no shell block under Running an instance by hand"
    text = block.group(1).replace("\\\n", " ")
    return [line.split("  #")[0].strip() for line in text.splitlines() if line.strip()]


def _wait(url: str, verify: ssl.SSLContext | bool, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            httpx.get(url, verify=verify, timeout=1)
            return
        except httpx.TransportError:
            assert process.poll() is None, process.stdout.read() if process.stdout else ""
            assert time.monotonic() < deadline, f"{url} did not come up"
            time.sleep(0.2)


def test_running_an_instance_by_hand(tmp_path: Path) -> None:
    gateway_port, ocsp_port = free_port(), free_port()
    env = dict(os.environ)
    env.pop("ENLACE_DATABASE_URL", None)
    background: list[subprocess.Popen[str]] = []
    enlace = [sys.executable, "-m", "gateway"]
    try:
        for command in by_hand_commands():
            command = command.replace("8443", str(gateway_port)).replace("8790", str(ocsp_port))
            if command.startswith(". "):  # activating the venv: we run its Python directly
                continue
            if command.startswith("export "):
                name, _, value = command.removeprefix("export ").partition("=")
                env[name] = value
                continue
            words = shlex.split(command.removesuffix("&"))
            assert words[0] == "enlace", command
            if command.endswith("&") or words[1] == "serve":
                background.append(
                    subprocess.Popen(
                        [*enlace, *words[1:]],
                        cwd=tmp_path,
                        env=env,
                        stdout=subprocess.PIPE,
                        stderr=subprocess.STDOUT,
                        text=True,
                    )
                )
                continue
            done = subprocess.run(
                [*enlace, *words[1:]], cwd=tmp_path, env=env, capture_output=True, text=True
            )
            assert done.returncode == 0, f"{command}\n{done.stderr}"
        certs = tmp_path / "certs"
        url = f"https://127.0.0.1:{gateway_port}"
        verify = ssl.create_default_context(cafile=str(certs / "ca.pem"))
        _wait(f"{url}/healthz", verify, background[-1])
        # The OCSP responder too (started first, but nothing says it listens yet): the
        # citizen's login below asks it.
        ocsp = next(p for p in background if "sat-ocsp" in p.args)
        _wait(f"http://127.0.0.1:{ocsp_port}/", False, ocsp)

        person = next(p for p in generate(1000) if p.estatus_curp == "AN")
        # A str, as the README writes it (a Path works too).
        with EnlaceClient.from_pki(url, "MX/GOB/SEP/becas", str(certs)) as client:
            found = client.call(
                "MX/GOB/RENAPO/curp/consulta-datos/v1",
                subject="unknown",
                purpose="becas-inscripcion",
                legal_basis="LGE-art-8",
                user_id="MX-SEP-1",
                issue="BECA-1",
                method="POST",
                body={
                    "nombres": person.nombres,
                    "primerApellido": person.primer_apellido,
                    "fechaNacimiento": person.fecha_nacimiento.strftime("%d/%m/%Y"),
                    "sexo": person.sexo,
                    "claveEntidad": person.entidad_nacimiento,
                },
            )
        assert person.curp in str(found.data)

        citizen = credential(devpki.SatDevPki(certs / "sat"), state="valid")
        with httpx.Client(verify=verify, timeout=15) as http:
            assert login(http, url, citizen)
            # The page's pinned keys, from `enlace ledger trust-doc`.
            pinned = http.get(f"{url}/ciudadano/trust.json")
            assert pinned.status_code == 200 and pinned.json()["quorum"] == 0
    finally:
        for process in background:
            process.terminate()
            process.communicate(timeout=20)
