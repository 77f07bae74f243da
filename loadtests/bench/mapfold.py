"""The ``map`` case: what the subject map costs per appended entry (docs/ledger.md §12).

The map is folded at checkpoint time, never on an exchange's path: the writer only stores the
``ledger_subjects`` rows it stored before. So the cost that counts against the append budget is
the fold's, spread over the entries it folds. This case appends ENTRIES exchange records naming
SUBJECTS distinct random pseudonyms to a fresh ledger (as the writer's batches would), then
times one fold (``subjectmap.close``: read the subject rows, fold the chains, update the tree,
write nodes and values, append the map head), then appends a tenth as many more (most of their
subjects already in the map) and times the fold again: the steady state of a running gateway.
Reported: process CPU and wall time of each fold, in µs per entry folded.

    PYTHONPATH=. .venv/bin/python -m loadtests.bench.mapfold [--entries 20000] [--subjects 5000]
        [--pg-url postgresql+psycopg://127.0.0.1/test]
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from gateway.kernel.ledger import record
from gateway.storage import db as dbm
from gateway.storage.ledger import driver, sequencer, subjectmap

_BATCH = 500
#: The sizes `make bench` measures.
ENTRIES, SUBJECTS = 20_000, 5_000


@dataclass(frozen=True)
class Fold:
    """One fold: entries folded, keys changed, CPU and wall µs per entry folded."""

    entries: int
    keys: int
    cpu_us: float
    wall_us: float


def _records(rng: random.Random, count: int, people: list[str], start: int) -> list[dict[str, Any]]:
    now = record.timestamp()
    return [
        record.exchange(
            exchange_id=f"bench-{start + n}",
            received_at=now,
            responded_at=now,
            client="MX/GOB/SEP/becas",
            client_verified=True,
            service="MX/GOB/RENAPO/curp/consulta-curp/v1",
            method="GET",
            user_id="MX-SEP-1",
            purpose="becas-inscripcion",
            legal_basis="LGE-art-8",
            issue=None,
            subjects=[rng.choice(people)],
            outcome="allowed",
            status=200,
            error=None,
            request_hash="h",
            request_digest="d",
            response_digest="d",
            request_size=0,
            response_size=10,
        )
        for n in range(count)
    ]


def _append(database: dbm.Database, records: list[dict[str, Any]]) -> None:
    for start in range(0, len(records), _BATCH):
        with database.write.begin() as conn:
            sequencer.append(conn, records[start : start + _BATCH])


def _fold(database: dbm.Database) -> Fold:
    with database.write.begin() as conn:
        before = subjectmap.state(conn)
        tree = driver.locked_tree(conn)
        cpu, wall = time.process_time(), time.perf_counter()
        closed = subjectmap.close(conn, tree)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        after = subjectmap.state(conn)
    folded = closed.size - 1 - (before.head + 1)
    keys = after.keys - before.keys
    return Fold(folded, keys, cpu * 1e6 / folded, wall * 1e6 / folded)


def measure(url: str, entries: int, subjects: int, seed: int = 8) -> tuple[Fold, Fold]:
    """The first fold of ``entries`` over ``subjects`` keys, then a fold of a tenth more."""
    database = dbm.open_database(url)
    try:
        dbm.upgrade(database)
        rng = random.Random(seed)
        people = [f"{rng.getrandbits(256):064x}" for _ in range(subjects)]
        _append(database, _records(rng, entries, people, 0))
        first = _fold(database)
        _append(database, _records(rng, entries // 10, people, entries))
        return first, _fold(database)
    finally:
        database.dispose()


def run(entries: int, subjects: int, pg_url: str | None) -> dict[str, tuple[Fold, Fold]]:
    """Measure on SQLite (a temporary file) and, given ``pg_url``, on a fresh PostgreSQL
    database made on that server (dropped after)."""
    found = {}
    with tempfile.TemporaryDirectory(prefix="enlace-bench-map-") as work:
        found["sqlite"] = measure(f"sqlite:///{Path(work) / 'map.db'}", entries, subjects)
    if pg_url:
        name = f"enlace_bench_map_{uuid.uuid4().hex[:12]}"
        admin = sa.create_engine(dbm.normalise_url(pg_url), isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as conn:
                conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        except sa.exc.OperationalError as exc:
            print(f"map: PostgreSQL not measured ({type(exc).__name__})", file=sys.stderr)
            admin.dispose()
            return found
        try:
            url = sa.engine.make_url(pg_url).set(database=name).render_as_string(False)
            found["postgresql"] = measure(url, entries, subjects)
        finally:
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()
    return found


def table(found: dict[str, tuple[Fold, Fold]], entries: int, subjects: int) -> str:
    lines = [
        f"map: the subject map's fold at checkpoint time, µs per entry folded "
        f"({entries:,} entries over {subjects:,} subjects, then {entries // 10:,} more)",
        "| backend | fold | entries | new keys | CPU µs/entry | wall µs/entry |",
        "|---|---|---|---|---|---|",
    ]
    for backend, folds in found.items():
        for name, fold in zip(("first", "steady"), folds, strict=True):
            lines.append(
                f"| {backend} | {name} | {fold.entries:,} | {fold.keys:,} | "
                f"{fold.cpu_us:.1f} | {fold.wall_us:.1f} |"
            )
    return "\n".join(lines)


def document(found: dict[str, tuple[Fold, Fold]]) -> dict[str, Any]:
    return {backend: [asdict(f) for f in folds] for backend, folds in found.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtests.bench.mapfold")
    parser.add_argument("--entries", type=int, default=ENTRIES)
    parser.add_argument("--subjects", type=int, default=SUBJECTS)
    parser.add_argument("--pg-url", default=None, help="also measure on this PostgreSQL")
    args = parser.parse_args(argv)
    found = run(args.entries, args.subjects, args.pg_url)
    print(table(found, args.entries, args.subjects))
    return 0


if __name__ == "__main__":
    sys.exit(main())
