"""Service contracts: the JSON Schemas of every operation's request and response.

This module owns the ``schemas/`` catalogue: loading and checking it once (validators are built
once per process), validating a request before it reaches a source and a source's answer before
it leaves the gateway, and describing a service to consumers as an OpenAPI 3.1 document.

Validation is decided by jsonschema-rs, each schema compiled once when the catalogue loads
(a few µs per instance, where the Python ``jsonschema`` library takes hundreds). Only after a
failure is ``jsonschema`` asked to word it (its ``best_match`` picks the most relevant error).
The compiled validator is the stricter of the two: it checks ``date-time`` (jsonschema does only
with an optional package) and its ``$`` does not match before a final newline (Python's ``re``
does). Where jsonschema finds nothing wrong, the violation is worded from the compiled
validator's own error.

Layout, relative to the catalogue directory (``schemas/`` at the top of the repository, or
``ENLACE_SCHEMA_DIR``)::

    <family>/<operation>.request.json    a contract: the request as {"query": {...}, "body": ...}
    <family>/<operation>.response.json   and the ``data`` the source answers
    <family>/<other>.json, common/*.json shared definitions, reached with relative ``$ref``

Every file is Draft 2020-12 and carries ``$id`` = ``BASE_URI`` + its path. Operation names are
unique across families: a service names its operation, and that alone selects its contract.
A request schema may declare ``"x-enlace-discovers-subjects": true``: the operation finds out
who its data subjects are (lookup by personal data), so the consumer may send
``Enlace-Subject: unknown`` and the ledger records the subjects of the answer instead.

Violations carry the JSON path of the offending field and a reason that never quotes the
offending value, so that they are safe to return to the caller and to log.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jsonschema_rs
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError, ValidationError, best_match
from referencing import Registry
from referencing.exceptions import Unresolvable
from referencing.jsonschema import DRAFT202012

from gateway.kernel.errors import CodedError
from gateway.kernel.ids import ServiceId
from gateway.kernel.protocol import headers as h
from gateway.kernel.settings import Settings

if TYPE_CHECKING:
    from referencing._core import Resolver  # referencing exports the class only from _core

BASE_URI = "https://enlace.example/schemas/"
DIALECT = "https://json-schema.org/draft/2020-12/schema"
DISCOVERS_SUBJECTS = "x-enlace-discovers-subjects"
_REQUEST, _RESPONSE = ".request.json", ".response.json"
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_MAX_REASON = 300
_MAX_DEPTH = 32


class CatalogueError(CodedError):
    """The schema catalogue is broken (unreadable file, bad schema, missing half of a pair)."""

    def __init__(self, message: str) -> None:
        super().__init__("schemas.invalid", message)


class SchemaViolation(Exception):
    """An instance does not conform: ``path`` is a JSON path, ``reason`` quotes no values."""

    def __init__(self, path: str, keyword: str, reason: str) -> None:
        self.path = path
        self.keyword = keyword
        self.reason = reason
        super().__init__(f"{path}: {reason}"[:_MAX_REASON])


def default_directory() -> Path:
    """``ENLACE_SCHEMA_DIR``, or ``schemas/`` next to the installed (editable) packages."""
    return Settings.from_env().schema_dir


def _child(path: str, name: str) -> str:
    name = name[:64]
    return f"{path}.{name}" if _IDENTIFIER.fullmatch(name) else f"{path}[{json.dumps(name)}]"


def _bound(kind: str, unit: str) -> Any:
    return lambda v: f"must have {kind} {v} {unit}"


_REASONS: dict[str, Any] = {
    "type": lambda v: "must be of type " + (v if isinstance(v, str) else " or ".join(v)),
    "enum": lambda v: "must be one of " + ", ".join(json.dumps(x, ensure_ascii=False) for x in v),
    "const": lambda v: "must be " + json.dumps(v, ensure_ascii=False),
    "pattern": lambda v: f"must match {v}",
    "format": lambda v: f"must be a valid {v}",
    "minLength": _bound("at least", "characters"),
    "maxLength": _bound("at most", "characters"),
    "minItems": _bound("at least", "items"),
    "maxItems": _bound("at most", "items"),
    "minProperties": _bound("at least", "properties"),
    "maxProperties": _bound("at most", "properties"),
    "minimum": lambda v: f"must be at least {v}",
    "maximum": lambda v: f"must be at most {v}",
}


def _violation(error: ValidationError) -> SchemaViolation:
    keyword = str(error.validator)
    value, instance = error.validator_value, error.instance
    if keyword == "required" and isinstance(instance, dict):
        missing = next(name for name in value if name not in instance)
        return SchemaViolation(_child(error.json_path, missing), keyword, "is required")
    if keyword == "additionalProperties" and isinstance(instance, dict):
        schema = error.schema if isinstance(error.schema, dict) else {}
        known = schema.get("properties", {})
        patterns = [re.compile(p) for p in schema.get("patternProperties", {})]
        extra = sorted(
            k for k in instance if k not in known and not any(p.search(k) for p in patterns)
        )
        return SchemaViolation(_child(error.json_path, extra[0]), keyword, "is not allowed")
    describe = _REASONS.get(keyword)
    reason = describe(value) if describe else f"does not satisfy {keyword}"
    return SchemaViolation(error.json_path, keyword, reason)


def _json_path(segments: Sequence[str | int]) -> str:
    path = "$"
    for segment in segments:
        path = f"{path}[{segment}]" if isinstance(segment, int) else _child(path, segment)
    return path


def _compiled_violation(error: jsonschema_rs.ValidationError) -> SchemaViolation:
    """A violation worded from jsonschema-rs's error (its message quotes the value: unused)."""
    keyword = error.kind.name
    value = error.kind.as_dict().get(keyword)
    describe = _REASONS.get(keyword)
    reason = describe(value) if describe and value is not None else f"does not satisfy {keyword}"
    return SchemaViolation(_json_path(error.instance_path), keyword, reason)


