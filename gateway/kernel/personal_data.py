"""Finding personal identifiers in free text an agency sends: CURPs, RFCs and e-mail addresses.

The exchange's free-text fields (``X-Road-UserId``, ``X-Road-Issue``) are written verbatim into
the append-only ledger, so a case number such as ``EXP-GACC810608MBCRRM04`` would stay there
for good. ``find`` names the first kind of identifier a text holds, anywhere in it and in any
letter case; it never returns the identifier itself, so its answer is safe to log or to send.
``redact`` masks every one found (the log's last guard, ``gateway/server/logs.py``).

* A CURP is any 18 characters that pass every structural rule of ``curp`` except the check
  digit: a mistyped CURP is still a person's CURP.
* An RFC is the SAT's shape: three (persona moral) or four (persona física) letters of
  ``A–Z Ñ &``, a real date ``YYMMDD`` and a three-character homoclave.
* An e-mail address is ``local@domain.tld``.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from typing import Literal

from gateway.kernel import curp

Kind = Literal["CURP", "RFC", "e-mail address"]

# Candidates only: ``curp.explain`` decides. The lookahead finds overlapping windows.
_CURP_CANDIDATE = re.compile(r"(?=([A-ZÑ]{4}[0-9]{6}[HMX][A-Z]{2}[A-ZÑ]{3}[A-Z0-9][0-9]))")
_RFC = re.compile(r"(?=([A-ZÑ&]{3,4}([0-9]{6})[A-Z0-9]{3}))")
_EMAIL = re.compile(r"[A-Z0-9._%+-]+@[A-Z0-9-]+(?:\.[A-Z0-9-]+)*\.[A-Z]{2,}")
#: A wrong check digit still leaves a CURP: only the structure decides.
_STRUCTURE_ONLY = frozenset({"curp.check_digit"})


def find(text: str) -> Kind | None:
    """The kind of personal identifier ``text`` contains (the first in the order CURP, RFC,
    e-mail address), or None."""
    return next((kind for kind, _, _ in _spans(text)), None)


def redact(text: str) -> str:
    """``text`` with every CURP, RFC and e-mail address in it replaced by ``[CURP]``, … ."""
    spans = sorted(_spans(text), key=lambda span: span[1])
    if not spans:
        return text
    out, at = [], 0
    for kind, start, end in spans:
        if start >= at:  # an overlapping span only widens the one already masked
            out.append(f"{text[at:start]}[{kind}]")
        at = max(at, end)
    return "".join(out) + text[at:]


def _spans(text: str) -> Iterator[tuple[Kind, int, int]]:
    """Each identifier found: its kind, start and end, CURPs first, then RFCs, then e-mails."""
    upper = _same_length_upper(text)
    for match in _CURP_CANDIDATE.finditer(upper):
        if {failure.code for failure in curp.explain(match.group(1))} <= _STRUCTURE_ONLY:
            yield "CURP", match.start(), match.start() + 18
    for match in _RFC.finditer(upper):
        if _real_date(match.group(2)):
            yield "RFC", match.start(), match.start() + len(match.group(1))
    for match in _EMAIL.finditer(upper):
        yield "e-mail address", match.start(), match.end()


def _same_length_upper(text: str) -> str:
    # str.upper can lengthen a text (ß → SS); positions must stay those of ``text``. ASCII
    # (the allowed free text, so nearly every call) never does.
    if text.isascii():
        return text.upper()
    return "".join(up if len(up := c.upper()) == 1 else c for c in text)


def _real_date(yymmdd: str) -> bool:
    """Whether ``YYMMDD`` is a date in some century (29 February only in a leap year)."""
    for century in (1900, 2000):
        try:
            dt.date(century + int(yymmdd[:2]), int(yymmdd[2:4]), int(yymmdd[4:]))
        except ValueError:
            continue
        return True
    return False
