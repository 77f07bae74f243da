"""The tables of docs/operations.md that are generated from the code: settings and error codes.

``python -m gateway.devtools.doctables`` rewrites them in place after a setting or a code is
added; ``--check`` only says whether they are in step (tests check the same).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from gateway.kernel import errors, settings

OPERATIONS = Path(__file__).resolve().parents[2] / "docs" / "operations.md"
#: Each generated table, found in the document by its header line.
TABLES: tuple[Callable[[], str], ...] = (settings.markdown_table, errors.markdown_table)


def refreshed(text: str) -> str:
    """``text`` with every generated table replaced by its current rendering."""
    for render in TABLES:
        table = render()
        start = text.index(table.splitlines()[0])  # the header line
        end = text.find("\n\n", start)
        text = text[:start] + table.rstrip("\n") + (text[end:] if end >= 0 else "\n")
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Regenerate docs/operations.md's tables.")
    parser.add_argument("--check", action="store_true", help="only report whether they are stale")
    args = parser.parse_args(argv)
    current = OPERATIONS.read_text(encoding="utf-8")
    wanted = refreshed(current)
    if args.check:
        print(
            "docs/operations.md is in step" if wanted == current else "docs/operations.md is stale"
        )
        return 0 if wanted == current else 1
    OPERATIONS.write_text(wanted, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
