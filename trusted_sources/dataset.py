"""The population as the registries hold it: in memory, or in a seeded SQLite file.

Owns three things:

* the acta registration keys the Registro Civil keeps beyond what RENAPO holds (identificador
  electrónico, oficialía, fecha de registro, certificado de nacimiento), derived from the
  population stream deterministically and in stream order, so that a population built in
  memory and the same population written by ``enlace seed`` agree record for record;
* the dataset file (``FORMAT``): one SQLite file with ``people`` (RENAPO's fields, the
  documento probatorio, the parents' CURPs as links to other people, RFC and e-mail for the
  SAT source), ``actas`` (the registration keys) and ``meta``; indexed by CURP, by
  identificador electrónico and by birth date + name;
* lookups by CURP, by identificador electrónico and by name + birth date, over either; a
  dataset file keeps the records of the most recently asked CURPs in memory (``CURP_CACHE``):
  the file is read-only, and a re-seeded file is opened afresh (``from_options``).

Writing streams: memory stays flat whatever the population size (the generator keeps bounded
state, registrations keep about sixteen years of counters, rows go out in batches).
"""

from __future__ import annotations

import hashlib
import itertools
import os
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

from gateway.kernel.curp import name_key
from gateway.kernel.errors import CodedError
from trusted_sources.records import AS_OF, DocumentoProbatorio, Municipio, Person

FORMAT = "enlace-population/1"
_OFICIALIAS = 4  # civil registry offices per municipality
_CERTIFICATE_SINCE = 2008  # the health sector's certificado de nacimiento, nationally
#: Records by CURP a dataset file keeps in memory (least recently asked out first): a query
#: and a row decoded cost ~45 µs a lookup, a hit ~1 µs; a record takes ~2 KB, so ~130 MB at most.
CURP_CACHE = 65_536


class DatasetError(CodedError):
    """A dataset file is missing or not in this module's format; ``code`` is stable."""


@dataclass(frozen=True, slots=True)
class ActaRegistro:
    """What the Registro Civil stores about a birth registration beyond RENAPO's fields."""

    identificador: str
    oficialia: str
    fecha_registro: date
    numero_certificado: str | None


@dataclass(frozen=True, slots=True)
class Record:
    """A person and, when their CURP rests on an acta de nacimiento, its registration."""

    person: Person
    acta: ActaRegistro | None


@lru_cache(maxsize=8192)
def search_key(primer_apellido: str, nombres: str) -> str:
    return f"{name_key(primer_apellido)}|{name_key(nombres)}"


class Registrations:
    """Assigns acta registration keys to a population stream, in order.

    The identificador electrónico is INEGI entidad (2) + municipio (3) + oficialía (4) + año
    de registro (4) + a running number (7) within that office and year: unique by
    construction. Nobody is registered before being born and the stream is in birth-date
    order, so the counters of years before the current birth year are closed and dropped.
    """

    def __init__(self) -> None:
        self._counters: dict[int, dict[str, int]] = {}
        self._open_from = 0

    def __call__(self, person: Person) -> ActaRegistro | None:
        doc = person.documento_probatorio
        if doc.tipo != 1 or doc.entidad_registro is None or doc.municipio_registro is None:
            return None
        born = person.fecha_nacimiento
        if born.year > self._open_from:
            self._open_from = born.year
            for year in [y for y in self._counters if y < born.year]:
                del self._counters[year]
        digest = int.from_bytes(hashlib.blake2b(person.curp.encode(), digest_size=16).digest())
        oficialia = f"{1 + digest % _OFICIALIAS:04d}"
        office = f"{doc.entidad_registro}{doc.municipio_registro.clave}{oficialia}"
        counters = self._counters.setdefault(doc.anio_registro, {})
        number = counters.get(office, 0) + 1
        counters[office] = number
        return ActaRegistro(
            identificador=f"{office}{doc.anio_registro}{number:07d}",
            oficialia=oficialia,
            fecha_registro=_registration_day(born, doc.anio_registro, digest >> 32),
            numero_certificado=(
                f"{(digest >> 64) % 10**9:09d}" if born.year >= _CERTIFICATE_SINCE else None
            ),
        )