@dataclass(frozen=True)
class _Validator:
    """One schema: compiled (jsonschema-rs) to decide, ``jsonschema`` to word a failure."""

    compiled: jsonschema_rs.Draft202012Validator
    wording: Draft202012Validator

    def first_violation(self, instance: Any) -> SchemaViolation | None:
        try:
            if self.compiled.is_valid(instance):
                return None
        except ValueError:  # not a JSON value (an adapter's own types): jsonschema decides
            error = best_match(self.wording.iter_errors(instance))
            return None if error is None else _violation(error)
        error = best_match(self.wording.iter_errors(instance))
        if error is not None:
            return _violation(error)
        return _compiled_violation(next(iter(self.compiled.iter_errors(instance))))


def _validator(
    schema: dict[str, Any], registry: Registry, compiled: jsonschema_rs.Registry
) -> _Validator:
    try:
        decider = jsonschema_rs.Draft202012Validator(
            schema, registry=compiled, validate_formats=True, offline=True
        )
    except (ValueError, jsonschema_rs.ReferencingError) as exc:
        raise CatalogueError(f"{schema['$id']}: does not compile: {exc}") from exc
    return _Validator(
        decider,
        Draft202012Validator(
            schema, registry=registry, format_checker=Draft202012Validator.FORMAT_CHECKER
        ),
    )


@dataclass(frozen=True)
class Contract:
    """One operation's request and response schemas, with their validators built once."""

    operation: str
    family: str
    request: Mapping[str, Any]
    response: Mapping[str, Any]
    discovers_subjects: bool
    registry: Registry
    _request_validator: _Validator
    _response_validator: _Validator

    def check_request(self, query: Mapping[str, str], body: Any) -> None:
        """Raise ``SchemaViolation`` unless ``{"query": query, "body": body}`` conforms.

        A request without a body has no ``body`` member at all, so that a schema can both
        require a body and forbid one.
        """
        instance: dict[str, Any] = {"query": dict(query)}
        if body is not None:
            instance["body"] = body
        violation = self._request_validator.first_violation(instance)
        if violation is not None:
            raise violation

    def check_response(self, data: Any) -> None:
        """Raise ``SchemaViolation`` unless the source's answer data conforms."""
        violation = self._response_validator.first_violation(data)
        if violation is not None:
            raise violation

    def inlined(self, which: str) -> dict[str, Any]:
        """The request or response schema as one self-contained document (refs inlined)."""
        schema = self.request if which == "request" else self.response
        inlined = _inline(dict(schema), self.registry.resolver(str(schema["$id"])), 0)
        return {"$schema": DIALECT, **inlined}


