"""``enlace demo``: the whole product on the embedded default, narrated step by step.

A throw-away instance (SQLite, dev PKI made on the fly, trusted sources in process with
synthetic citizens) and, on loopback: SAT's dev OCSP responder, the gateway over HTTPS and one
trusted source as its own HTTPS service over mutual TLS. Then, through the consumer SDK and the
example apps: an allowed lookup and two refused ones, a scholarship enrolment (RENAPO and the
Registro Civil), permits signed with e.firma (SAT, a valid and a revoked one), the remote source
answering like the in-process one; the ledger's receipts, checkpoint and proofs; the citizen's
own view (e.firma login, access log, proof bundle: "complete up to N, witnessed by W", checked
offline by the CLI against the trust document); and an audit of the whole ledger. One
independent witness (``enlace witness serve``, its own process and state directory) cosigns
every checkpoint the gateway submits to it. ``--keep-running`` then leaves it all up for the
citizen page until Ctrl-C.

Each step is one function below; they share a ``Demo``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import typer
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from gateway.devtools import bootstrap
from gateway.devtools import sat_pki as devpki
from gateway.devtools.ocsp_responder import Responder
from gateway.devtools.population import generate, seeded_dataset
from gateway.kernel import pki
from gateway.kernel.efirma import certificate as efirma
from gateway.kernel.encoding import b64decode, b64encode
from gateway.kernel.ids import ClientId, MemberId, ServiceId
from gateway.kernel.ledger import bundle, checkpoint, merkle, trust
from gateway.kernel.ledger.receipt import Receipt
from gateway.kernel.protocol import evidence
from gateway.kernel.settings import Settings
from gateway.server.citizen_api import STATIC_DIR
from gateway.server.run import free_port, running
from gateway.storage import registry
from gateway.storage.ledger import audit, driver, queries
from services.apps import becas, permisos
from services.sdk import EnlaceClient, GatewayError, Result
from trusted_sources import server
from trusted_sources.adapters import adapter_factories
from trusted_sources.records import Person

HOST = "127.0.0.1"
OFFICIAL_SEP, OFFICIAL_SRE, OFFICIAL_SE = "MX-SEP-000123", "MX-SRE-000777", "MX-SE-000042"
REMOTE_SOURCE = "renapo-remoto"
REMOTE_SERVICE = ServiceId.parse(f"{bootstrap.RENAPO}/consulta-curp-remota/v1")
FORGE = STATIC_DIR / "vendor" / "forge.min.js"
WITNESS_NAME = "witness.demo/inai"


class DemoError(Exception):
    """Something the demo shows did not happen as it should."""


class RecordingClient(EnlaceClient):
    """The SDK client, keeping the verified ledger receipt of every answer, allowed or not."""

    def __init__(self, *args: Any, book: list[Receipt], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.book = book

    def call(self, service: str, **kwargs: Any) -> Result:
        try:
            result = super().call(service, **kwargs)
        except GatewayError as exc:
            if exc.receipt is not None:
                self.book.append(exc.receipt)
            raise
        self.book.append(result.receipt)
        return result


@dataclass
class Demo:
    """What the steps share."""

    workdir: Path
    settings: Settings
    instance: bootstrap.DevInstance
    sat: devpki.SatDevPki
    people: dict[str, Person]
    citizen: devpki.Credential  # the demo citizen: valid e.firma, the subject of most steps
    url: str = ""
    http: httpx.Client | None = None
    receipts: list[Receipt] = field(default_factory=list)
    local_answer: Result | None = None
    proven_index: int = -1  # the exchange whose inclusion the ledger step proves
    bundle_file: Path | None = None
    trust_file: Path | None = None
    step: int = 0

    @property
    def pki(self) -> pki.PkiDir:
        return self.instance.pki

    def client(self, who: ClientId) -> EnlaceClient:
        return RecordingClient.from_pki(
            self.url, str(who), self.settings.pki_dir, book=self.receipts
        )

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        assert self.http is not None
        return self.http.get(f"{self.url}{path}", **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        assert self.http is not None
        return self.http.post(f"{self.url}{path}", **kwargs)


# --- narration -------------------------------------------------------------------------------


def _say(text: str = "") -> None:
    typer.echo(text)


def _detail(text: str) -> None:
    typer.echo(f"   {text}")


def _step(demo: Demo, title: str) -> None:
    demo.step += 1
    _say(f"{demo.step}. {title}")


def _elide(text: str, keep: int = 12) -> str:
    return text if len(text) <= keep else text[:keep] + "…"


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise DemoError(message)


def _quiet_logs() -> None:
    """Warnings of the components, if any, as short indented lines rather than raw records."""
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(level=logging.WARNING, format="   (log %(name)s) %(message)s")


# --- the run ---------------------------------------------------------------------------------


def run_demo(
    *,
    citizens: int = 1000,
    keep: Path | None = None,
    keep_running: bool = False,
    port: int | None = None,
) -> None:
    workdir = keep or Path(tempfile.mkdtemp(prefix="enlace-demo-"))
    _quiet_logs()
    started = time.monotonic()
    try:
        _run(workdir, citizens, keep_running, started, port)
    except DemoError as exc:
        typer.echo(f"demo failed: {exc}", err=True)
        raise typer.Exit(1) from exc
    finally:
        if keep is None:
            shutil.rmtree(workdir, ignore_errors=True)


def _run(
    workdir: Path, citizens: int, keep_running: bool, started: float, port: int | None
) -> None:
    ocsp_port = free_port(HOST)
    settings = Settings(
        database_url=f"sqlite:///{workdir / 'enlace.db'}",
        pki_dir=workdir / "certs",
        citizen_sat_trust_dir=workdir / "certs" / "sat" / "trust",
        citizen_ocsp_url=f"http://{HOST}:{ocsp_port}/",
        checkpoint_interval=0.5,
        registry_poll=0.2,
    )
    demo = _create_instance(workdir, settings, citizens)
    with contextlib.ExitStack() as stack:
        stack.callback(demo.instance.database.dispose)
        _start_sat(demo, stack, ocsp_port)
        _start_witness(demo, stack)
        _start_gateway(demo, stack, port)
        _lookups(demo)
        _enrol_a_student(demo)
        _permits(demo)
        _remote_source(demo, stack, citizens)
        _ledger(demo)
        _citizen_view(demo)
        _audit(demo)
        if keep_running:
            _serve_until_interrupted(demo)
    _say(f"Gateway and sources stopped. Done in {time.monotonic() - started:.1f} s.")


# --- the steps -------------------------------------------------------------------------------


def _create_instance(workdir: Path, settings: Settings, citizens: int) -> Demo:
    people = {p.curp: p for p in generate(citizens)}
    ocsp_url = settings.citizen_ocsp_url or ""
    instance = bootstrap.create(settings, citizens=citizens, ocsp_url=ocsp_url)
    try:
        sat = devpki.create(settings.pki_dir / "sat", citizens=citizens)
    except ValueError as exc:
        raise DemoError(f"SAT dev PKI: {exc} (try --citizens 100)") from exc
    valid = [
        c
        for c in sat.credentials()
        if (c.kind, c.persona, c.state) == ("efirma", "fisica", "valid")
    ]
    citizen = max(valid, key=lambda c: people[c.curp].fecha_nacimiento)  # the youngest
    demo = Demo(workdir, settings, instance, sat, people, citizen)

    _step(demo, f"A development instance in {workdir}")
    with instance.database.read.connect() as conn:
        snapshot = registry.load(conn)
        size = driver.size(conn)
    _detail("PKI: instance CA, gateway TLS and signing keys, a key pair per agency")
    sources = ", ".join(sorted(snapshot.sources))
    _detail(
        f"{len(snapshot.members)} agencies; {len(snapshot.sources)} sources in process: {sources}"
    )
    _detail(f"RENAPO and the Registro Civil answer over {citizens} synthetic citizens")
    _detail(f"{bootstrap.BECAS} may ask RENAPO and the Registro Civil,")
    _detail(f"  for {bootstrap.BECAS_PURPOSE} under {bootstrap.BECAS_LEGAL_BASIS}")
    _detail(f"{bootstrap.PERMISOS} may ask SAT,")
    _detail(f"  for {bootstrap.PERMISOS_PURPOSE} under {bootstrap.PERMISOS_LEGAL_BASIS}")
    _detail(f"every registry change is a ledger entry: #0-#{size - 1}")
    return demo


def _start_sat(demo: Demo, stack: contextlib.ExitStack, port: int) -> None:
    _step(demo, "SAT's side: a SAT-like dev CA, e.firma for synthetic citizens, OCSP")
    states = [c.state for c in demo.sat.credentials() if c.kind == "efirma"]
    counts = ", ".join(f"{states.count(s)} {s}" for s in ("valid", "revoked", "expired"))
    _detail(f"{len(states)} e.firma ({counts}): .cer (DER) and .key (SAT format,")
    _detail(f"  password {devpki.PASSWORD!r}) in {demo.sat.credentials_dir}")
    responder = Responder.from_directory(demo.sat.ca_dir, demo.sat.status_file)
    url = stack.enter_context(server.running(responder.app(), HOST, port))
    _detail(f"OCSP responder (RFC 6960) on {url}/, as `enlace source run sat-ocsp`")
    born = demo.people[demo.citizen.curp].fecha_nacimiento
    _detail(f"demo citizen: {demo.citizen.name}, born {born}, CURP {demo.citizen.curp}")


def _start_witness(demo: Demo, stack: contextlib.ExitStack) -> None:
    """An independent witness as its own process: its own key and state, no database."""
    directory = demo.workdir / "witness"
    enlace = [sys.executable, "-m", "gateway", "witness"]
    made = subprocess.run(
        [*enlace, "init", "--dir", str(directory), "--name", WITNESS_NAME],
        capture_output=True,
        text=True,
        timeout=120,
    )
    _check(made.returncode == 0, f"enlace witness init: {made.stderr.strip()}")
    vkey = made.stdout.strip()
    log_vkey = demo.pki.checkpoint_vkey.read_text().strip()
    port = free_port(HOST)
    process = subprocess.Popen(
        [*enlace, "serve", "--dir", str(directory), "--host", HOST, "--port", str(port)]
        + ["--log", f"{log_vkey.split('+')[0]}={log_vkey}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    stack.callback(_stop, process)
    _wait_listening(port, process)
    url = f"http://{HOST}:{port}"
    demo.settings = demo.settings.model_copy(update={"witnesses": (f"{url} {vkey}",)})
    demo.trust_file = bootstrap.write_trust(demo.pki, [vkey], 1)
    _step(demo, f"An independent witness ({WITNESS_NAME}) listening on {url}")
    _detail("`enlace witness serve`: its own key and state directory, no access to the database;")
    _detail("it cosigns a checkpoint only if it extends the last one it cosigned (tlog-witness)")
    _detail(f"trust document for verifiers ({demo.trust_file.name}, docs/trust.md), 1 of 1:")
    _detail(f"  log key     {trust.fingerprint(log_vkey)}")
    _detail(f"  witness key {trust.fingerprint(vkey)}")


def _wait_listening(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 120  # a loaded machine is slow to start a process
    while True:
        with contextlib.suppress(OSError), socket.create_connection((HOST, port), 1):
            return
        _check(process.poll() is None, "enlace witness serve exited")
        _check(time.monotonic() < deadline, "enlace witness serve did not start")
        time.sleep(0.1)


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _start_gateway(demo: Demo, stack: contextlib.ExitStack, port: int | None) -> None:
    demo.url = stack.enter_context(running(demo.settings, host=HOST, port=port))
    context = ssl.create_default_context(cafile=str(demo.pki.ca_cert))
    demo.http = stack.enter_context(httpx.Client(verify=context, timeout=15))
    _step(demo, f"Gateway listening on {demo.url}")
    _detail("HTTPS with a certificate from the instance CA; citizen login by e.firma enabled")
    _detail("(SAT's CA certificates trusted, revocation asked of the OCSP responder)")


def _ask(
    client: EnlaceClient,
    service: ServiceId,
    curp: str,
    purpose: str = bootstrap.BECAS_PURPOSE,
    legal_basis: str = bootstrap.BECAS_LEGAL_BASIS,
    *,
    official: str = OFFICIAL_SEP,
    case: str = "BECA-2026-000042",
) -> Result | GatewayError:
    """One lookup by CURP: the verified answer, or the gateway's refusal."""
    try:
        return client.call(
            str(service),
            subject=curp,
            purpose=purpose,
            legal_basis=legal_basis,
            user_id=official,
            issue=case,
        )
    except GatewayError as exc:
        return exc


