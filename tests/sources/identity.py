"""Shared pieces of the RENAPO and Registro Civil tests: calls as the scholarship office."""

from __future__ import annotations

import dataclasses
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from gateway.devtools import bootstrap
from gateway.kernel.curp import check_digit
from gateway.kernel.ledger.record import pseudonym
from services.sdk import EnlaceClient, Result
from trusted_sources.records import Person

CALL = {
    "purpose": bootstrap.BECAS_PURPOSE,
    "legal_basis": bootstrap.BECAS_LEGAL_BASIS,
    "user_id": "MX-SEP-000123",
    "issue": "BECA-2026-000042",
}


def becas(dev: bootstrap.DevInstance, url: str) -> EnlaceClient:
    return EnlaceClient.from_pki(url, str(bootstrap.BECAS), dev.pki.root)


def call(client: EnlaceClient, service: Any, subject: str, **kwargs: Any) -> Result:
    return client.call(str(service), subject=subject, **CALL, **kwargs)


def https(dev: bootstrap.DevInstance) -> httpx.Client:
    return httpx.Client(verify=ssl.create_default_context(cafile=str(dev.pki.ca_cert)))


def pseudonyms(dev: bootstrap.DevInstance, *curps: str) -> list[str]:
    secret = dev.pki.pseudonym_key.read_bytes()
    return sorted(pseudonym(secret, c) for c in curps)


def first(people: list[Person], **conditions: Any) -> Person:
    """The first person whose attributes equal ``conditions`` (callables are predicates)."""

    def matches(p: Person) -> bool:
        return all(
            v(getattr(p, k)) if callable(v) else getattr(p, k) == v for k, v in conditions.items()
        )

    return next(p for p in people if matches(p))


def homonym(person: Person) -> Person:
    """Someone with the very same names, birth date, sex and state: RENAPO's AH case, whose
    CURP differs only in the homoclave (the next one) and so in the check digit."""
    alphabet = "0123456789" if person.fecha_nacimiento.year < 2000 else "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    first17 = person.curp[:16] + alphabet[alphabet.index(person.curp[16]) + 1]
    return dataclasses.replace(
        person,
        curp=first17 + check_digit(first17),
        estatus_curp="AH",
        madre_curp=None,
        padre_curp=None,
        email="homonimo@example.mx",
    )


def with_homonym(people: list[Person], person: Person) -> Iterator[Person]:
    """The population with a homonym of ``person`` right after them (stream order kept)."""
    for p in people:
        yield p
        if p == person:
            yield homonym(person)


def write_json(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path
