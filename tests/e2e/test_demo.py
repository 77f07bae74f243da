"""``enlace demo`` as a newcomer runs it (``make demo``): every step must still show what it says.

The demo runs once as a subprocess, exactly as the command line runs it; each test asserts the
key lines of one step, so that the narrated flow cannot silently rot. ``--keep-running`` is
checked separately: the citizen page is served until Ctrl-C, then everything stops cleanly.
"""

from __future__ import annotations

import os
import queue
import re
import signal
import ssl
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

#: Seconds after which the demo is taken to hang (it takes seconds; a loaded machine is slower).
HANG = 600
CURP = re.compile(r"\b[A-Z]{4}\d{6}[HM][A-Z]{5}[A-Z0-9]\d\b")
PSEUDONYM = re.compile(r"\b[0-9a-f]{64}\b")


def _command(*args: str) -> list[str]:
    return [sys.executable, "-m", "gateway", "demo", *args]


def _env(tmp: Path) -> dict[str, str]:
    return {**os.environ, "TMPDIR": str(tmp), "PYTHONIOENCODING": "utf-8", "PYTHONUNBUFFERED": "1"}


class Run:
    def __init__(self, result: subprocess.CompletedProcess[str], tmp: Path):
        self.result, self.tmp = result, tmp
        self.out, self.err = result.stdout, result.stderr
        self.lines = self.out.splitlines()

    def step(self, title: str) -> str:
        """The lines of the step whose title contains ``title``, up to the next step."""
        starts = [i for i, line in enumerate(self.lines) if re.match(r"\d+\. ", line)]
        for n, start in enumerate(starts):
            if title in self.lines[start]:
                end = starts[n + 1] if n + 1 < len(starts) else len(self.lines)
                return "\n".join(self.lines[start:end])
        raise AssertionError(f"no step {title!r} in:\n{self.out}")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Run:
    tmp = tmp_path_factory.mktemp("demo")
    result = subprocess.run(
        _command(),
        env=_env(tmp),
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=HANG,
    )
    return Run(result, tmp)


def test_runs_and_stops_cleanly(demo):
    # How fast it runs is the demo's own report ("Done in"), not a test: a loaded machine is slow.
    assert demo.result.returncode == 0, demo.err
    assert demo.lines[-1].startswith("Gateway and sources stopped. Done in")
    assert list(demo.tmp.glob("enlace-demo-*")) == []  # the throw-away instance is gone
    assert "Traceback" not in demo.err


def test_instance_creation(demo):
    step = demo.step("A development instance")
    assert "6 agencies; 3 sources in process: registro-civil, renapo, sat" in step
    assert re.search(r"every registry change is a ledger entry: #0-#\d+", step)


def test_allowed_lookup_and_refusals_with_codes(demo):
    allowed = demo.step("MX/GOB/SEP/becas looks up")
    assert re.search(r"ALLOWED: ledger entry #\d+; evidence signed by MX/GOB/RENAPO", allowed)
    assert "RENAPO says:" in allowed and "CURP status AN" in allowed
    purpose = demo.step("a purpose it was not granted")
    assert re.search(r"REFUSED: Client\.PurposeNotGranted \(HTTP 403\), ledger entry #\d+", purpose)
    no_grant = demo.step("which holds no grant")
    assert re.search(r"REFUSED: Client\.AccessDenied \(HTTP 403\), ledger entry #\d+", no_grant)


def test_scholarship_enrolment_with_renapo_and_registro_civil(demo):
    step = demo.step("The scholarship app")
    assert re.search(r"ACCEPTED; ledger entries #\d+, #\d+", step)
    assert "BECA-2026-000043-curp.jws, signed by MX/GOB/RENAPO" in step
    assert "BECA-2026-000043-acta.jws, signed by MX/GOB/REGCIVIL" in step


def test_sat_permits_valid_accepted_revoked_refused(demo):
    sat = demo.step("SAT's side")
    assert re.search(r"OCSP responder \(RFC 6960\) on http://127\.0\.0\.1:\d+/", sat)
    gateway = demo.step("Gateway listening")
    assert "citizen login by e.firma enabled" in gateway
    step = demo.step("The permits app")
    assert re.search(r"\(valid e\.firma\).*\n.*case PERM-2026-0001: APPROVED", step)
    assert re.search(r"\(revoked e\.firma\).*\n.*case PERM-2026-0002: REJECTED", step)
    assert "SAT: efirma.revoked" in step


def test_remote_source_over_mutual_tls_answers_like_in_process(demo):
    step = demo.step("RENAPO as its own HTTPS service")
    assert re.search(r"listening on https://127\.0\.0\.1:\d+", step)
    assert "registered as source renapo-remoto with --url and --tls-cert" in step
    assert re.search(r"the running gateway picked the change up in [\d.]+ s", step)
    assert re.search(r"ALLOWED: ledger entry #\d+; evidence signed by MX/GOB/RENAPO", step)
    assert "same data as RENAPO in process, same signer" in step