def _allowed(answer: Result | GatewayError) -> Result:
    if isinstance(answer, GatewayError):
        raise DemoError(f"expected an answer, got {answer.code}")
    signer = pki.member_of(answer.evidence.signer)
    _detail(f"ALLOWED: ledger entry #{answer.ledger_index}; evidence signed by {signer},")
    _detail("  verified by the SDK against the instance CA")
    return answer


def _refused(answer: Result | GatewayError) -> None:
    if not isinstance(answer, GatewayError):
        raise DemoError(f"expected a refusal, got an answer (#{answer.ledger_index})")
    _detail(f"REFUSED: {answer.code} (HTTP {answer.status}), ledger entry #{answer.ledger_index}")


def _lookups(demo: Demo) -> None:
    curp, name = demo.citizen.curp, demo.citizen.name
    _step(demo, f"{bootstrap.BECAS} looks up {name}'s CURP (request signed, RFC 9421)")
    with demo.client(bootstrap.BECAS) as sep:
        demo.local_answer = _allowed(_ask(sep, bootstrap.CURP_SERVICE, curp))
        record = demo.local_answer.data
        _detail(
            f"RENAPO says: {record['nombres']} {record['primerApellido']}, born "
            f"{record['fechaNacimiento']} in {record['entidad']},"
        )
        _detail(f"  CURP status {record['statusCurp']} ({record['descriptionStatusCurp']})")
        _step(demo, "The same office asks for a purpose it was not granted (mercadotecnia)")
        _refused(_ask(sep, bootstrap.CURP_SERVICE, curp, purpose="mercadotecnia"))
    _step(demo, f"{bootstrap.PASAPORTES}, which holds no grant, tries the same lookup")
    with demo.client(bootstrap.PASAPORTES) as sre:
        answer = _ask(
            sre,
            bootstrap.CURP_SERVICE,
            curp,
            "pasaporte-emision",
            "LPas-art-10",
            official=OFFICIAL_SRE,
            case="PAS-2026-009",
        )
        _refused(answer)


