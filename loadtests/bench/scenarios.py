"""The cases a run measures: what each sends, to which server, and the status it expects.

Exchange cases replay distinct pre-signed requests (``pool.Template``); the two baselines
replay a small fixed pool in a cycle, since neither refuses a repeated request:

- ``bare``: a bare Starlette app under the gateway's uvicorn/TLS settings, returning the bytes
  (body and headers) of a real CURP answer (``bare_app``); ``bare-2w`` the same with two
  workers, pinned as ``workers`` is (what a second process gains on this machine);
- ``source``: RENAPO's own HTTPS service answering its wire call (``source_direct``).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from gateway.kernel.ids import ServiceId
from gateway.kernel.protocol import source_wire
from gateway.kernel.sources import SourceRequest
from loadtests.bench.pool import Template
from services.apps import catalogue

REMOTE_SOURCE = "renapo-bench-remoto"
REMOTE_SERVICE = ServiceId.parse(f"{catalogue.RENAPO}/consulta-curp-remota/v1")

#: Servers a case may target; the measured one runs pinned to CPU 1 (one of several workers:
#: to every CPU).
GATEWAY, GATEWAY_PG, GATEWAY_2W = "gateway", "gateway-pg", "gateway-2w"
BARE, BARE_2W, SOURCE = "bare", "bare-2w", "source"


@dataclass(frozen=True)
class Case:
    name: str
    title: str
    server: str
    connections: int
    expected: int
    template: Template | None = None  # None: a baseline's fixed pool, replayed in a cycle
    #: A paced case: this fraction of another case's throughput in the same run (its name).
    load_of: tuple[str, float] | None = None

    @property
    def ledgered(self) -> bool:
        return self.server in (GATEWAY, GATEWAY_PG, GATEWAY_2W)


@dataclass(frozen=True)
class Subjects:
    """Data subjects the cases may ask about, from the dev instance's population."""

    curps: tuple[str, ...]  # active CURPs (RENAPO answers)
    actas: tuple[str, ...]  # CURPs resting on an acta (the Registro Civil answers)
    efirma_curp: str  # holder of a valid e.firma
    efirma_certificate: str  # its certificate, base64 DER


BASELINES = ("bare", "source")
#: Every case, in the order the table lists them.
ALL = (
    "bare",
    "bare-2w",
    "source",
    "curp",
    "remote",
    "acta",
    "efirma",
    "refused-signature",
    "refused-grant",
    "postgres",
    "source-1c",
    "curp-1c",
    "curp-half",
    "workers",
)


def _curp(service: ServiceId, subjects: tuple[str, ...], **changes: object) -> Template:
    values: dict[str, object] = {
        "client": catalogue.BECAS,
        "path": f"/r1/{service}",
        "purpose": catalogue.BECAS_PURPOSE,
        "legal_basis": catalogue.BECAS_LEGAL_BASIS,
        "subjects": subjects,
    }
    values.update(changes)
    return Template(**values)  # type: ignore[arg-type]


def cases(subjects: Subjects, connections: int) -> dict[str, Case]:
    """Every case by name; ``connections`` for the loaded ones (the ``-1c`` ones use one)."""
    curp = _curp(catalogue.CURP_SERVICE, subjects.curps)
    efirma = Template(
        client=catalogue.PERMISOS,
        path=f"/r1/{catalogue.EFIRMA_SERVICE}",
        purpose=catalogue.PERMISOS_PURPOSE,
        legal_basis=catalogue.PERMISOS_LEGAL_BASIS,
        subjects=(subjects.efirma_curp,),
        method="POST",
        body={"certificado": subjects.efirma_certificate},
    )
    c = connections
    listed = [
        Case("bare", "bare Starlette, same bytes (a)", BARE, c, 200),
        Case("bare-2w", "bare Starlette, 2 workers", BARE_2W, c, 200),
        Case("source", "RENAPO service direct (b)", SOURCE, c, 200),
        Case("curp", "CURP, in process, SQLite", GATEWAY, c, 200, curp),
        Case("remote", "CURP, remote source (mTLS)", GATEWAY, c, 200,
             _curp(REMOTE_SERVICE, subjects.curps)),
        Case("acta", "acta de nacimiento", GATEWAY, c, 200,
             _curp(catalogue.ACTA_SERVICE, subjects.actas)),
        Case("efirma", "e.firma validation + OCSP", GATEWAY, c, 200, efirma),
        Case("refused-signature", "refused: bad signature", GATEWAY, c, 401,
             _curp(catalogue.CURP_SERVICE, subjects.curps, corrupt_signature=True)),
        Case("refused-grant", "refused: no grant", GATEWAY, c, 403,
             _curp(catalogue.CURP_SERVICE, subjects.curps, client=catalogue.PASAPORTES,
                   purpose="pasaporte-emision", legal_basis="LPas-art-10")),
        Case("postgres", "CURP, in process, PostgreSQL", GATEWAY_PG, c, 200, curp),
        Case("source-1c", "RENAPO service direct, 1 conn", SOURCE, 1, 200),
        Case("curp-1c", "CURP, SQLite, 1 conn", GATEWAY, 1, 200, curp),
        Case("curp-half", "CURP, SQLite, half load", GATEWAY, c, 200, curp,
             load_of=("curp", 0.5)),
        Case("workers", "CURP, PostgreSQL, 2 workers", GATEWAY_2W, c, 200, curp),
    ]  # fmt: skip
    return {case.name: case for case in listed}


def source_calls(curps: tuple[str, ...], count: int = 64) -> list[bytes]:
    """Wire calls RENAPO's service answers (``/v1/call`` bodies), for the ``source`` baseline."""
    return [
        source_wire.encode_call(
            catalogue.CURP_SERVICE,
            SourceRequest("consulta-curp", "GET", curps[n % len(curps)]),
            exchange_id=str(uuid.uuid4()),
            client=str(catalogue.BECAS),
        )
        for n in range(count)
    ]


def post(path: str, authority: str, body: bytes) -> bytes:
    """A raw HTTP/1.1 POST of a JSON body."""
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {authority}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def get(path: str, authority: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: {authority}\r\n\r\n".encode()
