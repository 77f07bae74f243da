"""A development instance in one call: PKI, schema, members, sources, services and grants.

RENAPO (CURP, by CURP and by personal data), the Registro Civil (actas de nacimiento) and SAT
(e.firma) run in process; the scholarship office (``services/apps/becas.py``) is granted the
first two. Every purpose and legal basis the demo and the tests name is registered with the
title a citizen reads, and every member with a contact route. SAT's CA certificates are
expected under ``<pki>/sat/trust`` (``enlace pki sat-init``) and its OCSP responder at
``ocsp_url`` (``enlace source run sat-ocsp``). The permits office of
``services/apps/permisos.py`` is granted SAT's services.

Used by ``enlace demo`` and by the tests; everything goes through the same registry functions
(and so into the ledger) as an administrator's CLI commands would.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from gateway.devtools import devca
from gateway.devtools.population import seeded_dataset
from gateway.devtools.sat_pki import SatDevPki
from gateway.kernel import pki
from gateway.kernel.ledger import trust
from gateway.kernel.settings import Settings
from gateway.storage import db as dbm
from gateway.storage import registry
from services.apps.catalogue import (
    ACTA_SERVICE,
    BECAS,
    BECAS_LEGAL_BASIS,
    BECAS_PURPOSE,
    CURP_SERVICE,
    DATOS_SERVICE,
    EFIRMA_SERVICE,
    FIRMA_SERVICE,
    PASAPORTES,
    PERMISOS,
    PERMISOS_LEGAL_BASIS,
    PERMISOS_PURPOSE,
    REGCIVIL,
    RENAPO,
    SAT,
)

DEV_OCSP_URL = "http://127.0.0.1:8790/"
LOCAL_HOSTS = ["localhost", "127.0.0.1"]

MEMBER_NAMES = {
    RENAPO.member: "Registro Nacional de Población",
    BECAS.member: "Secretaría de Educación Pública",
    PASAPORTES.member: "Secretaría de Relaciones Exteriores",
    REGCIVIL.member: "Registro Civil",
    SAT.member: "Servicio de Administración Tributaria",
    PERMISOS.member: "Secretaría de Economía",
}
#: Demo contact routes (placeholders: a real instance registers each agency's own).
MEMBER_CONTACTS = {
    member: f"Unidad de Transparencia · transparencia@{member.code.lower()}.ejemplo.gob.mx"
    for member in MEMBER_NAMES
}
LAWS = "https://www.diputados.gob.mx/LeyesBiblio"
#: purpose -> title
PURPOSES = {
    BECAS_PURPOSE: "Inscripción a un programa de becas",
    PERMISOS_PURPOSE: "Trámite de una solicitud de permiso",
    "pasaporte-expedicion": "Expedición de pasaporte",
    "investigacion": "Investigación de un delito",
    "mercadotecnia": "Mercadotecnia y publicidad",
}
#: legal basis -> (title, text of the law)
LEGAL_BASES = {
    BECAS_LEGAL_BASIS: ("Ley General de Educación, art. 8", f"{LAWS}/pdf/LGE.pdf"),
    PERMISOS_LEGAL_BASIS: ("Ley de Firma Electrónica Avanzada, art. 7", f"{LAWS}/pdf/LFEA.pdf"),
    "LP-art-12": (
        "Reglamento de Pasaportes y del Documento de Identidad y Viaje, art. 12",
        f"{LAWS}/regley/Reg_Pasaportes.pdf",
    ),
    "CNPP-251": ("Código Nacional de Procedimientos Penales, art. 251", f"{LAWS}/pdf/CNPP.pdf"),
}
#: Providers of trusted sources also get a TLS certificate, to run as remote sources.
SOURCE_PROVIDERS = (RENAPO, SAT, REGCIVIL)


@dataclass(frozen=True)
class DevInstance:
    settings: Settings
    database: dbm.Database
    pki: pki.PkiDir


def datasets_dir(settings: Settings) -> Path:
    """Where the dev instance keeps the population datasets it seeds: ``var/datasets`` beside
    the PKI directory."""
    return settings.pki_dir.parent / "var" / "datasets"


def create(
    settings: Settings,
    *,
    citizens: int = 1000,
    seed: int = 0,
    ocsp_url: str = DEV_OCSP_URL,
    dataset: Path | None = None,
) -> DevInstance:
    """RENAPO and the Registro Civil answer from ``dataset`` (``enlace seed``) if given, else
    from a dataset of ``citizens`` synthetic people seeded with ``seed`` beside the PKI."""
    folder, _ = devca.init_pki(
        settings.pki_dir, settings.instance, hosts=["localhost", "127.0.0.1"]
    )
    database = dbm.open_database(settings.database_url, settings)
    dbm.upgrade(database)
    ca = folder.load_ca().cert
    for client in (RENAPO, BECAS, PASAPORTES, SAT, PERMISOS, REGCIVIL):
        tls_hosts = LOCAL_HOSTS if client in SOURCE_PROVIDERS else None
        pair = devca.ensure_member(
            folder, client.member, name=MEMBER_NAMES[client.member], tls_hosts=tls_hosts
        )
        registry.add_member(
            database,
            client.member,
            MEMBER_NAMES[client.member],
            contact=MEMBER_CONTACTS[client.member],
        )
        registry.add_subsystem(database, client)
        registry.add_certificate(database, client.member, pair.cert, ca)
    for code, title in PURPOSES.items():
        registry.add_title(database, "purpose", code, title)
    for code, (title, url) in LEGAL_BASES.items():
        registry.add_title(database, "legal basis", code, title, url)
    chosen = (
        dataset.resolve() if dataset else seeded_dataset(datasets_dir(settings), citizens, seed)
    )
    population = {"dataset": str(chosen)}
    registry.register_source(database, "renapo", RENAPO, adapter="renapo", options=population)
    registry.register_source(
        database, "registro-civil", REGCIVIL, adapter="registro-civil", options=population
    )
    for service, source, operation, description, methods in (
        (CURP_SERVICE, "renapo", "consulta-curp", "Consulta de CURP", ("GET",)),
        (DATOS_SERVICE, "renapo", "consulta-datos", "Consulta de CURP por datos", ("POST",)),
        (ACTA_SERVICE, "registro-civil", "consulta-acta", "Acta de nacimiento", ("GET",)),
    ):
        registry.add_service(
            database, service, source, operation, description=description, methods=methods
        )
        registry.grant(database, BECAS, service, [BECAS_PURPOSE], [BECAS_LEGAL_BASIS])
    sat_options = {"trust_dir": str(SatDevPki(folder.root.resolve() / "sat").trust_dir)}
    registry.register_source(
        database, "sat", SAT, adapter="sat", options={**sat_options, "ocsp_url": ocsp_url}
    )
    for service, operation, description in (
        (EFIRMA_SERVICE, "valida-efirma", "Validación de e.firma (FIEL)"),
        (FIRMA_SERVICE, "verifica-firma", "Verificación de una firma hecha con e.firma"),
    ):
        registry.add_service(
            database, service, "sat", operation, description=description, methods=("POST",)
        )
        registry.grant(database, PERMISOS, service, [PERMISOS_PURPOSE], [PERMISOS_LEGAL_BASIS])
    write_trust(folder)
    return DevInstance(settings, database, folder)


def write_trust(folder: pki.PkiDir, witnesses: Sequence[str] = (), quorum: int = 0) -> Path:
    """The dev instance's trust document beside its PKI: its checkpoint key, ``witnesses``'
    cosignature keys and the quorum (the citizen page pins them; docs/trust.md)."""
    document = trust.TrustDocument(
        folder.load_checkpoint_verifier(), trust.WitnessPolicy.of(list(witnesses), quorum)
    )
    folder.trust_document.write_text(document.dumps())
    return folder.trust_document
