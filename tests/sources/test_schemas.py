"""Service contracts: the catalogue in schemas/, its checks, and the OpenAPI documents served."""

from __future__ import annotations

import json
import shutil
from datetime import date
from pathlib import Path

import httpx
import jsonschema
import pytest

from gateway.devtools import bootstrap
from gateway.devtools.population import generate
from gateway.kernel import schemas
from gateway.kernel.ids import ServiceId
from gateway.kernel.protocol import headers as h
from gateway.storage import registry
from tests.sources.identity import https
from trusted_sources import dataset, registro_civil
from trusted_sources.adapters import adapter_factories
from trusted_sources.records import Person


def test_every_adapter_operation_has_a_contract():
    catalogue = schemas.catalogue()
    for name, factory in adapter_factories().items():
        adapter = factory.__self__  # from_options is a classmethod of the adapter class
        for operation in adapter.operations:
            assert catalogue.get(operation) is not None, f"{name}: {operation} has no schemas"
    assert catalogue.get("consulta-datos").discovers_subjects
    assert catalogue.get("consulta-acta").discovers_subjects
    assert not catalogue.get("consulta-curp").discovers_subjects


def test_synthetic_records_conform():
    contract = schemas.catalogue().get("consulta-curp")
    for person in generate(2000, seed=3):  # every status, document type and oddity
        contract.check_response(person.to_renapo_record())


def test_synthetic_actas_conform():
    contract = schemas.catalogue().get("consulta-acta")
    records = list(dataset.records(generate(1000, seed=3)))
    population = dataset.MemoryPopulation(records)

    def person(curp: str | None) -> Person | None:
        found = population.by_curp(curp) if curp else None
        return found.person if found else None

    actas = [r for r in records if r.acta is not None]
    assert len(actas) > 950
    for record in actas:  # founders, born abroad, deceased, corrected, ...
        p = record.person
        acta = registro_civil.acta(record, person(p.madre_curp), person(p.padre_curp), date.today())
        contract.check_response(acta)


def test_violations_give_the_path_and_never_the_value():
    contract = schemas.catalogue().get("consulta-curp")
    record = next(iter(generate(1))).to_renapo_record()
    cases = [
        ({**record, "curp": "SECRETO"}, "$.curp", "pattern"),
        ({**record, "statusCurp": "ZZ"}, "$.statusCurp", "enum"),
        ({**record, "domicilio": "CALLE SECRETA 1"}, "$.domicilio", "additionalProperties"),
        ({k: v for k, v in record.items() if k != "nombres"}, "$.nombres", "required"),
        (
            {**record, "datosDocProbatorio": {**record["datosDocProbatorio"], "libro": 7}},
            "$.datosDocProbatorio.libro",
            "type",
        ),
    ]
    for data, path, keyword in cases:
        with pytest.raises(schemas.SchemaViolation) as caught:
            contract.check_response(data)
        assert (caught.value.path, caught.value.keyword) == (path, keyword)
        assert "SECRET" not in str(caught.value)


def _copy_catalogue(tmp_path: Path) -> Path:
    target = tmp_path / "schemas"
    shutil.copytree(schemas.default_directory(), target)
    return target


def test_broken_catalogues_are_refused(tmp_path):
    directory = _copy_catalogue(tmp_path)
    (directory / "renapo" / "consulta-curp.response.json").unlink()
    with pytest.raises(schemas.CatalogueError, match="no matching .response.json"):
        schemas.load(directory)

    directory = _copy_catalogue(tmp_path / "b")
    moved = directory / "registro-civil" / "consulta-curp.request.json"
    document = json.loads((directory / "renapo" / "consulta-curp.request.json").read_text())
    moved.write_text(json.dumps(document))
    with pytest.raises(schemas.CatalogueError, match=r"\$id must be"):
        schemas.load(directory)

    document["$id"] = schemas.BASE_URI + "registro-civil/consulta-curp.request.json"
    moved.write_text(json.dumps(document))
    response = {
        "$schema": schemas.DIALECT,
        "$id": schemas.BASE_URI + "registro-civil/consulta-curp.response.json",
        "type": "object",
    }
    (directory / "registro-civil" / "consulta-curp.response.json").write_text(json.dumps(response))
    with pytest.raises(schemas.CatalogueError, match="defined in both"):
        schemas.load(directory)

    directory = _copy_catalogue(tmp_path / "c")
    path = directory / "renapo" / "consulta-datos.response.json"
    broken = json.loads(path.read_text())
    broken["properties"]["registros"]["items"]["$ref"] = "nowhere.json"
    path.write_text(json.dumps(broken))
    with pytest.raises(schemas.CatalogueError, match="unresolvable"):
        schemas.load(directory)