def _enrol_a_student(demo: Demo) -> None:
    """The scholarship app (services/apps/becas.py) asks RENAPO and the Registro Civil."""
    today = date.today()
    students = (
        p
        for p in demo.people.values()
        if p.estatus_curp == "AN"
        and p.madre_curp
        and p.padre_curp
        and p.documento_probatorio.tipo == 1
        and becas.MIN_AGE <= becas.age_on(p.fecha_nacimiento, today) <= becas.MAX_AGE
    )
    student = next(students, None)
    if student is None:
        raise DemoError("no student with both parents registered: try more --citizens")

    def full_name(curp: str | None) -> str | None:
        parent = demo.people.get(curp) if curp else None
        names = (parent.nombres, parent.primer_apellido, parent.segundo_apellido) if parent else ()
        return " ".join(n for n in names if n) or None

    form = becas.Form(student.curp, full_name(student.madre_curp), full_name(student.padre_curp))
    _step(demo, "The scholarship app (services/apps/becas.py) enrols a student")
    _detail(
        f"{student.nombres} {student.primer_apellido}, CURP {student.curp}, case BECA-2026-000043:"
    )
    _detail("CURP active at RENAPO, then the acta de nacimiento from the Registro Civil")
    _detail("(age 6-29, parents as named on the form)")
    with demo.client(bootstrap.BECAS) as client:
        decision = becas.enrol(
            client,
            form,
            case="BECA-2026-000043",
            official=OFFICIAL_SEP,
            evidence_dir=demo.workdir / "evidence",
            today=today,
        )
    entries = ", ".join(f"#{i}" for i in decision.ledger_entries)
    _detail(f"{decision.outcome.upper()}; ledger entries {entries}; evidence kept:")
    ca = pki.load_cert(demo.pki.ca_cert)
    for path in decision.evidence:
        signer = pki.member_of(evidence.verify(path.read_text().strip(), ca).signer)
        _detail(f"  {path.name}, signed by {signer} (`enlace evidence verify`)")


