"""How fast ``enlace seed`` writes a population dataset, and how fast the sources read it.

Writes ``generate(N)`` to a dataset file exactly as ``enlace seed`` does, reports people/s
(per wall and per CPU second: the machine is shared and wall time is noisy), file size and
peak memory, then times the three lookups the sources make (by CURP, by identificador
electrónico, by birth date + name) on a sample of the people written.

    .venv/bin/python loadtests/seed_benchmark.py [--citizens 1000000] [--seed 0]
        [--out FILE] [--lookups 2000]

Without ``--out`` the file goes to a temporary directory and is deleted afterwards.
"""

from __future__ import annotations

import argparse
import random
import resource
import sqlite3
import tempfile
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

from gateway.devtools.population import generate
from trusted_sources import dataset


def _lookups(path: Path, count: int, seed: int) -> dict[str, float]:
    """Microseconds per lookup, median over ``count`` sampled people."""
    with sqlite3.connect(path) as conn:
        total = conn.execute("SELECT count(*) FROM people").fetchone()[0]
        rows = [
            conn.execute(
                "SELECT people.curp, fecha_nacimiento, primer_apellido, nombres, identificador "
                "FROM people LEFT JOIN actas USING (curp) WHERE people.rowid = ?",
                (rowid,),
            ).fetchone()
            for rowid in random.Random(seed).sample(range(1, total + 1), min(count, total))
        ]
    population = dataset.DatasetPopulation(path)
    timings: dict[str, list[float]] = {"by_curp": [], "by_identificador": [], "by_name": []}

    def timed(name: str, lookup: Callable[..., object], *args: Any) -> None:
        started = time.perf_counter()
        found = lookup(*args)
        timings[name].append((time.perf_counter() - started) * 1e6)
        assert found, f"{name} found nothing"

    for curp, born, primer, nombres, identificador in rows:
        timed("by_curp", population.by_curp, curp)
        timed("by_name", population.by_birth_and_name, date.fromisoformat(born), primer, nombres)
        if identificador:
            timed("by_identificador", population.by_identificador, identificador)
    population.close()
    return {name: sorted(values)[len(values) // 2] for name, values in timings.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--citizens", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--lookups", type=int, default=2000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="enlace-seed-") as tmp:
        out = args.out or Path(tmp) / "population.sqlite"
        started, cpu_started = time.perf_counter(), time.process_time()
        written = dataset.write(out, generate(args.citizens, seed=args.seed), meta={})
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
        peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"citizens        {written:,}")
        print(f"seconds         {elapsed:.1f} wall, {cpu:.1f} CPU")
        print(f"people/s        {written / elapsed:,.0f} (per CPU second {written / cpu:,.0f})")
        print(f"file MiB        {out.stat().st_size / 2**20:,.0f}")
        print(f"peak RSS MiB    {peak_mib:,.0f}")
        for name, micros in _lookups(out, args.lookups, args.seed).items():
            print(f"{name:<15} {micros:,.0f} µs (median)")


if __name__ == "__main__":
    main()