def _inline(node: Any, resolver: Resolver, depth: int) -> Any:
    if depth > _MAX_DEPTH:
        raise CatalogueError("schema references nest too deeply (a cycle?)")
    if isinstance(node, list):
        return [_inline(item, resolver, depth) for item in node]
    if not isinstance(node, dict):
        return node
    if "$id" in node:
        resolver = resolver.in_subresource(DRAFT202012.create_resource(node))
    out = {
        key: _inline(value, resolver, depth)
        for key, value in node.items()
        if key not in ("$id", "$schema", "$defs", "$ref")
    }
    if "$ref" not in node:
        return out
    try:
        resolved = resolver.lookup(node["$ref"])
    except Unresolvable as exc:
        raise CatalogueError(f"unresolvable $ref {node['$ref']!r}") from exc
    target = _inline(resolved.contents, resolved.resolver, depth + 1)
    # In 2020-12 a $ref next to other keywords applies both, like allOf.
    return {"allOf": [target], **out} if out else target


@dataclass(frozen=True)
class Catalogue:
    directory: Path
    contracts: Mapping[str, Contract]

    def get(self, operation: str) -> Contract | None:
        return self.contracts.get(operation)


def _read(path: Path, directory: Path) -> dict[str, Any]:
    relative = path.relative_to(directory).as_posix()
    try:
        schema = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CatalogueError(f"{relative}: not readable JSON ({exc})") from exc
    if not isinstance(schema, dict) or schema.get("$id") != BASE_URI + relative:
        raise CatalogueError(f"{relative}: $id must be {BASE_URI + relative}")
    if schema.get("$schema") != DIALECT:
        raise CatalogueError(f"{relative}: $schema must be {DIALECT}")
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        raise CatalogueError(f"{relative}: not a valid schema: {exc.message}") from exc
    if not isinstance(schema.get(DISCOVERS_SUBJECTS, False), bool):
        raise CatalogueError(f"{relative}: {DISCOVERS_SUBJECTS} must be true or false")
    return schema


def _pairs(files: Iterable[Path], directory: Path) -> Iterator[tuple[str, str, Path, Path]]:
    names = {f.relative_to(directory).as_posix() for f in files}
    for name in sorted(names):
        if name.endswith(_RESPONSE) and name[: -len(_RESPONSE)] + _REQUEST not in names:
            raise CatalogueError(f"{name} has no matching {_REQUEST} file")
        if not name.endswith(_REQUEST):
            continue
        stem = name[: -len(_REQUEST)]
        if stem + _RESPONSE not in names:
            raise CatalogueError(f"{name} has no matching {_RESPONSE} file")
        family, _, operation = stem.rpartition("/")
        yield family, operation, directory / name, directory / (stem + _RESPONSE)


def load(directory: Path | None = None) -> Catalogue:
    """Read, check and compile every schema under ``directory``."""
    directory = (directory or default_directory()).resolve()
    if not directory.is_dir():
        raise CatalogueError(f"schema directory {directory} does not exist (ENLACE_SCHEMA_DIR)")
    files = sorted(directory.rglob("*.json"))
    documents = {path: _read(path, directory) for path in files}
    registry: Registry = Registry().with_resources(
        (doc["$id"], DRAFT202012.create_resource(doc)) for doc in documents.values()
    )
    for doc in documents.values():  # every $ref must resolve: now, and said so, not later
        _inline(doc, registry.resolver(str(doc["$id"])), 0)
    try:
        compiled = jsonschema_rs.Registry([(doc["$id"], doc) for doc in documents.values()])
    except (ValueError, jsonschema_rs.ReferencingError) as exc:
        raise CatalogueError(f"the catalogue does not compile: {exc}") from exc
    contracts: dict[str, Contract] = {}
    for family, operation, request_path, response_path in _pairs(files, directory):
        if operation in contracts:
            raise CatalogueError(
                f"operation {operation} is defined in both {contracts[operation].family} "
                f"and {family}"
            )
        request, response = documents[request_path], documents[response_path]
        contracts[operation] = Contract(
            operation=operation,
            family=family,
            request=request,
            response=response,
            discovers_subjects=request.get(DISCOVERS_SUBJECTS, False),
            registry=registry,
            _request_validator=_validator(request, registry, compiled),
            _response_validator=_validator(response, registry, compiled),
        )
    return Catalogue(directory, contracts)


@lru_cache(maxsize=2)
def catalogue(directory: Path | None = None) -> Catalogue:
    """The process-wide catalogue from ``directory`` (default: ``default_directory()``),
    loaded once."""
    return load(directory)


# --- OpenAPI ---------------------------------------------------------------------------------

_CURP_SCHEMA_REF = {"$ref": BASE_URI + "common/mx.json#/$defs/curp"}


def _header(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": name,
        "in": "header",
        "required": True,
        "description": description,
        "schema": schema,
    }


