"""The error catalogue: every code raised is in it, its statuses are the documented ones, and
every error family renders from ``code``, ``status`` and ``message``."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.cli.common import CliError
from gateway.kernel.curp import InvalidCurp
from gateway.kernel.efirma.certificate import EfirmaError
from gateway.kernel.efirma.errors import SatError
from gateway.kernel.efirma.ocsp import OcspError
from gateway.kernel.errors import (
    CATALOGUE,
    UNMAPPED_STATUS,
    CitizenError,
    CodedError,
    EnlaceError,
    http_status,
    markdown_table,
)
from gateway.kernel.ids import InvalidIdentifier
from gateway.kernel.protocol.evidence import EvidenceError
from gateway.kernel.schemas import CatalogueError
from gateway.server.ledger_api import LedgerApiError
from gateway.storage.registry import RegistryError
from trusted_sources.dataset import DatasetError

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("gateway", "trusted_sources", "services")
_CODE = re.compile(r"[A-Za-z]+\.[A-Za-z_]+")
#: Literals in an error namespace that are not error codes: admin record actions.
NOT_CODES = {"ledger.disclose"}
#: docs/*.md table rows: first cell one or more `code`s, second cell an HTTP status.
_ROW = re.compile(r"^\|(?P<codes>[^|]*`[^|]*)\|\s*(?P<status>[1-5][0-9]{2})\s*\|", re.MULTILINE)


def _nodes() -> Iterator[tuple[Path, ast.AST]]:
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                yield path, node


def _code(node: ast.AST) -> str | None:
    """The literal if ``node`` is a string shaped like a code."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value if _CODE.fullmatch(node.value) else None
    return None


def _literals() -> dict[str, set[str]]:
    """Every string literal shaped like a code in the code base, with where it is."""
    found: dict[str, set[str]] = {}
    for path, node in _nodes():
        if code := _code(node):
            found.setdefault(code, set()).add(str(path.relative_to(ROOT)))
    return found


def _handed_to_errors(node: ast.AST) -> list[ast.expr]:
    """What ``node`` passes as a code: an error's or failure's first argument or ``code=``,
    or the value of a class attribute ``code = ...``."""
    if isinstance(node, ast.Call):
        name = getattr(node.func, "id", getattr(node.func, "attr", ""))
        if name.endswith(("Error", "Failure", "InvalidCurp", "_error")):
            return node.args[:1] + [k.value for k in node.keywords if k.arg == "code"]
    if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "code" for t in node.targets):
        return [node.value]
    return []


def _raised_literals() -> set[str]:
    """Code-shaped literals handed to an error or a failure, whatever their namespace."""
    return {
        code for _, node in _nodes() for value in _handed_to_errors(node) if (code := _code(value))
    }


def test_every_literal_code_is_catalogued():
    namespaces = {code.split(".")[0] for code in CATALOGUE}
    literals = _literals()
    in_namespaces = {c for c in literals if c.split(".")[0] in namespaces} - NOT_CODES
    missing = {c: sorted(literals[c]) for c in in_namespaces - CATALOGUE.keys()}
    assert not missing, f"codes raised but not in gateway/kernel/errors.py: {missing}"
    assert _raised_literals() - CATALOGUE.keys() == set()


def test_every_catalogued_code_is_used():
    assert set(CATALOGUE) - set(_literals()) == set(), "catalogued codes nothing raises"


def test_statuses_match_the_documentation():
    documented: dict[str, int] = {}
    for doc in sorted((ROOT / "docs").glob("*.md")):
        for row in _ROW.finditer(doc.read_text(encoding="utf-8")):
            for code in re.findall(r"`([^`]+)`", row["codes"]):
                if code in CATALOGUE:
                    documented[code] = int(row["status"])
    assert {"Client.BadRequest", "Ledger.BeyondTree", "citizen.rate_limited"} <= set(documented)
    assert "efirma.unknown_issuer" in documented and "ocsp.stale" in documented
    wrong = {c: (s, CATALOGUE[c].status) for c, s in documented.items() if CATALOGUE[c].status != s}
    assert not wrong, f"docs say / catalogue says: {wrong}"


def test_the_protocol_table_lists_every_exchange_code():
    text = (ROOT / "docs" / "protocol.md").read_text(encoding="utf-8")
    exchange = {c for c in CATALOGUE if c.startswith(("Client.", "Server.", "Source."))}
    assert {c for c in exchange if f"`{c}`" not in text} == set()


@pytest.mark.parametrize(
    "error",
    [
        EnlaceError("Client.Replay"),
        CitizenError("citizen.rate_limited", "slow down", retry_after=5),
        LedgerApiError("Ledger.BeyondTree", "the tree is smaller"),
        RegistryError("registry.exists", "member MX/GOB/SEP is already registered"),
        CliError("cli.bad_option", "option 'x' must be KEY=VALUE"),
        DatasetError("dataset.missing", "no dataset file at x.db"),
        CatalogueError("x.request.json: not readable JSON"),
        EvidenceError("evidence.malformed", "not a compact JWS"),
        InvalidCurp("curp.check_digit", "check digit is wrong"),
        InvalidIdentifier("member identifier 'x' must look like INSTANCE/CLASS/MEMBER"),
        SatError("status file is malformed", code="sat.status_file"),
        EfirmaError("no RFC", code="efirma.missing_rfc"),
        OcspError("stale", code="ocsp.stale"),
    ],
)
def test_every_family_renders_from_code_status_message(error: CodedError):
    assert isinstance(error, CodedError)
    kind = CATALOGUE[error.code]
    assert error.status == (UNMAPPED_STATUS if kind.status is None else kind.status)
    assert error.message and error.message in str(error)


def test_family_defaults_and_refusals():
    assert EnlaceError("Client.Replay").message == CATALOGUE["Client.Replay"].title
    assert str(EnlaceError("Client.Replay", "again")) == "Client.Replay: again"
    assert OcspError("x").code == "ocsp.error" and OcspError("x").status == 503
    assert InvalidIdentifier("x").code == "Client.InvalidIdentifier"
    assert isinstance(InvalidIdentifier("x"), ValueError) and isinstance(
        InvalidCurp("curp.sex", "x"), ValueError
    )
    assert http_status("registry.exists") == UNMAPPED_STATUS
    with pytest.raises(ValueError):
        CodedError("Client.Whatever")
    with pytest.raises(ValueError):
        CitizenError("Client.BadRequest", "not a citizen API code")


def test_the_operations_table_is_the_catalogue() -> None:
    docs = Path(__file__).resolve().parents[2] / "docs" / "operations.md"
    assert markdown_table() in docs.read_text(encoding="utf-8"), (
        "docs/operations.md's error table is stale: replace it with the output of "
        "`python -m gateway.devtools.doctables`"
    )


def test_codes_off_the_wire_have_one_naming_style() -> None:
    for kind in CATALOGUE.values():
        if kind.status is None:
            assert re.fullmatch(r"[a-z]+\.[a-z]+(_[a-z]+)*", kind.code), kind.code
