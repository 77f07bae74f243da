"""Citizen access-log query time in a large ledger (prints figures; not a test).

Bulk-loads N exchange records through ``sequencer.append`` (so the Merkle tree is real), spread over
N/20 citizens, plus one heavy citizen with K entries spread evenly through the ledger, 1 in 50
of them covert. Then times what ``GET /v1/citizen/accesses`` does below HTTP for the heavy
citizen: a first page of 50 with inclusion proofs against a signed checkpoint, a page deep in
the log, an agency filter, a one-month date filter, and a 1,000-row CSV export.

    .venv/bin/python loadtests/citizen_bench.py --entries 1000000 --heavy 10000
        [--database-url postgresql://postgres@127.0.0.1:5432/postgres]

PostgreSQL: a fresh database on that server, dropped afterwards.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa

from gateway.kernel.ledger import checkpoint, record
from gateway.storage import access_log
from gateway.storage import db as dbm
from gateway.storage.ledger import driver, publisher, sequencer
from gateway.storage.registry import Snapshot

SEP, SRE = "MX/GOB/SEP/becas", "MX/GOB/SRE/pasaportes"
HEAVY = "f" * 64
BATCH = 10_000
START = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def _record(n: int, subject: str, entries: int, hidden: bool) -> dict:
    at = record.timestamp(START + dt.timedelta(days=365 * n / entries))
    return record.exchange(
        exchange_id=f"x-{n}",
        received_at=at,
        responded_at=at,
        client=SRE if n % 3 == 0 else SEP,
        client_verified=True,
        service="MX/GOB/RENAPO/curp/consulta-curp/v1",
        method="GET",
        user_id=f"U-{n % 997}",
        purpose="becas-inscripcion",
        legal_basis="LGE-art-8",
        issue=f"EXP-{n}",
        subjects=[subject],
        outcome="allowed",
        status=200,
        error=None,
        request_hash="h",
        request_digest="d",
        response_digest="d",
        request_size=0,
        response_size=100,
        hidden_until="2099-01-01" if hidden else None,
    )


def load(database: dbm.Database, entries: int, heavy: int) -> None:
    every = max(1, entries // heavy)
    citizens = max(1, entries // 20)
    started = time.perf_counter()
    for start in range(0, entries, BATCH):
        batch = []
        for n in range(start, min(entries, start + BATCH)):
            mine = n % every == 0 and n // every < heavy
            subject = HEAVY if mine else f"{n % citizens:064x}"
            batch.append(_record(n, subject, entries, hidden=mine and (n // every) % 50 == 7))
        with database.write.begin() as conn:
            sequencer.append(conn, batch)
    signer = checkpoint.NoteSigner.from_skey(checkpoint.generate_key("bench/enlace/ledger")[0])
    with database.write.begin() as conn:
        publisher.sign_checkpoint(conn, signer)
        if not database.is_sqlite:  # what autovacuum would have done by now in production
            conn.exec_driver_sql("ANALYZE")
    print(f"loaded {entries:,} entries in {time.perf_counter() - started:.0f} s")


def timed(work: Callable[[], object], rounds: int = 15) -> float:
    work()  # warm the cache
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        work()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples) * 1000


def bench(database: dbm.Database) -> None:
    today = dt.date(2026, 6, 1)
    snapshot = Snapshot(version=0)

    def page(proofs: bool = True, **query: object) -> Callable[[], object]:
        def run() -> object:
            with database.read.connect() as conn:
                entries, _ = access_log.fetch(conn, HEAVY, access_log.Query(**query), today)
                head = publisher.latest_checkpoint(conn)
                if not proofs or head is None:
                    return entries
                return access_log.attach_proofs(conn, entries, head)

        return run

    def export() -> object:
        with database.read.connect() as conn:
            entries, _ = access_log.fetch(conn, HEAVY, access_log.Query(limit=1000), today)
        return access_log.to_csv([access_log.present(e, snapshot) for e in entries], "es")

    with database.read.connect() as conn:
        total = driver.size(conn)
        mine = conn.execute(
            sa.text("SELECT count(*), min(idx), max(idx) FROM ledger_subjects WHERE subject = :s"),
            {"s": HEAVY},
        ).one()
    middle = (mine[1] + mine[2]) // 2
    print(f"ledger {total:,} entries; heavy citizen {mine[0]:,} entries (1 in 50 covert)")
    cases = {
        "first page (50), no proofs": page(proofs=False),
        "first page (50) + proofs": page(),
        "page deep in the log + proofs": page(before=middle),
        "agency filter (SRE) + proofs": page(agency="MX/GOB/SRE"),
        "one month + proofs": page(since=dt.date(2026, 3, 1), until=dt.date(2026, 3, 31)),
        "CSV export, 1,000 rows": export,
    }
    for name, work in cases.items():
        print(f"  {name:<32} {timed(work):8.1f} ms (median)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=200_000)
    parser.add_argument("--heavy", type=int, default=5_000)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    if args.database_url:
        admin = sa.create_engine(dbm.normalise_url(args.database_url), isolation_level="AUTOCOMMIT")
        name = f"enlace_bench_{uuid.uuid4().hex[:8]}"
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        url = sa.engine.make_url(dbm.normalise_url(args.database_url)).set(database=name)
        try:
            run(url.render_as_string(hide_password=False), args)
        finally:
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        return
    with tempfile.TemporaryDirectory() as folder:
        run(f"sqlite:///{Path(folder) / 'bench.db'}", args)


def run(url: str, args: argparse.Namespace) -> None:
    database = dbm.open_database(url)
    dbm.upgrade(database)
    try:
        print(f"{database.write.dialect.name}:")
        load(database, args.entries, args.heavy)
        bench(database)
    finally:
        database.dispose()


if __name__ == "__main__":
    main()
