"""``enlace seed``: the synthetic population of the trusted sources, written to a dataset file.

One SQLite file (``trusted_sources.dataset``) serves RENAPO and the Registro Civil (and holds
the RFCs and e-mail addresses SAT's dev certificates are issued for); register it with
``--option dataset=PATH`` on each source. A progress bar goes to stderr, the summary to stdout.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from gateway.cli import common
from trusted_sources import dataset
from trusted_sources.records import AS_OF


def seed_population(
    citizens: Annotated[int, typer.Option(min=1, help="How many people to generate.")] = 1000,
    seed: Annotated[int, typer.Option(help="Random seed: equal seeds, equal populations.")] = 0,
    out: Annotated[
        Path, typer.Option(help="Dataset file to write (replaced when complete).")
    ] = Path("var/population.sqlite"),
) -> None:
    """Generate a consistent synthetic population (CURPs, actas, parents) into a dataset file."""
    # Dev tooling is imported when the command runs: `enlace serve` must not load it.
    from gateway.devtools.population import generate

    if out.is_dir():
        raise common.CliError("cli.bad_option", f"{out} is a directory")
    out.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=Console(stderr=True)) as bar:
        task = bar.add_task("people", total=citizens)

        def advance(count: int) -> None:
            bar.advance(task, count)
            if bar.tasks[task].completed >= citizens:
                bar.update(task, description="indexing")

        total = dataset.write(
            out,
            generate(citizens, seed=seed),
            meta={"seed": str(seed), "as_of": AS_OF.isoformat()},
            progress=advance,
        )
    elapsed = time.perf_counter() - started
    typer.echo(
        f"{total} people written to {out} in {elapsed:.1f} s ({total / elapsed:,.0f} people/s); "
        f"use it with --option dataset={out.resolve()}"
    )
