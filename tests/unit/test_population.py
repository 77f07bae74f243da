"""The synthetic population generator (gateway/devtools/population.py)."""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterator
from datetime import date

import pytest

from gateway.devtools import population
from gateway.devtools.population import MUNICIPIOS, generate
from gateway.kernel.curp import (
    INCONVENIENT_WORDS,
    STATES,
    STATES_BY_INEGI,
    STATUS_DESCRIPTIONS,
    build_curp,
    is_active,
    name_initials,
)
from gateway.kernel.curp import validate as validate_curp
from trusted_sources.records import AS_OF, DOCUMENT_TYPES, Person

SAMPLE = 5000


@pytest.fixture(scope="module")
def people() -> list[Person]:
    return list(generate(SAMPLE, seed=12345))


def years_between(older: date, younger: date) -> int:
    """Completed years from ``older`` to ``younger``."""
    return younger.year - older.year - ((younger.month, younger.day) < (older.month, older.day))


def test_same_seed_same_people_other_seed_other_people() -> None:
    assert list(generate(300, seed=5)) == list(generate(300, seed=5))
    assert [p.curp for p in generate(300, seed=5)] != [p.curp for p in generate(300, seed=6)]


def test_streams_lazily() -> None:
    stream = generate(10**9)
    assert isinstance(stream, Iterator)
    assert len(list(itertools.islice(stream, 5))) == 5


def test_rejects_negative_n() -> None:
    with pytest.raises(ValueError):
        generate(-1)


def test_curps_are_unique_and_valid(people: list[Person]) -> None:
    assert len(people) == SAMPLE
    assert len({p.curp for p in people}) == SAMPLE
    for p in people:
        parsed = validate_curp(p.curp)
        assert parsed.birth_date == p.fecha_nacimiento
        assert parsed.sex == p.sexo
        assert parsed.state == p.entidad_nacimiento
        # The CURP is exactly what the Instructivo rules give for the person's data.
        rebuilt = build_curp(
            p.primer_apellido,
            p.segundo_apellido,
            p.nombres,
            p.fecha_nacimiento,
            p.sexo,
            p.entidad_nacimiento,
            parsed.homoclave,
        )
        assert rebuilt == p.curp


def test_stream_is_in_birth_date_order(people: list[Person]) -> None:
    dates = [p.fecha_nacimiento for p in people]
    assert dates == sorted(dates)
    assert dates[-1] < AS_OF


def test_parents_come_earlier_with_right_sex_and_age_gap(people: list[Person]) -> None:
    index = {p.curp: (i, p) for i, p in enumerate(people)}
    with_both = 0
    for i, child in enumerate(people):
        for parent_curp, sex in ((child.madre_curp, "M"), (child.padre_curp, "H")):
            if parent_curp is None:
                continue
            j, parent = index[parent_curp]
            assert j < i
            assert parent.sexo == sex
            assert 18 <= years_between(parent.fecha_nacimiento, child.fecha_nacimiento) <= 45
        if child.madre_curp and child.padre_curp:
            with_both += 1
            mother, father = index[child.madre_curp][1], index[child.padre_curp][1]
            assert child.primer_apellido == father.primer_apellido
            assert child.segundo_apellido == mother.primer_apellido
    assert with_both > SAMPLE // 2
    # The oldest generation has no parents in the population.
    assert people[0].madre_curp is None and people[0].padre_curp is None


def test_siblings_exist(people: list[Person]) -> None:
    pairs = [(p.madre_curp, p.padre_curp) for p in people if p.madre_curp and p.padre_curp]
    assert len(set(pairs)) < len(pairs)


def test_special_cases_are_present_in_modest_shares(people: list[Person]) -> None:
    def share(predicate) -> float:
        return sum(1 for p in people if predicate(p)) / SAMPLE

    assert 0 < share(lambda p: p.sexo == "X") < 0.02
    assert 0 < share(lambda p: p.entidad_nacimiento == "NE") < 0.06
    assert (
        0 < share(lambda p: p.nacionalidad != "MEX") < share(lambda p: p.entidad_nacimiento == "NE")
    )
    assert 0 < share(lambda p: p.segundo_apellido is None) < 0.05
    inconvenient = [
        p
        for p in people
        if name_initials(p.primer_apellido, p.segundo_apellido, p.nombres) in INCONVENIENT_WORDS
    ]
    assert 0 < len(inconvenient) / SAMPLE < 0.05
    assert all(p.curp[1] == "X" for p in inconvenient)
    assert 0 < share(lambda p: p.estatus_curp == "BD") < 0.2
    assert share(lambda p: not is_active(p.estatus_curp)) > share(lambda p: p.estatus_curp == "BD")
    assert share(lambda p: p.estatus_curp == "AN") > 0.75