def _permits(demo: Demo) -> None:
    _step(demo, "The permits app (services/apps/permisos.py): forms signed with e.firma")
    _detail("SAT checks, through the gateway, that the e.firma is valid now (chain, OCSP)")
    _detail("and made this signature over this form (verifica-firma)")
    revoked = demo.sat.find(state="revoked")
    with demo.client(bootstrap.PERMISOS) as client:
        for number, who in enumerate((demo.citizen, revoked), start=1):
            form = {"tramite": "permiso-importacion", "curp": who.curp}
            signed = permisos.sign(
                form,
                demo.sat.cer(who).read_bytes(),
                demo.sat.key(who).read_bytes(),
                devpki.PASSWORD.encode(),
            )
            case = f"PERM-2026-{number:04d}"
            decision = permisos.review(client, signed, case=case, official=OFFICIAL_SE)
            _detail(f"{who.name} ({who.state} e.firma) signs the form with their .key:")
            _detail(
                f"  case {case}: {decision.outcome.upper()}, ledger entry #{decision.ledger_index}"
            )
            for reason in decision.reasons:
                _detail(f"  SAT: {_elide(reason, 80)}")
            if who is demo.citizen:
                _check(decision.outcome == "approved", f"{case} was {decision.outcome}")
                demo.proven_index = decision.ledger_index or -1
            else:
                _check(decision.outcome != "approved", f"{case} was approved")


