"""The people the registries hold: RENAPO's record of a person, the document their CURP rests on.

Plain data shared by the RENAPO and Registro Civil adapters and their datasets. Where the people
come from (a dataset file written by ``enlace seed``; the synthetic generator is dev tooling in
``gateway.devtools.population``) is not this module's concern.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from gateway.kernel.curp import STATES, STATES_BY_INEGI, STATUS_DESCRIPTIONS, catalogue_text

#: The population is as of this date: nobody is born after it, ages are counted to it.
AS_OF = date(2026, 1, 1)

#: RENAPO ``docProbatorio`` codes (IMSS enum, domain.md A.6).
DOCUMENT_TYPES: dict[int, str] = {
    1: "Acta de nacimiento",
    3: "Documento migratorio",
    4: "Carta de naturalización",
    5: "Número único de extranjero",
    7: "Certificado de nacionalidad mexicana",
    8: "Oficio solicitante de refugiado",
    9: "Forma migratoria turista",
}


@dataclass(frozen=True, slots=True)
class Municipio:
    """A municipality (or CDMX alcaldía): INEGI three-digit code within its entity, and name."""

    clave: str
    nombre: str


@dataclass(frozen=True, slots=True)
class DocumentoProbatorio:
    """The document a CURP was issued on; acta fields are None for other document types."""

    tipo: int
    anio_registro: int
    entidad_registro: str | None = None  # INEGI entity number
    municipio_registro: Municipio | None = None
    num_acta: str | None = None
    libro: str | None = None
    tomo: str | None = None
    foja: str | None = None
    crip: str | None = None
    folio_carta: str | None = None
    num_reg_extranjeros: str | None = None


@dataclass(frozen=True, slots=True)
class Person:
    """One synthetic resident, with what RENAPO and the Registro Civil would hold about them."""

    curp: str
    nombres: str
    primer_apellido: str
    segundo_apellido: str | None
    sexo: str  # H, M or X
    fecha_nacimiento: date
    entidad_nacimiento: str  # CURP entity code, NE when born abroad
    municipio_nacimiento: Municipio | None  # None when born abroad
    nacionalidad: str  # ISO 3166 alpha-3, MEX for Mexicans
    estatus_curp: str
    documento_probatorio: DocumentoProbatorio
    madre_curp: str | None
    padre_curp: str | None
    rfc: str
    email: str

    def to_renapo_record(self) -> dict[str, Any]:
        """The person as RENAPO's JSON CURP lookup returns it (domain.md A.6)."""
        doc = self.documento_probatorio
        entidad = STATES_BY_INEGI[doc.entidad_registro] if doc.entidad_registro else None
        municipio = doc.municipio_registro
        datos: dict[str, Any] = {
            "anioReg": str(doc.anio_registro),
            "claveEntidadRegistro": doc.entidad_registro,
            "entidadRegistro": catalogue_text(entidad.name) if entidad else None,
            "claveMunicipioRegistro": municipio.clave if municipio else None,
            "municipioRegistro": catalogue_text(municipio.nombre) if municipio else None,
            "numActa": doc.num_acta,
            "libro": doc.libro,
        }
        optional = {
            "tomo": doc.tomo,
            "foja": doc.foja,
            "crip": doc.crip,
            "folioCarta": doc.folio_carta,
            "numRegExtranjeros": doc.num_reg_extranjeros,
        }
        datos.update((k, v) for k, v in optional.items() if v is not None)
        return {
            "curp": self.curp,
            "nombres": self.nombres,
            "primerApellido": self.primer_apellido,
            "segundoApellido": self.segundo_apellido,
            "sexo": SEX_NAMES[self.sexo],
            "fechaNacimiento": self.fecha_nacimiento.strftime("%d/%m/%Y"),
            "nacionalidad": self.nacionalidad,
            "entidad": catalogue_text(STATES[self.entidad_nacimiento].name),
            "claveEntidad": self.entidad_nacimiento,
            "statusCurp": self.estatus_curp,
            "descriptionStatusCurp": STATUS_DESCRIPTIONS[self.estatus_curp],
            "docProbatorio": doc.tipo,
            "datosDocProbatorio": datos,
        }


#: How RENAPO and the acta spell the sex codes.
SEX_NAMES = {"H": "HOMBRE", "M": "MUJER", "X": "NO BINARIO"}
