"""The Registro Civil's birth certificates (actas de nacimiento) as a trusted source.

Operation ``consulta-acta`` (contract in ``schemas/registro-civil/``): the acta of the CURP
named as data subject, or the acta with the ``identificadorElectronico`` given in the query
(the consumer may then send ``Enlace-Subject: unknown``). The answer is the national Formato
Único as structured data (domain.md §B): registration data, the registered person, the parents
(from the population, padre then madre), marginal notes and the certification. Whoever runs
the adapter signs the answer as the Registro Civil's evidence; the JWS is the acta's sello.

The ledger learns the CURPs of everyone whose data the acta carries: the registered person
and the parents who have a CURP.

``acta`` is a pure function of the population record, the parents and the date of issue. What
the synthetic population does not hold is derived deterministically from the CURP (oficialía,
dates of marginal notes, the parents of people born before the population's first
generation, who never had a CURP), so the same acta comes back every time on a given day.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Mapping
from typing import Any

import rfc8785

from gateway.kernel.curp import STATES, STATES_BY_INEGI
from gateway.kernel.sources import SourceAnswer, SourceFailure, SourceRequest
from trusted_sources import dataset
from trusted_sources.records import AS_OF, SEX_NAMES, Person

_MONTHS = (
    "enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto", "septiembre",
    "octubre", "noviembre", "diciembre",
)  # fmt: skip
# Invented names for the certifying officials (one per entity, by INEGI number) and for the
# parents of the population's first generation, who are not in the population themselves.
_OFFICIALS = (
    "LIC. ROSALBA MÉNDEZ ARRIAGA", "LIC. HUMBERTO SALCEDO RIVAS", "MTRA. IRENE CASTAÑÓN LUGO",
    "LIC. GILBERTO ONTIVEROS PAZ", "LIC. MARISOL TREVIÑO ACUÑA", "MTRO. JULIÁN ESQUIVEL ROA",
    "LIC. DOLORES HINOJOSA VEGA", "LIC. EFRAÍN QUEZADA MONROY",
)  # fmt: skip
_ELDER_MEN = ("AURELIO", "FILEMÓN", "CRESCENCIO", "EUSEBIO", "PORFIRIO", "ANSELMO", "LEOPOLDO")
_ELDER_WOMEN = ("PETRA", "FILOMENA", "REFUGIO", "CONCEPCIÓN", "EPIFANIA", "AMPARO", "HERLINDA")
_ELDER_SURNAMES = ("GALINDO", "OLVERA", "VILLASEÑOR", "ARELLANO", "QUINTERO", "BARRAGÁN")
# CURPs exist since 1996: a person deregistered as deceased died after receiving one.
_CURP_ERA = dt.date(1997, 1, 1)
_MEXICO_CITY = dt.timezone(dt.timedelta(hours=-6))  # no daylight saving since 2022


def _pick(curp: str, purpose: str) -> int:
    """A number derived from the CURP, independent for each purpose."""
    digest = hashlib.blake2b(f"{purpose}|{curp}".encode(), digest_size=8).digest()
    return int.from_bytes(digest)


def _day_between(first: dt.date, last: dt.date, pick: int) -> dt.date:
    return first + dt.timedelta(days=pick % max(1, (last - first).days + 1))


def _dmy(day: dt.date) -> str:
    return day.strftime("%d/%m/%Y")


def _progenitor(rol: str, person: Person) -> dict[str, Any]:
    return {
        "rol": rol,
        "nombres": person.nombres,
        "primerApellido": person.primer_apellido,
        "segundoApellido": person.segundo_apellido,
        "nacionalidad": person.nacionalidad,
        "curp": person.curp,
    }


def _elder_progenitores(person: Person) -> list[dict[str, Any]]:
    """Parents of someone whose parents are not in the population (born before it, no CURP)."""

    def elder(rol: str, names: tuple[str, ...], surname: str) -> dict[str, Any]:
        return {
            "rol": rol,
            "nombres": names[_pick(person.curp, rol) % len(names)],
            "primerApellido": surname,
            "segundoApellido": _ELDER_SURNAMES[
                _pick(person.curp, rol + "-2") % len(_ELDER_SURNAMES)
            ],
            "nacionalidad": "MEX",
            "curp": None,
        }

    if person.segundo_apellido is None:  # one surname: registered by the mother alone
        return [elder("MADRE", _ELDER_WOMEN, person.primer_apellido)]
    return [
        elder("PADRE", _ELDER_MEN, person.primer_apellido),
        elder("MADRE", _ELDER_WOMEN, person.segundo_apellido),
    ]


def _anotaciones(person: Person, registro: dataset.ActaRegistro) -> list[dict[str, Any]]:
    after_registration = registro.fecha_registro + dt.timedelta(days=1)
    last = AS_OF - dt.timedelta(days=1)
    number = _pick(person.curp, "numero") % 99_999 + 1
    if person.estatus_curp == "BD":
        day = _day_between(max(after_registration, _CURP_ERA), last, _pick(person.curp, "bd"))
        text = (
            f"Por acta de defunción número {number:05d} de fecha {_dmy(day)}, se anota el "
            "fallecimiento de la persona registrada."
        )
        return [{"tipo": "DEFUNCIÓN", "fecha": day.isoformat(), "texto": text}]
    if person.estatus_curp in ("RCC", "RCN"):
        day = _day_between(after_registration, last, _pick(person.curp, "aclaracion"))
        text = (
            f"Por resolución administrativa número {number:05d} de fecha {_dmy(day)}, se aclaran "
            "los datos de la persona registrada; esta certificación contiene los vigentes."
        )
        return [{"tipo": "ACLARACIÓN", "fecha": day.isoformat(), "texto": text}]
    return []


def verification_code(acta_without_certification: Mapping[str, Any], issued: dt.date) -> str:
    """20 digits bound to the acta's content (its RFC 8785 form) and the date of issue."""
    material = rfc8785.dumps(dict(acta_without_certification)) + issued.isoformat().encode()
    return f"{int.from_bytes(hashlib.sha256(material).digest()) % 10**20:020d}"