def _registration_day(born: date, year: int, pick: int) -> date:
    # Most births are registered within weeks; late registrations fall anywhere in their year.
    first = born if year == born.year else date(year, 1, 1)
    last = min(date(year, 12, 31), AS_OF - timedelta(days=1))
    window = min((last - first).days + 1, 60 if year == born.year else 366)
    return first + timedelta(days=pick % window)


def records(people: Iterable[Person]) -> Iterator[Record]:
    """The population stream with each person's acta registration (None without an acta)."""
    register = Registrations()
    for person in people:
        yield Record(person, register(person))


class Population(Protocol):
    """Read access to a population, whatever holds it."""

    def by_curp(self, curp: str) -> Record | None: ...

    def by_identificador(self, identificador: str) -> Record | None: ...

    def by_birth_and_name(
        self, fecha_nacimiento: date, primer_apellido: str, nombres: str
    ) -> list[Record]: ...


class MemoryPopulation:
    """A population held in dictionaries: the fallback when no dataset file is configured."""

    def __init__(self, stream: Iterable[Record]) -> None:
        self._by_curp: dict[str, Record] = {}
        self._by_identificador: dict[str, str] = {}
        self._by_search: dict[tuple[date, str], list[str]] = {}
        for record in stream:
            person = record.person
            self._by_curp[person.curp] = record
            if record.acta is not None:
                self._by_identificador[record.acta.identificador] = person.curp
            key = (person.fecha_nacimiento, search_key(person.primer_apellido, person.nombres))
            self._by_search.setdefault(key, []).append(person.curp)

    def by_curp(self, curp: str) -> Record | None:
        return self._by_curp.get(curp)

    def by_identificador(self, identificador: str) -> Record | None:
        curp = self._by_identificador.get(identificador)
        return None if curp is None else self._by_curp[curp]

    def by_birth_and_name(
        self, fecha_nacimiento: date, primer_apellido: str, nombres: str
    ) -> list[Record]:
        curps = self._by_search.get((fecha_nacimiento, search_key(primer_apellido, nombres)), [])
        return [self._by_curp[c] for c in curps]


# --- the dataset file ------------------------------------------------------------------------

# The people table, column by column in insert order. Parents are links to other rows of people
# (NULL when not registered); busqueda is the name part of the birth date + name index.
_PEOPLE_COLUMNS = (
    ("curp", "TEXT NOT NULL"), ("nombres", "TEXT NOT NULL"),
    ("primer_apellido", "TEXT NOT NULL"), ("segundo_apellido", "TEXT"), ("sexo", "TEXT NOT NULL"),
    ("fecha_nacimiento", "TEXT NOT NULL"), ("entidad_nacimiento", "TEXT NOT NULL"),
    ("municipio_nacimiento", "TEXT"), ("municipio_nacimiento_nombre", "TEXT"),
    ("nacionalidad", "TEXT NOT NULL"), ("estatus_curp", "TEXT NOT NULL"),
    ("doc_tipo", "INTEGER NOT NULL"), ("doc_anio_registro", "INTEGER NOT NULL"),
    ("doc_entidad_registro", "TEXT"), ("doc_municipio_registro", "TEXT"),
    ("doc_municipio_registro_nombre", "TEXT"), ("doc_num_acta", "TEXT"), ("doc_libro", "TEXT"),
    ("doc_tomo", "TEXT"), ("doc_foja", "TEXT"), ("doc_crip", "TEXT"), ("doc_folio_carta", "TEXT"),
    ("doc_num_reg_extranjeros", "TEXT"), ("madre_curp", "TEXT"), ("padre_curp", "TEXT"),
    ("rfc", "TEXT NOT NULL"), ("email", "TEXT NOT NULL"), ("busqueda", "TEXT NOT NULL"),
)  # fmt: skip
_ACTA_COLUMNS = (
    ("identificador", "TEXT NOT NULL"), ("curp", "TEXT NOT NULL"), ("oficialia", "TEXT NOT NULL"),
    ("fecha_registro", "TEXT NOT NULL"), ("numero_certificado", "TEXT"),
)  # fmt: skip


def _table(name: str, columns: tuple[tuple[str, str], ...]) -> str:
    return f"CREATE TABLE {name} ({', '.join(f'{c} {kind}' for c, kind in columns)})"


def _insert(name: str, columns: tuple[tuple[str, str], ...]) -> str:
    return f"INSERT INTO {name} VALUES ({', '.join('?' * len(columns))})"


