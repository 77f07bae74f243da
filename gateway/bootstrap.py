"""A development instance in one call: PKI, schema, members, RENAPO source, a service, a grant.

Used by ``enlace demo`` and by the tests; everything goes through the same registry functions
(and so into the ledger) as an administrator's CLI commands would.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway import db as dbm
from gateway import pki, registry
from gateway.config import Settings
from gateway.ids import ClientId, ServiceId

RENAPO = ClientId.parse("MX/GOB/RENAPO/curp")
CURP_SERVICE = ServiceId.parse("MX/GOB/RENAPO/curp/consulta-curp/v1")
BECAS = ClientId.parse("MX/GOB/SEP/becas")
PASAPORTES = ClientId.parse("MX/GOB/SRE/pasaportes")
BECAS_PURPOSE = "becas-inscripcion"
BECAS_LEGAL_BASIS = "LGE-art-8"

MEMBER_NAMES = {
    RENAPO.member: "Registro Nacional de Población",
    BECAS.member: "Secretaría de Educación Pública",
    PASAPORTES.member: "Secretaría de Relaciones Exteriores",
}


@dataclass(frozen=True)
class DevInstance:
    settings: Settings
    database: dbm.Database
    pki: pki.PkiDir


def create(settings: Settings, *, citizens: int = 1000, seed: int = 0) -> DevInstance:
    folder, _ = pki.init_pki(settings.pki_dir, settings.instance, hosts=["localhost", "127.0.0.1"])
    database = dbm.open_database(settings.database_url)
    dbm.upgrade(database)
    ca = folder.load_ca().cert
    for client in (RENAPO, BECAS, PASAPORTES):
        pair = pki.ensure_member(folder, client.member, name=MEMBER_NAMES[client.member])
        registry.add_member(database, client.member, MEMBER_NAMES[client.member])
        registry.add_subsystem(database, client)
        registry.add_certificate(database, client.member, pair.cert, ca)
    registry.register_source(
        database, "renapo", RENAPO, adapter="renapo", options={"citizens": citizens, "seed": seed}
    )
    registry.add_service(
        database, CURP_SERVICE, "renapo", "consulta-curp", description="Consulta de CURP"
    )
    registry.grant(database, BECAS, CURP_SERVICE, [BECAS_PURPOSE], [BECAS_LEGAL_BASIS])
    return DevInstance(settings, database, folder)
