"""RENAPO through the real HTTPS gateway: lookup by CURP and by personal data, every error path."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.devtools import bootstrap
from gateway.kernel import curp
from gateway.kernel.protocol import headers as h
from gateway.kernel.settings import Settings
from gateway.server.run import running
from services.sdk import InvalidRequest, NotFound, ServiceUnavailable
from tests.e2e.helpers import Call, error_code, ledger_entry
from tests.sources.identity import becas, call, first, homonym, https, pseudonyms, with_homonym
from trusted_sources import dataset
from trusted_sources.records import Person


def _by_data(person: Person, **changes: str) -> dict[str, str]:
    body = {
        "nombres": person.nombres,
        "primerApellido": person.primer_apellido,
        "fechaNacimiento": person.fecha_nacimiento.strftime("%d/%m/%Y"),
        "sexo": person.sexo,
        "claveEntidad": person.entidad_nacimiento,
    }
    if person.segundo_apellido:
        body["segundoApellido"] = person.segundo_apellido
    return {**body, **changes}


def test_consulta_curp_answers_the_record(dev, gateway_url, people):
    citizen = first(people, estatus_curp="AN", documento_probatorio=lambda d: d.tipo == 1)
    with becas(dev, gateway_url) as client:
        result = call(client, bootstrap.CURP_SERVICE, citizen.curp)
    assert result.data == citizen.to_renapo_record()
    assert result.data["datosDocProbatorio"]["numActa"] == citizen.documento_probatorio.num_acta
    assert result.evidence.claims["iss"] == str(bootstrap.CURP_SERVICE)
    entry = ledger_entry(dev.database, result.ledger_index)
    assert entry["subjects"] == pseudonyms(dev, citizen.curp)


def test_baja_is_answered_as_such(dev, gateway_url, people):
    deceased = first(people, estatus_curp="BD")
    with becas(dev, gateway_url) as client:
        result = call(client, bootstrap.CURP_SERVICE, deceased.curp)
    assert result.data["statusCurp"] == "BD"
    assert result.data["descriptionStatusCurp"] == "Baja por defunción"


def test_invalid_and_unknown_curps(dev, gateway_url, people):
    valid = first(people, estatus_curp="AN").curp
    broken = valid[:17] + str((int(valid[17]) + 1) % 10)  # wrong check digit
    unknown = "RUTA030715MOCZPNA2"
    assert unknown not in {p.curp for p in people}
    with becas(dev, gateway_url) as client:
        with pytest.raises(InvalidRequest) as invalid:
            call(client, bootstrap.CURP_SERVICE, broken)
        with pytest.raises(NotFound) as missing:
            call(client, bootstrap.CURP_SERVICE, unknown)
    assert invalid.value.code == "Client.InvalidSubject"
    assert ledger_entry(dev.database, invalid.value.ledger_index)["subjects"] == []
    assert missing.value.code == "Source.NotFound"
    entry = ledger_entry(dev.database, missing.value.ledger_index)
    assert entry["outcome"] == "not_found" and entry["subjects"] == pseudonyms(dev, unknown)


def test_consulta_datos_finds_one_person_and_ledgers_them(dev, gateway_url, people):
    citizen = first(people, estatus_curp="AN", segundo_apellido=lambda s: s is not None)
    # As typed by an official: no accents, lower case.
    typed = _by_data(
        citizen,
        nombres=curp.name_key(citizen.nombres).lower(),
        primerApellido=curp.name_key(citizen.primer_apellido).lower(),
    )
    with becas(dev, gateway_url) as client:
        result = call(client, bootstrap.DATOS_SERVICE, h.UNKNOWN_SUBJECT, method="POST", body=typed)
    assert result.data == {"registros": [citizen.to_renapo_record()]}
    entry = ledger_entry(dev.database, result.ledger_index)
    assert entry["subjects"] == pseudonyms(dev, citizen.curp)
    assert entry["outcome"] == "allowed" and entry["method"] == "POST"


def test_consulta_datos_without_a_match(dev, gateway_url, people):
    citizen = first(people, estatus_curp="AN")
    other_day = "01/01/1901" if citizen.fecha_nacimiento.year != 1901 else "02/01/1901"
    other_sex = "M" if citizen.sexo != "M" else "H"
    with becas(dev, gateway_url) as client:
        for changes in ({"fechaNacimiento": other_day}, {"sexo": other_sex}):
            with pytest.raises(NotFound) as caught:
                call(
                    client,
                    bootstrap.DATOS_SERVICE,
                    h.UNKNOWN_SUBJECT,
                    method="POST",
                    body=_by_data(citizen, **changes),
                )
            entry = ledger_entry(dev.database, caught.value.ledger_index)
            assert entry["subjects"] == [] and entry["outcome"] == "not_found"


def test_consulta_datos_with_a_named_subject_only_matches_them(dev, gateway_url, people):
    citizen, stranger = people[10], people[11]
    with becas(dev, gateway_url) as client:
        result = call(
            client, bootstrap.DATOS_SERVICE, citizen.curp, method="POST", body=_by_data(citizen)
        )
        with pytest.raises(NotFound):
            call(
                client,
                bootstrap.DATOS_SERVICE,
                stranger.curp,
                method="POST",
                body=_by_data(citizen),
            )
    assert [r["curp"] for r in result.data["registros"]] == [citizen.curp]


def test_unknown_subject_is_refused_where_the_operation_does_not_discover(dev, gateway_url, people):
    with becas(dev, gateway_url) as client, pytest.raises(InvalidRequest) as caught:
        call(client, bootstrap.CURP_SERVICE, h.UNKNOWN_SUBJECT)
    assert caught.value.code == "Client.InvalidSubject"
    assert "unknown" in caught.value.message
    entry = ledger_entry(dev.database, caught.value.ledger_index)
    assert entry["outcome"] == "refused" and entry["subjects"] == []


@pytest.fixture
def homonyms(tmp_path: Path, people: list[Person]) -> Iterator[tuple[str, Person]]:
    """A gateway whose RENAPO reads a dataset file in which someone has a homonym."""
    person = first(people, estatus_curp="AN", segundo_apellido=lambda s: s is not None)
    assert homonym(person).curp not in {p.curp for p in people}
    path = tmp_path / "population.sqlite"
    dataset.write(path, with_homonym(people, person), meta={})
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'homonyms.db'}", pki_dir=tmp_path / "homonym-pki"
    )
    instance = bootstrap.create(settings, dataset=path)
    try:
        with running(settings) as url:
            yield url, instance, person
    finally:
        instance.database.dispose()


def test_consulta_datos_answers_every_homonym(homonyms):
    url, instance, person = homonyms
    twin = homonym(person)
    with becas(instance, url) as client:
        result = call(
            client, bootstrap.DATOS_SERVICE, h.UNKNOWN_SUBJECT, method="POST", body=_by_data(person)
        )
        # The dataset answers consulta-curp exactly as the in-memory population does.
        single = call(client, bootstrap.CURP_SERVICE, person.curp)
    records = result.data["registros"]
    assert [r["curp"] for r in records] == sorted([person.curp, twin.curp])
    assert {r["statusCurp"] for r in records} == {"AN", "AH"}
    assert single.data == person.to_renapo_record()
    entry = ledger_entry(instance.database, result.ledger_index)
    assert entry["subjects"] == pseudonyms(instance, person.curp, twin.curp)


def test_request_schema_violations_name_the_field(dev, gateway_url, people):
    citizen = first(people, estatus_curp="AN")
    signer = dev.pki.load_pair(dev.pki.member(bootstrap.BECAS.member))
    cases = [
        ({"fechaNacimiento": "1990-07-15"}, "$.body.fechaNacimiento: must match"),
        ({"sexo": "F"}, '$.body.sexo: must be one of "H", "M", "X"'),
        ({"apodo": "EL GÜERO"}, "$.body.apodo: is not allowed"),
    ]
    with https(dev) as http:
        for changes, message in cases:
            body = _by_data(citizen, **changes)
            request = Call(
                gateway_url,
                signer,
                service=str(bootstrap.DATOS_SERVICE),
                method="POST",
                body=json.dumps(body).encode(),
                headers={h.SUBJECT: h.UNKNOWN_SUBJECT},
            )
            response = request.sign().send(http)
            assert response.status_code == 400, response.text
            assert error_code(response) == "Client.InvalidBody"
            assert response.json()["error"]["message"].startswith(message)
            assert "GÜERO" not in response.json()["error"]["message"]  # values are not echoed
        missing = {k: v for k, v in _by_data(citizen).items() if k != "sexo"}
        request = Call(
            gateway_url,
            signer,
            service=str(bootstrap.DATOS_SERVICE),
            method="POST",
            body=json.dumps(missing).encode(),
            headers={h.SUBJECT: h.UNKNOWN_SUBJECT},
        )
        response = request.sign().send(http)
        assert response.json()["error"]["message"] == "$.body.sexo: is required"
        query = Call(gateway_url, signer, headers={h.SUBJECT: citizen.curp})
        query.service += "?nombre=X"
        response = query.sign().send(http)
        assert error_code(response) == "Client.InvalidBody"
        assert response.json()["error"]["message"] == "$.query.nombre: is not allowed"


def test_answer_violating_the_schema_is_not_sent(dev, gateway_url, people, monkeypatch):
    citizen = first(people, estatus_curp="AN")
    original = Person.to_renapo_record

    def leaky(self: Person) -> dict:
        return {**original(self), "domicilio": "CALLE FALSA 123"}

    monkeypatch.setattr(Person, "to_renapo_record", leaky)
    signer = dev.pki.load_pair(dev.pki.member(bootstrap.BECAS.member))
    with https(dev) as http:
        response = Call(gateway_url, signer, headers={h.SUBJECT: citizen.curp}).sign().send(http)
    assert response.status_code == 502
    assert error_code(response) == "Server.SourceError"
    assert response.headers[h.ERROR] == "Server.SourceError"
    for secret in ("CALLE", citizen.curp, citizen.primer_apellido, "evidence", "domicilio"):
        assert secret not in response.text
    entry = ledger_entry(dev.database, int(response.headers[h.LEDGER_INDEX]))
    assert entry["outcome"] == "failed" and entry["error"] == "Server.SourceError"
    with becas(dev, gateway_url) as client, pytest.raises(ServiceUnavailable):
        call(client, bootstrap.CURP_SERVICE, citizen.curp)