def _remote_source(demo: Demo, stack: contextlib.ExitStack, citizens: int) -> None:
    _step(demo, "RENAPO as its own HTTPS service (trusted_sources/server.py), over mutual TLS")
    renapo = bootstrap.RENAPO
    cert, key = demo.pki.member(renapo.member, "tls")
    source = server.SourceServer(
        adapter_factories()["renapo"](
            {"dataset": str(seeded_dataset(bootstrap.datasets_dir(demo.settings), citizens))}
        ),
        demo.pki.load_pair(demo.pki.member(renapo.member)),
        provider=renapo,
        gateway=MemberId(demo.settings.instance, "ENLACE", "gateway"),
    )
    context = server.server_ssl_context(cert, key, demo.pki.ca_cert)
    url = stack.enter_context(server.running(source.app(), HOST, free_port(HOST), context))
    _detail(f"listening on {url}; admits only the gateway's client certificate")
    database = demo.instance.database
    registry.register_source(
        database, REMOTE_SOURCE, renapo, url=url, tls_cert_pem=cert.read_text()
    )
    registry.add_service(
        database, REMOTE_SERVICE, REMOTE_SOURCE, "consulta-curp", description="Consulta de CURP"
    )
    registry.grant(
        database,
        bootstrap.BECAS,
        REMOTE_SERVICE,
        [bootstrap.BECAS_PURPOSE],
        [bootstrap.BECAS_LEGAL_BASIS],
    )
    _detail(f"registered as source {REMOTE_SOURCE} with --url and --tls-cert {cert.name}")
    _detail("(the only server certificate the gateway accepts from it)")
    _detail(f"service {REMOTE_SERVICE}, granted to {bootstrap.BECAS}")
    _detail(f"the running gateway picked the change up in {_await_registry(demo):.1f} s")
    _detail(f"{bootstrap.BECAS} makes the first lookup again, now answered remotely:")
    with demo.client(bootstrap.BECAS) as sep:
        remote = _allowed(_ask(sep, REMOTE_SERVICE, demo.citizen.curp))
    assert demo.local_answer is not None
    same = remote.data == demo.local_answer.data
    _check(same, "the remote source answered differently from the in-process one")
    _detail("same data as RENAPO in process, same signer: only the registration differs")


