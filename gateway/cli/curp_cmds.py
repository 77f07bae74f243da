"""``enlace curp``: CURP tools for support staff."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from gateway.cli import common
from gateway.kernel import curp as curp_rules

curp_app = typer.Typer(help="CURP tools for support staff.", no_args_is_help=True)


@curp_app.command("check")
def curp_check(
    curps: Annotated[list[str], typer.Argument(help="CURPs of 18 characters, one or more.")],
    as_json: common.JsonOpt = False,
) -> None:
    """Validate CURPs and say which rule each one fails; exit 1 if any is invalid."""
    results: list[dict[str, Any]] = []
    for text in curps:
        failures = curp_rules.explain(text)
        results.append(
            {
                "curp": text,
                "valid": not failures,
                "failures": [{"code": f.code, "message": f.message} for f in failures],
            }
        )
    if as_json:
        typer.echo(json.dumps(results, ensure_ascii=False, indent=2))
    else:
        for item in results:
            if item["valid"]:
                typer.echo(f"{item['curp']}: valid")
            for failure in item["failures"]:
                typer.echo(f"{item['curp']}: invalid [{failure['code']}] {failure['message']}")
    raise typer.Exit(0 if all(r["valid"] for r in results) else 1)
