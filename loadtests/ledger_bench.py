"""Audit-ledger benchmark (prints figures; not a test).

1. The group-commit writer (``sequencer.LedgerWriter``, the gateway's path): N concurrent
   waiters, each appending one record and awaiting its durable commit before the next, as N
   connections would; entries/s and the mean batch (entries per transaction).
2. Append throughput per transaction size: ``sequencer.append`` (tree maintenance on, inside a
   SQLAlchemy transaction, as registry changes append) against the same rows inserted without
   the tree through SQLAlchemy's executemany ("sqlalchemy, no tree"). They alternate in
   rotating order, each on a fresh database; medians are reported.
3. At scale: bulk-load N entries (``sequencer.append``, 5000 per transaction, a checkpoint
   signed every 100,000), then time inclusion and consistency proofs from storage and a full
   ``enlace ledger verify`` (``audit.verify`` on one snapshot, checkpoint signatures checked).

    .venv/bin/python loadtests/ledger_bench.py --entries 0 --waiters 1,50,500

PostgreSQL: a fresh database on ENLACE_BENCH_PG_URL (default postgresql://postgres@127.0.0.1/
postgres) per run, dropped afterwards. The benchmark, the database and anything else running
share this machine's cores: compare figures of one run only.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shlex
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import uvloop

from gateway.kernel.ledger import checkpoint, merkle, record
from gateway.storage import db as dbm
from gateway.storage.ledger import audit, driver, proofs, publisher, sequencer

PG_ADMIN = os.environ.get("ENLACE_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1/postgres")
Append = Callable[[sa.Connection, list[dict[str, Any]]], Any]


def records(start: int, count: int) -> list[dict[str, Any]]:
    """Realistic exchange records (about 830 bytes canonical), one pseudonymous subject each."""
    now = record.timestamp()
    return [
        record.exchange(
            exchange_id=str(uuid.UUID(int=n)),
            received_at=now,
            responded_at=now,
            client="MX/GOB/SEP/becas",
            client_verified=True,
            service="MX/GOB/RENAPO/curp/consulta-curp/v1",
            method="GET",
            user_id=f"MX-SEP-{n % 9973:06d}",
            purpose="becas-inscripcion",
            legal_basis="LGE-art-8",
            issue=f"BECA-2026-{n:08d}",
            subjects=[f"{n * 2654435761 % (1 << 256):064x}"],
            outcome="allowed",
            status=200,
            error=None,
            request_hash="x" * 88,
            request_digest="sha-256:" + "y" * 44,
            response_digest="sha-256:" + "z" * 44,
            request_size=0,
            response_size=1234,
        )
        for n in range(start, start + count)
    ]


def _without_tree(conn: sa.Connection, batch: list[dict[str, Any]]) -> None:
    """An append without the tree, through SQLAlchemy: entry and subject rows and the size."""
    state = sa.select(dbm.ledger_state.c.size).where(dbm.ledger_state.c.id == 1)
    size = conn.execute(state.with_for_update()).scalar_one()  # the sequencing lock
    rows, subjects = [], []
    for offset, entry in enumerate(batch):
        body = record.canonical(entry)
        rows.append(
            {
                "idx": size + offset,
                "leaf_hash": merkle.leaf_hash(body),
                **driver.entry_columns(entry),
                "body": body.decode(),
            }
        )
        subjects += [{"subject": s, "idx": size + offset} for s in entry["subjects"]]
    conn.execute(sa.insert(dbm.ledger_entries), rows)
    conn.execute(sa.insert(dbm.ledger_subjects), subjects)
    conn.execute(sa.update(dbm.ledger_state).values(size=size + len(rows)))


APPENDS: dict[str, Append] = {"sqlalchemy, no tree": _without_tree, "tree": sequencer.append}


@contextmanager
def fresh(backend: str, folder: Path) -> Iterator[dbm.Database]:
    """A new, upgraded database; removed afterwards."""
    if backend == "sqlite":
        path = folder / f"{uuid.uuid4().hex}.db"
        database = dbm.open_database(f"sqlite:///{path}")
        try:
            dbm.upgrade(database)
            yield database
        finally:
            database.dispose()
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
        return
    admin = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    name = f"enlace_bench_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = sa.engine.make_url(PG_ADMIN).set(database=name).render_as_string(hide_password=False)
    database = dbm.open_database(url)
    try:
        dbm.upgrade(database)
        yield database
    finally:
        database.dispose()
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def timed_appends(database: dbm.Database, append: Append, rows: int, batch: int) -> float:
    """Rows per second appending ``rows`` records in transactions of ``batch``."""
    pending = [records(n, min(batch, rows - n)) for n in range(0, rows, batch)]
    started = time.perf_counter()
    for chunk in pending:
        with database.write.begin() as conn:
            append(conn, chunk)
    return rows / (time.perf_counter() - started)


def writer_rate(database: dbm.Database, rows: int, waiters: int) -> tuple[float, float, float]:
    """The gateway's path: ``waiters`` concurrent callers, each awaiting its commit before its
    next append; entries/s, mean entries per transaction, and this process's CPU µs per entry
    (callers and writer thread; a PostgreSQL server's own CPU is not counted)."""
    pending = records(0, rows)

    async def run() -> tuple[float, float, float]:
        writer = sequencer.LedgerWriter(database)
        writer.start()
        shares = [pending[n::waiters] for n in range(waiters)]

        async def caller(share: list[dict[str, Any]]) -> None:
            for entry in share:
                await writer.append(entry)

        try:
            started, cpu = time.perf_counter(), time.process_time()
            await asyncio.gather(*(caller(share) for share in shares))
            cpu_us = (time.process_time() - cpu) / rows * 1e6
            return rows / (time.perf_counter() - started), writer.mean_batch, cpu_us
        finally:
            writer.stop()

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:  # as `enlace serve`
        return runner.run(run())


def writer_throughput(backend: str, folder: Path, rows: int, waiters: list[int]) -> None:
    print(f"\n== group-commit writer, {backend}: {rows:,} appends (2,000 per waiter at most)")
    print(f"{'waiters':>8} {'entries/s':>10} {'entries/txn':>12} {'CPU µs/entry':>13}")
    for count in waiters:
        with fresh(backend, folder) as database:  # one waiter is fsync-bound: fewer rows
            rate, mean, cpu_us = writer_rate(database, min(rows, 2000 * count), count)
        print(f"{count:>8} {rate:>10,.0f} {mean:>12.1f} {cpu_us:>13.1f}")


def append_throughput(
    backend: str, folder: Path, rows: int, batches: list[int], rounds: int
) -> None:
    names = list(APPENDS)
    print(f"\n== append throughput, {backend}: rows/s, median of {rounds} alternating rounds")
    print(f"{'rows/txn':>9} {'rows':>7} {names[0]:>20} {names[1]:>8} {'ratio':>6}")
    for batch in batches:
        count = min(rows, batch * 2000)  # one commit per row is fsync-bound: fewer rows
        samples: dict[str, list[float]] = {name: [] for name in names}
        for round_ in range(rounds):  # rotate the order: the first of a round runs differently
            for name in names[round_ % 2 :] + names[: round_ % 2]:
                with fresh(backend, folder) as database:
                    samples[name].append(timed_appends(database, APPENDS[name], count, batch))
        bare, tree = (statistics.median(samples[name]) for name in names)
        print(f"{batch:>9} {count:>7} {bare:>20,.0f} {tree:>8,.0f} {tree / bare:>6.2f}")


def bulk_load(database: dbm.Database, entries: int, signer: checkpoint.NoteSigner) -> float:
    started, last, batch = time.perf_counter(), time.perf_counter(), 5000
    for n in range(0, entries, batch):
        with database.write.begin() as conn:
            sequencer.append(conn, records(n, min(batch, entries - n)))
            if (n + batch) % 100_000 == 0 or n + batch >= entries:
                publisher.sign_checkpoint(conn, signer)
        if time.perf_counter() - last > 60:
            last = time.perf_counter()
            rate = (n + batch) / (last - started)
            print(f"   … {n + batch:,} entries, {rate:,.0f}/s", file=sys.stderr, flush=True)
    return entries / (time.perf_counter() - started)


def percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    p50, p99 = ordered[len(ordered) // 2], ordered[int(len(ordered) * 0.99)]
    return f"p50 {p50 * 1e3:.2f} ms, p99 {p99 * 1e3:.2f} ms"


def database_bytes(database: dbm.Database, conn: sa.Connection) -> int:
    if database.is_sqlite:
        files = (Path(f"{database.write.url.database}{s}") for s in ("", "-wal"))
        return sum(f.stat().st_size for f in files if f.exists())
    return conn.execute(sa.text("SELECT pg_database_size(current_database())")).scalar_one()


def at_scale(backend: str, folder: Path, entries: int, proof_count: int) -> None:
    print(f"\n== {entries:,} entries, {backend}")
    signer = checkpoint.NoteSigner.from_skey(checkpoint.generate_key("bench.example/ledger")[0])
    with fresh(backend, folder) as database:
        rate = bulk_load(database, entries, signer)
        print(f"bulk load (sequencer.append, 5000 rows/txn): {rate:,.0f} entries/s")
        rng = random.Random(1)
        with database.read.connect() as conn:
            print(f"database size: {database_bytes(database, conn) / entries:,.0f} bytes/entry")
            for name, prove in (
                (
                    "inclusion",
                    lambda: proofs.inclusion_proof(conn, rng.randrange(entries), entries),
                ),
                (
                    "consistency",
                    lambda: proofs.consistency_proof(conn, rng.randrange(1, entries), entries),
                ),
            ):
                samples = []
                for _ in range(proof_count):
                    started = time.perf_counter()
                    prove()
                    samples.append(time.perf_counter() - started)
                at = f"{proof_count} random at size {entries:,}"
                print(f"{name} proof, {at}: {percentiles(samples)}")
        started = time.perf_counter()
        with database.read.connect() as conn:
            if not database.is_sqlite:
                conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                report = audit.verify(conn, signer.verifier())
        seconds = time.perf_counter() - started
        assert report.ok and report.entries == entries, report.findings[:5]
        print(
            f"ledger verify: {seconds:,.1f} s, {seconds / entries * 1e6:,.1f} s per million "
            f"({report.nodes:,} interior nodes, {report.checkpoints} checkpoints checked)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--append-rows", type=int, default=20_000)
    parser.add_argument("--batches", default="1,32,256")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--entries", type=int, default=1_000_000, help="0: skip the scale part")
    parser.add_argument("--proofs", type=int, default=2000)
    parser.add_argument("--writer-rows", type=int, default=50_000)
    parser.add_argument("--waiters", default="1,50,500", help="concurrent callers of the writer")
    parser.add_argument("--skip-append", action="store_true")
    args = parser.parse_args()
    print("reproduce with: .venv/bin/python loadtests/ledger_bench.py " + shlex.join(sys.argv[1:]))
    backends = args.backends.split(",")
    batches = [int(b) for b in args.batches.split(",")]
    with tempfile.TemporaryDirectory(prefix="enlace-bench-", dir="/var/tmp") as tmp:
        for backend in backends:
            for_waiters = [int(w) for w in args.waiters.split(",")]
            writer_throughput(backend, Path(tmp), args.writer_rows, for_waiters)
        if not args.skip_append:
            for backend in backends:
                append_throughput(backend, Path(tmp), args.append_rows, batches, args.rounds)
        if args.entries:
            for backend in backends:
                at_scale(backend, Path(tmp), args.entries, args.proofs)


if __name__ == "__main__":
    main()