def _await_registry(demo: Demo) -> float:
    """Seconds until the running gateway serves the registry version now in the database."""
    started = time.monotonic()
    with demo.instance.database.read.connect() as conn:
        wanted = registry.version(conn)
    while demo.get("/healthz").json().get("registry_version", -1) < wanted:
        _check(time.monotonic() - started < 10, "the gateway did not reload its registry")
        time.sleep(0.05)
    return time.monotonic() - started


def _ledger(demo: Demo) -> None:
    _step(demo, "The ledger: a signed receipt for every exchange, signed checkpoints, proofs")
    _detail("receipts, verified by the SDK with the gateway's checkpoint key:")
    with demo.instance.database.read.connect() as conn:
        first = min(r.index for r in demo.receipts)
        records = dict(queries.entries(conn, start=first, limit=len(demo.receipts) + 50))
    for receipt in demo.receipts:
        _detail("  " + _receipt_line(receipt, records[receipt.index]))
    _detail("(allowed: the exchange took place; the apps decided on the answers)")
    subject = records[demo.receipts[0].index]["subjects"][0]
    _detail(f"citizens appear only as pseudonyms (keyed hashes of the CURP: {_elide(subject, 8)})")

    shown = next(r for r in demo.receipts if r.index == demo.proven_index)
    _detail(f"the receipt of #{shown.index} (permit approved), as signed:")
    for line in shown.body().decode().splitlines():
        _detail(f"  {line}")
    note, head = _checkpoint_covering(demo, max(r.index for r in demo.receipts))
    _detail("the newest checkpoint (GET /v1/ledger/checkpoint), a C2SP signed note:")
    for line in note.decode().splitlines():
        _detail(f"  {_elide(line, 60)}")
    _detail("its signature: VERIFIED with the gateway's checkpoint key")
    _prove_receipt(demo, shown, head)


def _receipt_line(receipt: Receipt, entry: dict[str, Any]) -> str:
    client, service = ClientId.parse(entry["client"]), ServiceId.parse(entry["service"])
    who = f"{client.member.code}/{client.subsystem}"
    outcome = entry["outcome"] + (f" {entry['error']}" if entry.get("error") else "")
    size = receipt.tree_size
    return f"#{receipt.index:<3} {who:<15} -> {service.code:<21} {outcome:<33} tree {size}"


def _checkpoint_covering(demo: Demo, index: int) -> tuple[bytes, checkpoint.Checkpoint]:
    """The gateway's newest signed checkpoint once it covers ``index``, signature verified."""
    verifier = demo.pki.load_checkpoint_verifier()
    deadline = time.monotonic() + 10
    while True:
        response = demo.get("/v1/ledger/checkpoint")
        if response.status_code == 200:
            note = response.content
            head = checkpoint.parse_checkpoint(checkpoint.open_note(note, [verifier]).body)
            if head.size > index:
                return note, head
        _check(time.monotonic() < deadline, f"no signed checkpoint covers #{index}")
        time.sleep(0.1)


def _prove_receipt(demo: Demo, receipt: Receipt, head: checkpoint.Checkpoint) -> None:
    """What a receipt holder does later (docs/ledger.md §5), with the public proof endpoints."""
    params = {"index": receipt.index, "size": head.size}
    inclusion = demo.get("/v1/ledger/proof/inclusion", params=params).json()
    path = [b64decode(h) for h in inclusion["proof"]]
    params = {"old": receipt.tree_size, "new": head.size}
    consistency = demo.get("/v1/ledger/proof/consistency", params=params).json()
    prefix = [b64decode(h) for h in consistency["proof"]]
    try:
        merkle.verify_inclusion(receipt.leaf_hash, receipt.index, head.size, path, head.root_hash)
        merkle.verify_consistency(
            receipt.tree_size, head.size, prefix, receipt.root, head.root_hash
        )
    except merkle.ProofError as exc:
        raise DemoError(f"proof of #{receipt.index}: {exc}") from exc
    _detail(f"inclusion of #{receipt.index} in the checkpoint's tree of {head.size}")
    _detail(f"  (GET /v1/ledger/proof/inclusion, {len(path)} hashes): VERIFIED")
    _detail(f"the receipt's tree of {receipt.tree_size} is a prefix of it")
    _detail(f"  (GET /v1/ledger/proof/consistency, {len(prefix)} hashes): VERIFIED")