def acta(
    record: dataset.Record, madre: Person | None, padre: Person | None, issued: dt.date
) -> dict[str, Any]:
    """The acta de nacimiento of ``record`` as certified on ``issued`` (schema: consulta-acta)."""
    person, registro = record.person, record.acta
    doc = person.documento_probatorio
    if registro is None or doc.entidad_registro is None or doc.municipio_registro is None:
        raise ValueError("the person's CURP does not rest on an acta de nacimiento")
    entidad = STATES_BY_INEGI[doc.entidad_registro].name
    municipio = doc.municipio_registro
    birthplace = person.municipio_nacimiento
    registro_data: dict[str, Any] = {
        "claveEntidad": doc.entidad_registro,
        "entidad": entidad,
        "claveMunicipio": municipio.clave,
        "municipio": municipio.nombre,
        "oficialia": registro.oficialia,
        "fechaRegistro": registro.fecha_registro.isoformat(),
        "libro": doc.libro,
        "numeroActa": doc.num_acta,
    }
    registro_data.update((k, v) for k, v in (("tomo", doc.tomo), ("foja", doc.foja)) if v)
    progenitores = [_progenitor("PADRE", p) for p in (padre,) if p] + [
        _progenitor("MADRE", m) for m in (madre,) if m
    ]
    document: dict[str, Any] = {
        "identificadorElectronico": registro.identificador,
        "numeroCertificadoNacimiento": registro.numero_certificado,
        "registro": registro_data,
        "registrado": {
            "curp": person.curp,
            "nombres": person.nombres,
            "primerApellido": person.primer_apellido,
            "segundoApellido": person.segundo_apellido,
            "sexo": SEX_NAMES[person.sexo],
            "fechaNacimiento": person.fecha_nacimiento.isoformat(),
            "lugarNacimiento": {
                "claveEntidad": person.entidad_nacimiento,
                "entidad": STATES[person.entidad_nacimiento].name,
                "claveMunicipio": birthplace.clave if birthplace else None,
                "municipio": birthplace.nombre if birthplace else None,
            },
        },
        "progenitores": progenitores or _elder_progenitores(person),
        "anotacionesMarginales": _anotaciones(person, registro),
    }
    if doc.crip:
        document["crip"] = doc.crip
    cargo = f"Titular de la Dirección General del Registro Civil de {entidad}"
    texto = (
        f"{cargo} certifica que la presente es transcripción fiel de los datos que obran en el "
        f"acta de nacimiento con identificador electrónico {registro.identificador}, asentada "
        f"en la oficialía {registro.oficialia} de {municipio.nombre}, {entidad}. Se expide a "
        f"los {issued.day} días del mes de {_MONTHS[issued.month - 1]} de {issued.year}. "
        "Doy fe."
    )
    document["certificacion"] = {
        "texto": texto,
        "fechaExpedicion": issued.isoformat(),
        "funcionario": {
            "nombre": _OFFICIALS[int(doc.entidad_registro) % len(_OFFICIALS)],
            "cargo": cargo,
        },
        "codigoVerificacion": verification_code(document, issued),
    }
    return document


def today_in_mexico() -> dt.date:
    """The date of issue of a certification made now."""
    return dt.datetime.now(_MEXICO_CITY).date()


class RegistroCivilAdapter:
    operations = frozenset({"consulta-acta"})

    def __init__(
        self, population: dataset.Population, *, today: Callable[[], dt.date] = today_in_mexico
    ) -> None:
        self._population = population
        self._today = today

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> RegistroCivilAdapter:
        return cls(dataset.from_options(options))

    async def call(self, request: SourceRequest) -> SourceAnswer:
        if request.operation != "consulta-acta":
            raise SourceFailure("Source.InvalidQuery", f"unknown operation {request.operation}")
        identificador = request.query.get("identificadorElectronico")
        if identificador:
            record = self._population.by_identificador(identificador)
            if record is None or request.subject not in (None, record.person.curp):
                raise SourceFailure(
                    "Source.NotFound", "no acta with that identificador electrónico"
                )
        elif request.subject:
            record = self._population.by_curp(request.subject)
            if record is None or record.acta is None:
                raise SourceFailure("Source.NotFound", "no acta de nacimiento for the data subject")
        else:
            raise SourceFailure(
                "Source.InvalidQuery",
                "consulta-acta needs the CURP as data subject or identificadorElectronico",
            )
        person = record.person
        madre, padre = self._parent(person.madre_curp), self._parent(person.padre_curp)
        document = acta(record, madre, padre, self._today())
        subjects = tuple(p.curp for p in (person, padre, madre) if p is not None)
        return SourceAnswer(document, subjects)

    def _parent(self, curp: str | None) -> Person | None:
        if curp is None:
            return None
        record = self._population.by_curp(curp)
        if record is None:  # the population links every parent to a record of their own
            raise LookupError("the population has a dangling parent link")
        return record.person