def test_ledger_receipts_checkpoint_and_proofs(demo):
    step = demo.step("The ledger")
    receipts = re.findall(r"^ {5}#\d+ +\S+ +-> .* tree \d+$", step, re.MULTILINE)
    assert len(receipts) == 8  # every exchange of the demo
    assert "enlace.receipt/v1" in step
    assert re.search(r"^ {5}localhost/enlace/MX/ledger\n {5}\d+\n {5}\S{44}\n", step, re.M)
    assert "its signature: VERIFIED with the gateway's checkpoint key" in step
    assert re.search(r"proof/inclusion, \d+ hashes\): VERIFIED", step)
    assert re.search(r"proof/consistency, \d+ hashes\): VERIFIED", step)
    audit = demo.step("An auditor recomputes the whole ledger")
    assert "(signatures checked)" in audit
    assert "ledger verify: OK" in audit


def test_citizen_sees_their_accesses_with_proofs_verified(demo):
    step = demo.step("The citizen's view")
    assert re.search(r"logged in as [A-Z ]+, session until", step)
    entries = int(re.search(r"their access log: (\d+) entries", step).group(1))
    # three lookups (one allowed, two refused), the permit, the remote lookup, the login
    assert entries == 6
    assert step.count("proof verified") == entries and "NOT verified" not in step
    assert "Client.PurposeNotGranted" in step and "Client.AccessDenied" in step
    assert "official MX-SE-000042, purpose permiso-solicitud, basis LFEA-art-7" in step
    assert "case PERM-2026-0001: allowed; proof verified" in step
    assert f"proof bundle downloaded (enlace-pruebas.json, {entries} entries)" in step
    # Complete and witnessed, and checked offline by the CLI against the trust document.
    assert re.search(r"the citizen sees: complete up to \d+, witnessed by witness\.demo/inai", step)
    assert "check-proof enlace-pruebas.json --trust trust.json" in step
    signed = r"says OK: tree \d+, signed by localhost/enlace/MX/ledger, witness\.demo/inai"
    assert re.search(signed, step)


def test_an_independent_witness_runs_and_is_pinned(demo):
    step = demo.step("An independent witness (witness.demo/inai) listening on http://127.0.0.1:")
    assert "no access to the database" in step
    assert re.search(r"log key     ([0-9A-F]{4} ){7}[0-9A-F]{4}$", step, re.MULTILINE)
    assert re.search(r"witness key ([0-9A-F]{4} ){7}[0-9A-F]{4}$", step, re.MULTILINE)


def test_output_is_readable_and_logs_carry_no_personal_data(demo):
    assert "citizen login disabled" not in demo.out + demo.err
    assert not CURP.search(demo.err), demo.err  # whatever is logged, never a CURP
    assert not PSEUDONYM.search(demo.out)  # pseudonyms are elided in the narration
    assert '{"' not in demo.out  # no raw JSON
    long = [line for line in demo.lines if len(line) > 100 and str(demo.tmp) not in line]
    assert long == []


def test_keep_running_serves_the_citizen_page_until_ctrl_c(tmp_path):
    with subprocess.Popen(
        _command("--keep-running"),
        env=_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        encoding="utf-8",
    ) as process:
        lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=lambda: [lines.put(x) for x in process.stdout], daemon=True).start()
        seen: list[str] = []
        deadline = time.monotonic() + HANG
        try:
            while not seen or not seen[-1].startswith("Press Ctrl-C"):
                assert process.poll() is None, "".join(seen) + process.stderr.read()
                assert time.monotonic() < deadline, "".join(seen)
                try:
                    seen.append(lines.get(timeout=1))
                except queue.Empty:
                    continue
            text = "".join(seen)
            page = re.search(r"(https://127\.0\.0\.1:\d+/ciudadano/)", text).group(1)
            ca = re.search(r"demo's own CA,\n\s+(\S+)", text).group(1)
            cer = Path(re.search(r"certificate  (\S+\.cer)", text).group(1))
            key = Path(re.search(r"private key  (\S+\.key)", text).group(1))
            assert cer.exists() and key.exists() and "password     12345678a" in text
            with httpx.Client(verify=ssl.create_default_context(cafile=ca)) as http:
                response = http.get(page)
            assert response.status_code == 200 and "<html" in response.text.lower()
        finally:
            process.send_signal(signal.SIGINT)
            process.wait(timeout=30)
        assert process.returncode == 0, process.stderr.read()
    assert list(tmp_path.glob("enlace-demo-*")) == []