def _citizen_view(demo: Demo) -> None:
    who = demo.citizen
    _step(demo, f"The citizen's view: {who.name} logs in with their e.firma")
    _detail(f"as the page {demo.url}/ciudadano/ does in the browser:")
    challenge = demo.post("/v1/citizen/challenge").json()["challenge"]
    _detail(f"challenge from the gateway: {_elide(challenge, 44)}")
    key = efirma.load_key(demo.sat.key(who).read_bytes(), devpki.PASSWORD.encode())
    signature = key.sign(challenge.encode(), padding.PKCS1v15(), hashes.SHA256())
    login = demo.post(
        "/v1/citizen/login",
        json={
            "challenge": challenge,
            "certificate": b64encode(demo.sat.cer(who).read_bytes()),
            "signature": b64encode(signature),
        },
    )
    _check(login.status_code == 200, f"citizen login failed: {login.text}")
    session = login.json()
    _detail("signed with the .key (opened with its password), sent with the .cer only;")
    _detail("the gateway checked the SAT chain, OCSP status and signature:")
    _detail(f"  logged in as {session['name']}, session until {session['expires_at'][11:19]} UTC")
    auth = {"Authorization": f"Bearer {session['token']}"}

    page = demo.get("/v1/citizen/accesses", headers=auth).json()
    verifier = demo.pki.load_checkpoint_verifier()
    rows = page["entries"]
    _detail(f"their access log: {len(rows)} entries, each proven against a signed checkpoint:")
    for row in rows:
        for line in _access_lines(row, _row_proven(row, page["checkpoint"], verifier)):
            _detail(f"  {line}")

    verified = _witnessed_bundle(demo, auth)
    _check(verified.complete, "the citizen's proof bundle proves a complete list")
    _detail(f"proof bundle downloaded (enlace-pruebas.json, {len(verified.entries)} entries):")
    witnesses = ", ".join(verified.signed_by[1:])
    _detail(
        f"  the citizen sees: complete up to {verified.checkpoint.size}, witnessed by {witnesses}"
    )
    _detail(
        f"  ({len(verified.entries)} entries: the subject map in the log proves none is missing)"
    )
    _offline_check(demo)


def _witnessed_bundle(demo: Demo, auth: dict[str, str]) -> bundle.VerifiedBundle:
    """The citizen's bundle once its checkpoint (signed for this visit) is cosigned."""
    assert demo.trust_file is not None
    document = trust.TrustDocument.parse(json.loads(demo.trust_file.read_text()))
    policy = document.policy
    demo.bundle_file = demo.workdir / "enlace-pruebas.json"
    deadline = time.monotonic() + 120  # the witness cosigns in a moment; a loaded machine is slow
    while True:
        proofs = demo.get("/v1/citizen/bundle", headers=auth)
        try:
            verified = bundle.verify_bundle(
                proofs.json(), document.log, witnesses=policy.witnesses, quorum=policy.quorum
            )
        except bundle.BundleError as exc:
            if time.monotonic() > deadline:
                raise DemoError(f"the citizen's proof bundle does not verify: {exc}") from exc
            time.sleep(0.3)
            continue
        demo.bundle_file.write_bytes(proofs.content)
        return verified


