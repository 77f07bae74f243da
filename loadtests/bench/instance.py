"""The dev instance a run measures, made in a temporary directory and thrown away after.

A PKI, a SQLite database and the dev registry (``gateway.devtools.bootstrap``), SAT's dev PKI
for the e.firma case, RENAPO registered a second time as a remote source (for the mTLS case),
and second instances for the gateways of other cases: a fresh database on the local PostgreSQL
server (dropped at the end), or a second SQLite file for the two-worker gateway.
"""

from __future__ import annotations

import base64
import contextlib
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from gateway.devtools import bootstrap
from gateway.devtools import sat_pki as devpki
from gateway.devtools.population import generate, seeded_dataset
from gateway.kernel import pki
from gateway.kernel.settings import Settings
from gateway.storage import db as dbm
from gateway.storage import registry
from loadtests.bench.scenarios import REMOTE_SERVICE, REMOTE_SOURCE, Subjects
from services.apps import catalogue

DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/postgres"


@dataclass(frozen=True)
class Instance:
    settings: Settings
    dataset: Path
    subjects: Subjects

    @property
    def pki_dir(self) -> Path:
        return self.settings.pki_dir


def create(work: Path, *, citizens: int, ocsp_url: str) -> Instance:
    """PKI, SQLite registry and SAT's dev PKI under ``work``; the subjects the cases use."""
    settings = Settings(database_url=f"sqlite:///{work / 'enlace.db'}", pki_dir=work / "certs")
    dev = bootstrap.create(settings, citizens=citizens, ocsp_url=ocsp_url)
    dev.database.dispose()
    sat = devpki.create(settings.pki_dir / "sat", citizens=citizens, count=4, revoked=1, expired=1)
    holder = sat.find(state="valid")
    people = list(generate(citizens))
    subjects = Subjects(
        curps=tuple(p.curp for p in people if p.estatus_curp == "AN"),
        actas=tuple(
            p.curp for p in people if p.estatus_curp == "AN" and p.documento_probatorio.tipo == 1
        ),
        efirma_curp=holder.curp,
        efirma_certificate=base64.b64encode(sat.cer(holder).read_bytes()).decode(),
    )
    dataset = seeded_dataset(bootstrap.datasets_dir(settings), citizens)  # bootstrap's own
    return Instance(settings, dataset, subjects)


def register_remote(instance: Instance, url: str) -> None:
    """RENAPO as a remote source at ``url`` (its member TLS certificate pinned), granted."""
    database = dbm.open_database(instance.settings.database_url)
    try:
        cert, _ = pki.PkiDir(instance.pki_dir).member(catalogue.RENAPO.member, "tls")
        registry.register_source(
            database, REMOTE_SOURCE, catalogue.RENAPO, url=url, tls_cert_pem=cert.read_text()
        )
        registry.add_service(
            database, REMOTE_SERVICE, REMOTE_SOURCE, "consulta-curp", description="bench"
        )
        registry.grant(
            database,
            catalogue.BECAS,
            REMOTE_SERVICE,
            [catalogue.BECAS_PURPOSE],
            [catalogue.BECAS_LEGAL_BASIS],
        )
    finally:
        database.dispose()


def second(instance: Instance, work: Path, name: str, database_url: str) -> Settings:
    """Another gateway's instance on ``database_url``: a copy of the PKI (each ledger keeps its
    own checkpoint state there) and the dev registry in that database."""
    pki_dir = work / name / "certs"
    shutil.copytree(instance.pki_dir, pki_dir)
    # Not the first gateway's last signed head: this ledger is another one.
    pki.PkiDir(pki_dir).checkpoint_last.unlink(missing_ok=True)
    settings = Settings(database_url=database_url, pki_dir=pki_dir)
    bootstrap.create(settings, dataset=instance.dataset).database.dispose()
    return settings


@contextlib.contextmanager
def postgres(
    instance: Instance, work: Path, server_url: str = DEFAULT_PG, *, name: str = "pg"
) -> Iterator[Settings]:
    """A fresh database on ``server_url``'s server with the dev registry (its PKI copy in
    ``work/name``); dropped on exit."""
    database = f"enlace_bench_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(dbm.normalise_url(server_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{database}"'))
    try:
        url = sa.engine.make_url(server_url).set(database=database).render_as_string(False)
        yield second(instance, work, name, url)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
        admin.dispose()
