"""RENAPO's CURP registry as a trusted source, answering from a synthetic population.

Operations (contracts in ``schemas/renapo/``):

* ``consulta-curp``: the record of the CURP named as the data subject, in RENAPO's JSON shape
  (``gateway.devtools.population``). A CURP in a "baja" status is answered with its status and
  description, never as an active CURP; an unknown one is a clean ``Source.NotFound``.
* ``consulta-datos``: every record matching personal data (names, birth date, sex, birth
  entity), for a consumer who does not know the CURP; it discovers its subjects, so every CURP
  in the answer is reported for the ledger. Names compare without case or accents; homonyms
  (status AH) make several matches possible; none is ``Source.NotFound``. If the consumer does
  name a subject, only that CURP can match.

The population comes from the source option ``dataset=PATH`` (a file ``enlace seed`` writes).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from gateway.kernel import curp
from gateway.kernel.sources import SourceAnswer, SourceFailure, SourceRequest
from trusted_sources import dataset
from trusted_sources.records import Person


class RenapoAdapter:
    operations = frozenset({"consulta-curp", "consulta-datos"})

    def __init__(self, population: dataset.Population) -> None:
        self._population = population

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> RenapoAdapter:
        return cls(dataset.from_options(options))

    async def call(self, request: SourceRequest) -> SourceAnswer:
        if request.operation == "consulta-curp":
            return self._by_curp(request.subject)
        if request.operation == "consulta-datos":
            return self._by_data(request.body, request.subject)
        raise SourceFailure("Source.InvalidQuery", f"unknown operation {request.operation}")

    def _by_curp(self, subject: str | None) -> SourceAnswer:
        if not subject:
            raise SourceFailure(
                "Source.InvalidQuery", "consulta-curp needs the CURP as data subject"
            )
        record = self._population.by_curp(subject)
        if record is None:
            raise SourceFailure("Source.NotFound", "no CURP record for the data subject")
        return SourceAnswer(record.person.to_renapo_record(), (subject,))

    def _by_data(self, body: Any, subject: str | None) -> SourceAnswer:
        query = _DataQuery.parse(body)
        candidates = self._population.by_birth_and_name(
            query.fecha_nacimiento, query.primer_apellido, query.nombres
        )
        matches = sorted(
            (r.person for r in candidates if query.matches(r.person, subject)),
            key=lambda p: p.curp,
        )
        if not matches:
            raise SourceFailure("Source.NotFound", "no CURP record matches the data")
        return SourceAnswer(
            {"registros": [p.to_renapo_record() for p in matches]},
            tuple(p.curp for p in matches),
        )


@dataclass(frozen=True)
class _DataQuery:
    """A consulta-datos body; names are compared as ``curp.name_key`` spells them."""

    nombres: str
    primer_apellido: str
    segundo_apellido: str | None
    fecha_nacimiento: date
    sexo: str
    clave_entidad: str

    @classmethod
    def parse(cls, body: Any) -> _DataQuery:
        try:
            second = body.get("segundoApellido")
            return cls(
                nombres=str(body["nombres"]),
                primer_apellido=str(body["primerApellido"]),
                segundo_apellido=None if second is None else curp.name_key(second),
                fecha_nacimiento=datetime.strptime(body["fechaNacimiento"], "%d/%m/%Y").date(),
                sexo=str(body["sexo"]),
                clave_entidad=str(body["claveEntidad"]),
            )
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            raise SourceFailure(
                "Source.InvalidQuery",
                "consulta-datos needs nombres, primerApellido, fechaNacimiento (dd/mm/yyyy), "
                "sexo and claveEntidad",
            ) from exc

    def matches(self, person: Person, subject: str | None) -> bool:
        """The rest of the query (the population matched birth date and names already)."""
        return (
            person.sexo == self.sexo
            and person.entidad_nacimiento == self.clave_entidad
            and (
                self.segundo_apellido is None
                or curp.name_key(person.segundo_apellido or "") == self.segundo_apellido
            )
            and subject in (None, person.curp)
        )