_SCHEMA = (
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    _table("people", _PEOPLE_COLUMNS),
    _table("actas", _ACTA_COLUMNS),
)
# Built after the rows are in: sorting once is much faster than growing B-trees row by row.
_INDEXES = (
    "CREATE UNIQUE INDEX people_by_curp ON people (curp)",
    "CREATE INDEX people_by_birth_and_name ON people (fecha_nacimiento, busqueda)",
    "CREATE UNIQUE INDEX actas_by_identificador ON actas (identificador)",
    "CREATE UNIQUE INDEX actas_by_curp ON actas (curp)",
)


def _municipio(value: Municipio | None) -> tuple[str | None, str | None]:
    return (value.clave, value.nombre) if value else (None, None)


def _person_row(p: Person) -> tuple[Any, ...]:
    d = p.documento_probatorio
    return (
        p.curp, p.nombres, p.primer_apellido, p.segundo_apellido, p.sexo,
        p.fecha_nacimiento.isoformat(), p.entidad_nacimiento, *_municipio(p.municipio_nacimiento),
        p.nacionalidad, p.estatus_curp, d.tipo, d.anio_registro, d.entidad_registro,
        *_municipio(d.municipio_registro), d.num_acta, d.libro, d.tomo, d.foja, d.crip,
        d.folio_carta, d.num_reg_extranjeros, p.madre_curp, p.padre_curp, p.rfc, p.email,
        search_key(p.primer_apellido, p.nombres),
    )  # fmt: skip


def _acta_row(curp: str, a: ActaRegistro) -> tuple[Any, ...]:
    return (a.identificador, curp, a.oficialia, a.fecha_registro.isoformat(), a.numero_certificado)


def _optional_municipio(clave: str | None, nombre: str | None) -> Municipio | None:
    return Municipio(clave, nombre) if clave is not None and nombre is not None else None


def _record(row: sqlite3.Row) -> Record:
    person = Person(
        curp=row["curp"],
        nombres=row["nombres"],
        primer_apellido=row["primer_apellido"],
        segundo_apellido=row["segundo_apellido"],
        sexo=row["sexo"],
        fecha_nacimiento=date.fromisoformat(row["fecha_nacimiento"]),
        entidad_nacimiento=row["entidad_nacimiento"],
        municipio_nacimiento=_optional_municipio(
            row["municipio_nacimiento"], row["municipio_nacimiento_nombre"]
        ),
        nacionalidad=row["nacionalidad"],
        estatus_curp=row["estatus_curp"],
        documento_probatorio=DocumentoProbatorio(
            tipo=row["doc_tipo"],
            anio_registro=row["doc_anio_registro"],
            entidad_registro=row["doc_entidad_registro"],
            municipio_registro=_optional_municipio(
                row["doc_municipio_registro"], row["doc_municipio_registro_nombre"]
            ),
            num_acta=row["doc_num_acta"],
            libro=row["doc_libro"],
            tomo=row["doc_tomo"],
            foja=row["doc_foja"],
            crip=row["doc_crip"],
            folio_carta=row["doc_folio_carta"],
            num_reg_extranjeros=row["doc_num_reg_extranjeros"],
        ),
        madre_curp=row["madre_curp"],
        padre_curp=row["padre_curp"],
        rfc=row["rfc"],
        email=row["email"],
    )
    acta = None
    if row["identificador"] is not None:
        acta = ActaRegistro(
            identificador=row["identificador"],
            oficialia=row["oficialia"],
            fecha_registro=date.fromisoformat(row["fecha_registro"]),
            numero_certificado=row["numero_certificado"],
        )
    return Record(person, acta)


