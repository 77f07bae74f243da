"""The single-file offline verifier, ``docs/verifier.html``: built from the page's own scripts.

The template ``gateway/web/verifier/verifier.html`` names, in ``<!-- inline: PATH -->`` lines
(relative to ``gateway/web/``), the scripts to inline: the citizen page's ``verify.js``,
``report.js`` and ``i18n.js`` (the same checks and words, no second copy) and the verifier's
own wiring ``verifier/verifier.js``. The result needs nothing else, so it works opened from disk
(``file://``). ``python -m gateway.devtools.build_verifier`` rewrites it; ``--check`` only says
whether the committed file is in step (tests check the same).
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

WEB = Path(__file__).resolve().parents[1] / "web"
TEMPLATE = WEB / "verifier" / "verifier.html"
OUTPUT = Path(__file__).resolve().parents[2] / "docs" / "verifier.html"
_INLINE = re.compile(r"^( *)<!-- inline: ([\w/.-]+) -->$", re.MULTILINE)


def _script(match: re.Match[str]) -> str:
    indent, name = match.group(1), match.group(2)
    source = (WEB / name).read_text(encoding="utf-8")
    if "</script" in source.lower():  # would end the inline element early
        raise ValueError(f"{name} contains </script")
    return f"{indent}<script>/* {name} */\n{source.rstrip()}\n{indent}</script>"


def built() -> str:
    """The verifier as it should be committed."""
    return _INLINE.sub(_script, TEMPLATE.read_text(encoding="utf-8"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build docs/verifier.html from the page's JS.")
    parser.add_argument("--check", action="store_true", help="only report whether it is stale")
    args = parser.parse_args(argv)
    wanted = built()
    current = OUTPUT.read_text(encoding="utf-8") if OUTPUT.exists() else ""
    if args.check:
        fresh = wanted == current
        print(f"{OUTPUT.name} is in step" if fresh else f"{OUTPUT.name} is stale")
        return 0 if fresh else 1
    OUTPUT.write_text(wanted, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
