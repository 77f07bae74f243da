"""`enlace --help` everywhere: every argument and option says what it takes, in plain text."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import typer.main

from gateway.cli.main import app


def _commands(command: Any, path: str) -> Iterator[tuple[str, Any]]:
    yield path, command
    for name, sub in getattr(command, "commands", {}).items():
        yield from _commands(sub, f"{path} {name}")


def test_every_parameter_has_help_and_no_rst_markup() -> None:
    missing, markup = [], []
    for path, command in _commands(typer.main.get_command(app), "enlace"):
        if "``" in (command.help or ""):
            markup.append(path)
        for param in command.params:
            text = getattr(param, "help", None)
            if param.name == "help":
                continue
            if not text:
                missing.append(f"{path} {param.name}")
            elif "``" in text:
                markup.append(f"{path} {param.name}")
    assert not missing, f"no help: {missing}"
    assert not markup, f"RST double backticks in help: {markup}"


def test_demo_takes_a_port() -> None:
    demo = typer.main.get_command(app).commands["demo"]  # type: ignore[attr-defined]
    assert "port" in {param.name for param in demo.params}