def test_every_person_is_well_formed(people: list[Person]) -> None:
    rfc = re.compile(r"[A-Z]{4}\d{6}[A-Z0-9]{3}")
    emails = set()
    for p in people:
        assert rfc.fullmatch(p.rfc), p.rfc
        assert p.rfc[4:10] == p.fecha_nacimiento.strftime("%y%m%d")
        assert p.email.endswith("@example.mx") and p.email.isascii()
        emails.add(p.email)
        assert p.estatus_curp in STATUS_DESCRIPTIONS
        doc = p.documento_probatorio
        assert doc.tipo in DOCUMENT_TYPES
        assert p.fecha_nacimiento.year <= doc.anio_registro < AS_OF.year
        if p.entidad_nacimiento == "NE":
            assert p.municipio_nacimiento is None
        else:
            assert p.municipio_nacimiento in MUNICIPIOS[p.entidad_nacimiento]
            assert p.nacionalidad == "MEX"
            assert doc.tipo == 1
        if doc.tipo == 1:
            assert doc.entidad_registro is not None
            assert doc.entidad_registro in STATES_BY_INEGI
            state = STATES_BY_INEGI[doc.entidad_registro].code
            assert doc.municipio_registro in MUNICIPIOS[state]
            assert doc.num_acta and doc.libro
            if doc.crip:
                assert len(doc.crip) == 15 and doc.crip.startswith(doc.entidad_registro)
    assert len(emails) == SAMPLE


def test_homonyms_get_the_next_homoclave() -> None:
    generator = population._Generator(1, seed=0)
    args = ("GARCÍA", "LÓPEZ", "ANA", date(1990, 5, 1), "M", "DF")
    built = [generator._unique_curp(*args) for _ in range(11)]
    assert [b[0][16] for b in built[:10] if b] == list("0123456789")
    assert [b[1] for b in built[:3] if b] == [False, True, True]
    assert len({b[0] for b in built[:10] if b}) == 10
    assert built[10] is None  # the generator then gives the person another name
    later = generator._unique_curp("GARCÍA", "LÓPEZ", "ANA", date(2010, 5, 1), "M", "DF")
    assert later is not None and later[0][16] == "A"


def test_status_table_and_is_active() -> None:
    assert [s for s in STATUS_DESCRIPTIONS if is_active(s)] == ["AN", "AH", "CRA", "RCN", "RCC"]
    assert not is_active("BD")
    with pytest.raises(ValueError):
        is_active("ZZ")


def test_municipality_table() -> None:
    assert set(MUNICIPIOS) == set(STATES) - {"NE"}
    for towns in MUNICIPIOS.values():
        assert len(towns) >= 4
        assert all(re.fullmatch(r"\d{3}", m.clave) for m in towns)
    assert {m.clave: m.nombre for m in MUNICIPIOS["JC"]}["039"] == "Guadalajara"


RECORD_KEYS = {
    "curp",
    "nombres",
    "primerApellido",
    "segundoApellido",
    "sexo",
    "fechaNacimiento",
    "nacionalidad",
    "entidad",
    "claveEntidad",
    "statusCurp",
    "descriptionStatusCurp",
    "docProbatorio",
    "datosDocProbatorio",
}
DOC_KEYS = {
    "anioReg",
    "claveEntidadRegistro",
    "entidadRegistro",
    "claveMunicipioRegistro",
    "municipioRegistro",
    "numActa",
    "libro",
}
OPTIONAL_DOC_KEYS = {"tomo", "foja", "crip", "folioCarta", "numRegExtranjeros"}


def test_renapo_record_shape(people: list[Person]) -> None:
    sexes = {"H": "HOMBRE", "M": "MUJER", "X": "NO BINARIO"}
    for p in people:
        record = p.to_renapo_record()
        json.dumps(record)
        assert set(record) == RECORD_KEYS
        assert record["curp"] == p.curp
        assert record["sexo"] == sexes[p.sexo]
        assert record["fechaNacimiento"] == p.fecha_nacimiento.strftime("%d/%m/%Y")
        assert record["claveEntidad"] == p.entidad_nacimiento
        assert record["descriptionStatusCurp"] == STATUS_DESCRIPTIONS[p.estatus_curp]
        assert record["docProbatorio"] == p.documento_probatorio.tipo
        datos = record["datosDocProbatorio"]
        assert DOC_KEYS <= set(datos) <= DOC_KEYS | OPTIONAL_DOC_KEYS
        assert datos["anioReg"] == str(p.documento_probatorio.anio_registro)


def test_renapo_record_example() -> None:
    person = next(p for p in generate(200, seed=1) if p.documento_probatorio.tipo == 1)
    record = person.to_renapo_record()
    doc = person.documento_probatorio
    datos = record["datosDocProbatorio"]
    assert datos["claveEntidadRegistro"] == doc.entidad_registro
    assert doc.municipio_registro is not None
    assert datos["claveMunicipioRegistro"] == doc.municipio_registro.clave
    # Catalogue names come in capitals without accents, as in RENAPO payloads.
    assert datos["entidadRegistro"].isupper() and datos["entidadRegistro"].isascii()
    assert record["entidad"] == "NACIDO EN EL EXTRANJERO" or record["entidad"].isascii()