def write(
    path: Path,
    people: Iterable[Person],
    *,
    meta: Mapping[str, str],
    progress: Callable[[int], None] | None = None,
    batch: int = 10_000,
) -> int:
    """Write ``people`` (with their acta registrations) to a new dataset file; return the count.

    The file appears under ``path`` only when complete: it is built next to it and renamed,
    and the partial file is removed if writing fails or is interrupted.
    ``progress`` is called with the number of people written after each batch.
    """
    partial = path.with_name(path.name + ".partial")
    partial.unlink(missing_ok=True)
    conn = sqlite3.connect(partial)
    try:
        # A file being built needs no crash safety: it is renamed into place only when done.
        conn.execute("PRAGMA journal_mode=OFF")
        conn.execute("PRAGMA synchronous=OFF")
        conn.execute("PRAGMA cache_size=-65536")  # 64 MiB: enough for sorting the indexes
        for statement in _SCHEMA:
            conn.execute(statement)
        insert_person = _insert("people", _PEOPLE_COLUMNS)
        insert_acta = _insert("actas", _ACTA_COLUMNS)
        total = 0
        stream = records(people)
        while chunk := list(itertools.islice(stream, batch)):
            conn.executemany(insert_person, [_person_row(r.person) for r in chunk])
            conn.executemany(
                insert_acta, [_acta_row(r.person.curp, r.acta) for r in chunk if r.acta]
            )
            total += len(chunk)
            if progress:
                progress(len(chunk))
        for statement in _INDEXES:
            conn.execute(statement)
        conn.executemany(
            "INSERT INTO meta VALUES (?, ?)",
            sorted({**meta, "format": FORMAT, "citizens": str(total)}.items()),
        )
        conn.commit()
    except BaseException:  # interrupted or failed: leave no half-built file behind
        conn.close()
        partial.unlink(missing_ok=True)
        raise
    conn.close()
    os.replace(partial, path)
    return total


_SELECT = (
    "SELECT people.*, actas.identificador, actas.oficialia, actas.fecha_registro,"
    " actas.numero_certificado FROM people LEFT JOIN actas ON actas.curp = people.curp"
)


class DatasetPopulation:
    """A population read from a dataset file (read-only; safe to share between adapters)."""

    def __init__(self, path: Path, curp_cache: int = CURP_CACHE) -> None:
        if not path.is_file():
            raise DatasetError("dataset.missing", f"no dataset file at {path}")
        self.path = path
        self._conn = sqlite3.connect(
            f"{path.resolve().as_uri()}?mode=ro", uri=True, check_same_thread=False
        )
        self._conn.row_factory = sqlite3.Row
        try:
            self.meta = dict(self._conn.execute("SELECT key, value FROM meta").fetchall())
        except sqlite3.DatabaseError as exc:
            self._conn.close()
            raise DatasetError("dataset.format", f"{path} is not an Enlace dataset") from exc
        if self.meta.get("format") != FORMAT:
            self._conn.close()
            raise DatasetError(
                "dataset.format", f"{path} has format {self.meta.get('format')}, not {FORMAT}"
            )
        # Records are frozen and the file is opened read-only: a cached answer stays true.
        self.by_curp = lru_cache(maxsize=curp_cache)(self._read_curp)

    def close(self) -> None:
        self._conn.close()

    def _one(self, where: str, *args: Any) -> Record | None:
        row = self._conn.execute(f"{_SELECT} WHERE {where}", args).fetchone()
        return None if row is None else _record(row)

    def _read_curp(self, curp: str) -> Record | None:
        return self._one("people.curp = ?", curp)

    def by_identificador(self, identificador: str) -> Record | None:
        return self._one("actas.identificador = ?", identificador)

    def by_birth_and_name(
        self, fecha_nacimiento: date, primer_apellido: str, nombres: str
    ) -> list[Record]:
        rows = self._conn.execute(
            f"{_SELECT} WHERE people.fecha_nacimiento = ? AND people.busqueda = ?",
            (fecha_nacimiento.isoformat(), search_key(primer_apellido, nombres)),
        ).fetchall()
        return [_record(row) for row in rows]


@lru_cache(maxsize=8)
def _open_dataset(path: Path, _version: int) -> DatasetPopulation:
    return DatasetPopulation(path)


def from_options(options: Mapping[str, Any]) -> Population:
    """The population a source is configured with: the dataset file named by ``dataset=PATH``.

    Sources configured with the same dataset share it. A synthetic population (``citizens`` and
    ``seed``) is dev tooling: ``enlace source register`` and the demo seed it into a dataset
    file first (``gateway.devtools.population.seeded_options``).
    """
    if not options.get("dataset"):
        raise DatasetError(
            "dataset.missing", "no dataset= option: write one with `enlace seed` and name it"
        )
    path = Path(str(options["dataset"])).resolve()
    try:
        version = path.stat().st_mtime_ns  # a re-seeded file is opened afresh
    except OSError as exc:
        raise DatasetError("dataset.missing", f"no dataset file at {path}") from exc
    return _open_dataset(path, version)