def _request_headers(contract: Contract) -> list[dict[str, Any]]:
    resolver = contract.registry.resolver(BASE_URI)
    curp = _inline(_CURP_SCHEMA_REF, resolver, 0)
    if contract.discovers_subjects:
        subject = _header(
            h.SUBJECT,
            "The data subject's CURP, or the literal `unknown` when the consumer does not know "
            "it: the ledger then records the CURPs in the answer.",
            {"anyOf": [curp, {"const": h.UNKNOWN_SUBJECT}]},
        )
    else:
        subject = _header(h.SUBJECT, "The data subject's CURP.", curp)
    text = {"type": "string", "maxLength": 256}
    described = {
        h.CLIENT: "Calling subsystem, INSTANCE/CLASS/MEMBER/SUBSYSTEM.",
        h.ID: "Unique exchange id chosen by the client (1-128 of A-Z a-z 0-9 . _ : -).",
        h.USER_ID: "The official acting, as known to the client's organisation.",
        h.ISSUE: "Case number (expediente) the request belongs to.",
        h.PURPOSE: "Purpose code; must be granted to the client for this service.",
        h.LEGAL_BASIS: "Legal basis code; must be granted to the client for this service.",
    }
    params = [
        subject if name == h.SUBJECT else _header(name, described[name], text)
        for name in h.REQUIRED_REQUEST
    ]
    params += [
        _header(h.SIGNATURE_INPUT, "RFC 9421 signature parameters (docs/protocol.md).", text),
        _header(h.SIGNATURE, "RFC 9421 signature by the client's registered key.", text),
        _header(h.CONTENT_DIGEST, "RFC 9530 sha-256 digest of the body, also when empty.", text),
    ]
    return params


def openapi(
    contract: Contract,
    *,
    service: str,
    description: str,
    methods: Iterable[str],
    server: str,
) -> dict[str, Any]:
    """An OpenAPI 3.1 document for one service: its signed request and its evidence."""
    request = contract.inlined("request")
    properties = request.get("properties", {})
    query = properties.get("query", {})
    body = properties.get("body")
    parameters = _request_headers(contract)
    parameters += [
        {
            "name": name,
            "in": "query",
            "required": name in query.get("required", []),
            "schema": schema,
        }
        for name, schema in query.get("properties", {}).items()
    ]
    claims = {
        "type": "object",
        "properties": {
            "iss": {"const": service},
            "iat": {"type": "integer"},
            "exchange_id": {"type": "string"},
            "client": {"type": "string"},
            "data": contract.inlined("response"),
        },
        "required": ["iss", "iat", "exchange_id", "client", "data"],
    }
    success = {
        "type": "object",
        "properties": {
            "exchange_id": {"type": "string"},
            "service": {"const": service},
            "evidence": {
                "type": "string",
                "description": "Compact JWS (RFC 7515, ES256, x5c) signed by the provider; its "
                "payload is the RFC 8785 form of the claims in contentSchema.",
                "contentMediaType": "application/jose",
                "contentSchema": claims,
            },
        },
        "required": ["exchange_id", "service", "evidence"],
    }
    failure = {
        "type": "object",
        "properties": {
            "error": {
                "type": "object",
                "properties": {
                    "code": {"type": "string"},
                    "message": {"type": "string"},
                    "exchange_id": {"type": "string"},
                },
                "required": ["code", "message"],
            }
        },
        "required": ["error"],
    }
    operations: dict[str, Any] = {}
    for method in sorted(methods):
        operation: dict[str, Any] = {
            "operationId": f"{contract.operation}-{method.lower()}",
            "summary": description or request.get("title", contract.operation),
            "description": request.get("description", ""),
            "parameters": parameters,
            "responses": {
                "200": {
                    "description": "The provider's signed answer, recorded in the ledger.",
                    "headers": {h.LEDGER_INDEX: {"schema": {"type": "integer"}}},
                    "content": {"application/json": {"schema": success}},
                },
                "default": {
                    "description": "Refused or failed; the code is in X-Road-Error too.",
                    "content": {"application/json": {"schema": failure}},
                },
            },
            "x-enlace-operation": contract.operation,
        }
        if body is not None:
            operation["requestBody"] = {
                "required": "body" in request.get("required", []),
                "content": {"application/json": {"schema": body}},
            }
        operations[method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "jsonSchemaDialect": DIALECT,
        "info": {"title": service, "version": ServiceId.parse(service).version or "unversioned"},
        "servers": [{"url": server.rstrip("/") + "/r1"}],
        "paths": {f"/{service}": operations},
    }
