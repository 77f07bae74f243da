"""CPU cost of the per-exchange kernel steps, one at a time: µs per call, best of several rounds.

Each figure is the step as the exchange pipeline calls it, through the same public (or
per-source) object, on a CURP exchange's data:

    schema request      Contract.check_request for consulta-curp (the request half)
    schema response     Contract.check_response of a RENAPO record
    schema datos        Contract.check_request for consulta-datos (a body with six fields)
    evidence local      LocalSource.answer with an adapter that returns a record at once:
                        the evidence JWS and the key id of the in-process source
    evidence remote     RemoteSource's check of a source's reply: evidence verified, bound to
                        the exchange, the signer's key id
    evidence offline    evidence.verify(token, ca): what the SDK and the CLI do
    receipt             receipt.issue of one exchange's Enlace-Receipt

    PYTHONPATH=$PWD .venv/bin/python loadtests/kernel_bench.py [--rounds 7] [--seconds 0.3]

No network, no database: a throwaway dev PKI in a temporary directory. Prints one table.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import tempfile
import timeit
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gateway.devtools import devca
from gateway.devtools.population import generate
from gateway.kernel import pki, schemas
from gateway.kernel.ids import ClientId, MemberId, ServiceId
from gateway.kernel.ledger import checkpoint, receipt
from gateway.kernel.protocol import evidence
from gateway.kernel.protocol import source_wire as wire
from gateway.kernel.sources import SourceAnswer, SourceRequest
from gateway.server.remote import RemoteSource
from gateway.storage.registry import SourceEntry
from trusted_sources.local import LocalSource

SERVICE = ServiceId.parse("MX/GOB/RENAPO/curp/consulta-curp/v1")
CLIENT = "MX/GOB/SEP/becas"


class _Instant:
    """An adapter that answers at once, so that only the signing is measured."""

    def __init__(self, data: Any) -> None:
        self.answer = SourceAnswer(data, (str(data["curp"]),))

    async def call(self, request: SourceRequest) -> SourceAnswer:
        return self.answer


def _per_call(step: Callable[[], object], rounds: int, seconds: float) -> float:
    timer = timeit.Timer(step)
    number, _ = timer.autorange()
    number = max(1, int(number * seconds / 0.2))
    return min(timer.repeat(rounds, number)) / number * 1e6


def _remote(ca: pki.KeyPair, folder: Path) -> RemoteSource:
    tls = devca.issue_tls_cert(ca, "renapo", ["localhost"], member=MemberId.parse("MX/GOB/RENAPO"))
    gateway_tls = devca.issue_tls_cert(ca, "gateway", ["localhost"])
    paths = folder / "tls.pem", folder / "tls.key"
    devca.write_pair(gateway_tls, *paths)
    entry = SourceEntry(
        "renapo",
        ClientId.parse("MX/GOB/RENAPO/curp"),
        None,
        "https://localhost:1",
        pki.cert_pem(tls.cert),
        {},
    )
    return RemoteSource(entry, ca=ca.cert, client_cert=paths, timeout=5.0)


def steps(folder: Path) -> dict[str, Callable[[], object]]:
    ca = devca.create_ca("MX")
    signer = devca.issue_signing_cert(ca, MemberId.parse("MX/GOB/RENAPO"))
    record = next(iter(generate(1, seed=3))).to_renapo_record()
    catalogue = schemas.catalogue()
    curp, datos = catalogue.get("consulta-curp"), catalogue.get("consulta-datos")
    assert curp is not None and datos is not None
    body = {
        "nombres": record["nombres"],
        "primerApellido": record["primerApellido"],
        "fechaNacimiento": record["fechaNacimiento"],
        "sexo": "H",
        "claveEntidad": "DF",
    }
    datos.check_request({}, body)

    local = LocalSource(_Instant(record), signer)
    request = SourceRequest("consulta-curp", "GET", record["curp"])
    loop = asyncio.new_event_loop()

    def answer() -> object:
        coroutine = local.answer(SERVICE, request, exchange_id="e-1", client=CLIENT)
        return loop.run_until_complete(coroutine)

    token = answer().token  # type: ignore[attr-defined]
    reply = wire.encode_reply(token, (record["curp"],))
    remote = _remote(ca, folder)

    note_signer = checkpoint.NoteSigner.from_skey(checkpoint.generate_key("enlace.example/log")[0])
    leaf, root = hashlib.sha256(b"leaf").digest(), hashlib.sha256(b"root").digest()

    def issue_receipt() -> str:
        return receipt.issue(
            receipt.Receipt(note_signer.name, 41, leaf, "e-1", 42, root), note_signer
        )

    return {
        "schema request": lambda: curp.check_request({}, None),
        "schema response": lambda: curp.check_response(record),
        "schema datos": lambda: datos.check_request({}, body),
        "evidence local": answer,
        "evidence remote": lambda: remote._check(200, reply, SERVICE, "e-1", CLIENT),
        "evidence offline": lambda: evidence.verify(token, ca.cert),
        "receipt": issue_receipt,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--seconds", type=float, default=0.3, help="per round and step")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        measured = {
            name: _per_call(step, args.rounds, args.seconds)
            for name, step in steps(Path(tmp)).items()
        }
    print(f"{'step':<18} {'µs/call':>9}")
    for name, micros in measured.items():
        print(f"{name:<18} {micros:>9.1f}")


if __name__ == "__main__":
    main()
