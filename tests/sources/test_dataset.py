"""The population dataset: ``enlace seed`` writes it, the sources read back the same people."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from datetime import date

import pytest
from typer.testing import CliRunner

from gateway.cli.main import app as enlace_app
from gateway.devtools.population import generate
from trusted_sources import dataset
from trusted_sources.records import AS_OF

N, SEED = 600, 7


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory):
    path = tmp_path_factory.mktemp("seed") / "population.sqlite"
    result = CliRunner().invoke(
        enlace_app, ["seed", "--citizens", str(N), "--seed", str(SEED), "--out", str(path)]
    )
    assert result.exit_code == 0, result.output
    assert f"{N} people written to {path}" in result.output
    population = dataset.DatasetPopulation(path)
    yield path, population
    population.close()


def test_dataset_round_trips_the_population(seeded):
    path, population = seeded
    expected = list(dataset.records(generate(N, seed=SEED)))
    assert population.meta["format"] == dataset.FORMAT
    assert (population.meta["citizens"], population.meta["seed"]) == (str(N), str(SEED))
    assert not path.with_name(path.name + ".partial").exists()
    memory = dataset.MemoryPopulation(expected)
    for record in expected:
        person = record.person
        assert population.by_curp(person.curp) == record == memory.by_curp(person.curp)
        if record.acta is not None:
            assert population.by_identificador(record.acta.identificador) == record
        homonyms = population.by_birth_and_name(
            person.fecha_nacimiento, person.primer_apellido, person.nombres
        )
        assert record in homonyms
        assert sorted(r.person.curp for r in homonyms) == sorted(
            r.person.curp
            for r in memory.by_birth_and_name(
                person.fecha_nacimiento, person.primer_apellido, person.nombres
            )
        )
    assert population.by_curp("RUTA030715MOCZPNA2") is None
    assert population.by_identificador("0" * 20) is None


def test_recent_curps_are_answered_from_memory_within_the_bound(seeded):
    path, _ = seeded
    population = dataset.DatasetPopulation(path, curp_cache=2)
    with closing(sqlite3.connect(path)) as conn:
        first, second, third = (c for (c,) in conn.execute("SELECT curp FROM people LIMIT 3"))
    try:
        fresh = population.by_curp(first)
        assert fresh is not None and fresh.person.curp == first
        assert population.by_curp(first) is fresh  # the same record, not read again
        population.by_curp(second)
        population.by_curp(third)  # the bound is 2: the least recently asked goes
        info = population.by_curp.cache_info()
        assert (info.hits, info.misses, info.currsize) == (1, 3, 2)
        again = population.by_curp(first)
        assert again == fresh and again is not fresh  # read from the file again, equal
        assert population.by_curp("RUTA030715MOCZPNA2") is None
    finally:
        population.close()


def test_parents_are_links_to_people_of_the_dataset(seeded):
    _, population = seeded
    records = list(dataset.records(generate(N, seed=SEED)))
    linked = [r.person for r in records if r.person.madre_curp or r.person.padre_curp]
    assert linked, "the sample has no families"
    for child in linked:
        for parent_curp, sexo in ((child.madre_curp, "M"), (child.padre_curp, "H")):
            if parent_curp:
                parent = population.by_curp(parent_curp)
                assert parent is not None and parent.person.sexo == sexo
                assert parent.person.fecha_nacimiento < child.fecha_nacimiento


def test_acta_registrations(seeded):
    path, _ = seeded
    records = list(dataset.records(generate(N, seed=SEED)))
    actas = [(r.person, r.acta) for r in records if r.acta is not None]
    assert len(actas) == sum(r.person.documento_probatorio.tipo == 1 for r in records)
    identifiers = [a.identificador for _, a in actas]
    assert len(set(identifiers)) == len(identifiers)
    for person, acta in actas:
        doc = person.documento_probatorio
        assert acta.identificador.isdigit() and len(acta.identificador) == 20
        assert acta.identificador[:5] == doc.entidad_registro + doc.municipio_registro.clave
        assert acta.identificador[5:9] == acta.oficialia
        assert acta.fecha_registro.year == doc.anio_registro
        assert person.fecha_nacimiento <= acta.fecha_registro < AS_OF
        assert (acta.numero_certificado is not None) == (person.fecha_nacimiento.year >= 2008)
    with sqlite3.connect(path) as conn:
        indexes = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
        plan = conn.execute(
            "EXPLAIN QUERY PLAN SELECT * FROM people WHERE fecha_nacimiento = ? AND busqueda = ?",
            (date(2000, 1, 1).isoformat(), "X|Y"),
        ).fetchall()
    assert {"people_by_curp", "people_by_birth_and_name", "actas_by_identificador"} <= indexes
    assert "people_by_birth_and_name" in str(plan)


def test_unusable_dataset_files(tmp_path):
    with pytest.raises(dataset.DatasetError) as missing:
        dataset.from_options({"dataset": str(tmp_path / "nowhere.sqlite")})
    assert missing.value.code == "dataset.missing"
    other = tmp_path / "other.sqlite"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE t (x)")
    with pytest.raises(dataset.DatasetError) as wrong:
        dataset.DatasetPopulation(other)
    assert wrong.value.code == "dataset.format"


def test_an_interrupted_seed_leaves_no_file(tmp_path):
    def failing():
        yield from generate(50)
        raise KeyboardInterrupt

    path = tmp_path / "population.sqlite"
    with pytest.raises(KeyboardInterrupt):
        dataset.write(path, failing(), meta={}, batch=20)
    assert list(tmp_path.iterdir()) == []