def _offline_check(demo: Demo) -> None:
    """What the citizen (or anyone) runs offline: the CLI, the trust document, the bundle."""
    assert demo.bundle_file is not None and demo.trust_file is not None
    checked = subprocess.run(
        [sys.executable, "-m", "gateway", "ledger", "check-proof", str(demo.bundle_file)]
        + ["--trust", str(demo.trust_file), "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    _check(checked.returncode == 0, f"enlace ledger check-proof: {checked.stdout.strip()}")
    result = json.loads(checked.stdout)
    _detail(f"  offline: `enlace ledger check-proof {demo.bundle_file.name} --trust trust.json`")
    _detail(f"  says OK: tree {result['tree_size']}, signed by {', '.join(result['signed_by'])}")
    _check(result["complete"], "enlace ledger check-proof: the bundle is not complete")


def _row_proven(row: dict[str, Any], note: str, verifier: checkpoint.NoteVerifier) -> bool:
    """Check one row's inclusion proof as the page does: as a one-entry proof bundle."""
    proof = row.get("proof")
    if not proof:
        return False
    single = {
        "format": bundle.FORMAT,
        "checkpoint": note,
        "entries": [
            {
                "index": row["index"],
                "record": row["leaf"],
                "leaf_hash": proof["leaf_hash"],
                "inclusion_proof": proof["inclusion_proof"],
            }
        ],
    }
    try:
        bundle.verify_bundle(single, verifier)
    except bundle.BundleError:
        return False
    return True


def _access_lines(row: dict[str, Any], proven: bool) -> list[str]:
    proof = "proof verified" if proven else "proof NOT verified"
    when = f"#{row['index']} {row['at'][11:19]}"
    if row["kind"] != "exchange":
        return [f"{when} you logged in with your e.firma; {proof}"]
    agency = row["agency"]["name"] or row["agency"]["id"]
    outcome = row["outcome"] + (f" ({row['error']})" if row.get("error") else "")
    return [
        f"{when} {agency}: {row['service']['description']}",
        f"    official {row['official']}, purpose {row['purpose']}, basis {row['legal_basis']}",
        f"    case {row['case']}: {outcome}; {proof}",
    ]


def _audit(demo: Demo) -> None:
    _step(demo, "An auditor recomputes the whole ledger from storage (enlace ledger verify)")
    verifier = demo.pki.load_checkpoint_verifier()
    with demo.instance.database.read.connect() as conn, conn.begin():
        report = audit.verify(conn, verifier)
    _detail(
        f"ledger of {report.tree_size} entries: {report.entries} records, {report.nodes} nodes,"
    )
    _detail(f"  {report.checkpoints} signed checkpoints (signatures checked)")
    for finding in report.findings[:5]:
        _detail(f"  {finding.kind} #{finding.index}: {finding.detail}")
    _check(report.ok, f"ledger verify: {len(report.findings)} findings")
    _detail("ledger verify: OK (nothing modified, deleted, inserted or reordered)")


def _serve_until_interrupted(demo: Demo) -> None:
    who = demo.citizen
    _say("")
    _say("Everything keeps running. Try the citizen page in a browser:")
    _detail(f"{demo.url}/ciudadano/")
    _detail("the browser will warn: the certificate is from the demo's own CA,")
    _detail(f"  {demo.pki.ca_cert}")
    _detail(f"log in as {who.name} with")
    _detail(f"  certificate  {demo.sat.cer(who)}")
    _detail(f"  private key  {demo.sat.key(who)}")
    _detail(f"  password     {devpki.PASSWORD}")
    _detail(f"other e.firma (revoked, expired, a company's): {demo.sat.root / 'README.md'}")
    if not FORGE.exists():
        _detail(f"the page needs node-forge, missing from {FORGE.parent}:")
        _detail("  run `bash gateway/web/install.sh` once (needs Node.js and npm)")
    if demo.bundle_file is not None:
        _detail("the citizen's proof bundle, checked offline:")
        _detail(f"  enlace ledger check-proof {demo.bundle_file} \\")
        _detail(f"    --trust {demo.trust_file}")
        _detail("  or open docs/verifier.html from disk and choose both files")
    _say("Press Ctrl-C to stop.")

    def interrupt(_signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt

    previous = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        while True:
            time.sleep(1)
    except KeyboardInterrupt:
        _say("")
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