def test_a_service_needs_a_contract(dev):
    service = ServiceId.parse("MX/GOB/RENAPO/curp/consulta-rfc/v1")
    with pytest.raises(registry.RegistryError) as caught:
        registry.add_service(dev.database, service, "renapo", "consulta-rfc")
    assert caught.value.code == "registry.unknown_operation"


def _openapi(dev, url: str, service: str) -> httpx.Response:
    with https(dev) as http:
        return http.get(f"{url}/v1/services/{service}/openapi.json")


def test_openapi_document_of_a_service(dev, gateway_url, people):
    response = _openapi(dev, gateway_url, str(bootstrap.DATOS_SERVICE))
    assert response.status_code == 200
    document = response.json()
    assert document["openapi"] == "3.1.0" and document["info"]["version"] == "v1"
    assert document["servers"] == [{"url": gateway_url + "/r1"}]
    operation = document["paths"][f"/{bootstrap.DATOS_SERVICE}"]["post"]
    headers = {p["name"]: p for p in operation["parameters"] if p["in"] == "header"}
    assert set(h.REQUIRED_REQUEST) <= set(headers)
    subject = headers[h.SUBJECT]["schema"]
    body = operation["requestBody"]["content"]["application/json"]["schema"]
    success = operation["responses"]["200"]["content"]["application/json"]["schema"]
    data = success["properties"]["evidence"]["contentSchema"]["properties"]["data"]
    # The served schemas are self-contained and say what the gateway enforces.
    assert "$ref" not in json.dumps(document)
    person = people[5]
    jsonschema.validate(h.UNKNOWN_SUBJECT, subject)
    jsonschema.validate(person.curp, subject)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate("not-a-curp", subject)
    jsonschema.validate(
        {
            "nombres": person.nombres,
            "primerApellido": person.primer_apellido,
            "fechaNacimiento": person.fecha_nacimiento.strftime("%d/%m/%Y"),
            "sexo": person.sexo,
            "claveEntidad": person.entidad_nacimiento,
        },
        body,
    )
    jsonschema.validate({"registros": [person.to_renapo_record()]}, data)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"registros": []}, data)

    curp_doc = _openapi(dev, gateway_url, str(bootstrap.CURP_SERVICE)).json()
    get = curp_doc["paths"][f"/{bootstrap.CURP_SERVICE}"]["get"]
    assert "requestBody" not in get
    subject = next(p for p in get["parameters"] if p["name"] == h.SUBJECT)["schema"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(h.UNKNOWN_SUBJECT, subject)

    acta_doc = _openapi(dev, gateway_url, str(bootstrap.ACTA_SERVICE)).json()
    query = [
        p
        for p in acta_doc["paths"][f"/{bootstrap.ACTA_SERVICE}"]["get"]["parameters"]
        if p["in"] == "query"
    ]
    assert [(p["name"], p["required"]) for p in query] == [("identificadorElectronico", False)]


def test_openapi_of_an_unknown_service(dev, gateway_url):
    response = _openapi(dev, gateway_url, "MX/GOB/RENAPO/curp/no-such/v1")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "Client.UnknownService"


def _python_validator(schema, contract):
    return jsonschema.Draft202012Validator(
        schema,
        registry=contract.registry,
        format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER,
    )


#: Values put in place of a field: every JSON type, edge sizes, near-misses of the patterns.
_ODD_VALUES = [
    None,
    True,
    0,
    -1,
    2**70,
    1.5,
    "",
    "x",
    "ñ" * 300,
    "AAAA000000HDFXXX00",
    "2024-01-01",
    "2024-02-30",
    "01/01/2000",
    [],
    ["x"],
    {},
    {"a": 1},
]


def _mutations(record):
    yield record
    for key in record:
        yield {k: v for k, v in record.items() if k != key}
        for value in _ODD_VALUES:
            yield {**record, key: value}
        if isinstance(record[key], dict):
            for inner in _mutations(record[key]):
                yield {**record, key: inner}
    yield {**record, "extra": 1}


def test_the_compiled_validator_decides_as_jsonschema_does():
    """Differential: on valid records and thousands of near-misses, jsonschema-rs and
    jsonschema agree; where they fail, the violation is jsonschema's (same path and keyword)."""
    contract = schemas.catalogue().get("consulta-curp")
    python = _python_validator(contract.response, contract)
    checked = refused = 0
    for person in generate(40, seed=5):
        for data in _mutations(person.to_renapo_record()):
            expected = jsonschema.exceptions.best_match(python.iter_errors(data))
            try:
                contract.check_response(data)
            except schemas.SchemaViolation as exc:
                assert expected is not None, data
                assert exc.keyword == str(expected.validator)
                refused += 1
            else:
                assert expected is None, data
            checked += 1
    assert checked > 5000 and refused > checked // 2


def test_request_bodies_decide_as_jsonschema_does():
    contract = schemas.catalogue().get("consulta-datos")
    python = _python_validator(contract.request, contract)
    body = {
        "nombres": "MARÍA JOSÉ",
        "primerApellido": "O'CONNOR",
        "fechaNacimiento": "31/12/1999",
        "sexo": "M",
        "claveEntidad": "DF",
    }
    for mutated in _mutations(body):
        for query in ({}, {"q": "1"}):
            instance = {"query": query, "body": mutated}
            valid = not any(python.iter_errors(instance))
            try:
                contract.check_request(query, mutated)
            except schemas.SchemaViolation:
                assert not valid, instance
            else:
                assert valid, instance
    with pytest.raises(schemas.SchemaViolation) as caught:
        contract.check_request({}, None)
    assert (caught.value.path, caught.value.keyword) == ("$.body", "required")


def test_the_compiled_validator_is_the_stricter(tmp_path):
    """jsonschema's ``$`` matches before a final newline and it skips date-time without an
    optional package: the compiled validator refuses both, worded from its own error."""
    contract = schemas.catalogue().get("consulta-curp")
    record = next(iter(generate(1))).to_renapo_record()
    with pytest.raises(schemas.SchemaViolation) as caught:
        contract.check_response({**record, "curp": record["curp"] + "\n"})
    assert (caught.value.path, caught.value.keyword) == ("$.curp", "pattern")
    assert record["curp"] not in str(caught.value)

    (tmp_path / "t").mkdir()
    for name, schema in (
        ("op.request.json", {"type": "object"}),
        ("op.response.json", {"properties": {"at": {"type": "string", "format": "date-time"}}}),
    ):
        document = {"$schema": schemas.DIALECT, "$id": schemas.BASE_URI + "t/" + name, **schema}
        (tmp_path / "t" / name).write_text(json.dumps(document))
    timed = schemas.load(tmp_path).get("op")
    assert _python_validator(timed.response, timed).is_valid({"at": "yesterday"})
    with pytest.raises(schemas.SchemaViolation) as caught:
        timed.check_response({"at": "yesterday"})
    assert (caught.value.path, caught.value.reason) == ("$.at", "must be a valid date-time")
    timed.check_response({"at": "2026-01-15T12:00:00Z"})


def test_values_jsonschema_rs_cannot_read_are_left_to_jsonschema():
    contract = schemas.catalogue().get("consulta-curp")
    record = next(iter(generate(1))).to_renapo_record()
    with pytest.raises(schemas.SchemaViolation) as caught:
        contract.check_response({**record, "curp": b"not JSON"})
    assert (caught.value.path, caught.value.keyword) == ("$.curp", "type")
