"""RENAPO's CURP registry as a trusted source, answering from a synthetic population.

Operation ``consulta-curp``: the record of the CURP named as the data subject, in RENAPO's JSON
shape (``trusted_sources.population``). A CURP in a "baja" status is answered with its status,
never as an active CURP; an unknown one is a clean ``Source.NotFound``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from trusted_sources.base import SourceAnswer, SourceFailure, SourceRequest
from trusted_sources.population import Person, generate


class RenapoAdapter:
    operations = frozenset({"consulta-curp"})

    def __init__(self, people: Mapping[str, Person]) -> None:
        self._people = people

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> RenapoAdapter:
        count = int(options.get("citizens", 1000))
        seed = int(options.get("seed", 0))
        return cls({p.curp: p for p in generate(count, seed=seed)})

    async def call(self, request: SourceRequest) -> SourceAnswer:
        if request.operation != "consulta-curp":
            raise SourceFailure("Source.InvalidQuery", f"unknown operation {request.operation}")
        if not request.subject:
            raise SourceFailure(
                "Source.InvalidQuery", "consulta-curp needs the CURP as data subject"
            )
        person = self._people.get(request.subject)
        if person is None:
            raise SourceFailure("Source.NotFound", "no CURP record for the data subject")
        return SourceAnswer(person.to_renapo_record(), (person.curp,))
