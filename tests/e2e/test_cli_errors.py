"""Every user error of `enlace` is one line `error [code]: message` with exit 2 (usage) or 1
(failure), never a traceback; a registry command that fails changes nothing (docs/operations.md).

Each case runs the real command as a subprocess against one small instance.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"
SERVICE = "MX/GOB/RENAPO/curp/consulta-curp/v1"
SEP_CERT = "certs/members/MX__GOB__SEP/sign.pem"


def run(home: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {
        **os.environ,
        "ENLACE_DATABASE_URL": f"sqlite:///{home / 'db' / 'enlace.db'}",
        "ENLACE_PKI_DIR": str(home / "certs"),
        "ENLACE_ACTOR": "admin:test",
        **env,
    }
    return subprocess.run(
        [sys.executable, "-m", "gateway", *args],
        cwd=home,
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
    )


def ok(home: Path, *args: str) -> str:
    result = run(home, *args)
    assert result.returncode == 0, result.stderr
    return result.stdout


def registry_state(home: Path) -> tuple[str, str]:
    """The registry and the ledger as the commands show them."""
    return ok(home, "member", "list", "--json"), ok(home, "ledger", "tail", "-n", "500", "--json")


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An instance with RENAPO (a source) and SEP; its registry state before the error cases is
    kept in ``before.json``."""
    home = tmp_path_factory.mktemp("instance")
    ok(home, "pki", "init", "--member", "MX/GOB/RENAPO", "--member", "MX/GOB/SEP")
    for member, sub in (("MX/GOB/RENAPO", "curp"), ("MX/GOB/SEP", "becas")):
        cert = f"certs/members/{member.replace('/', '__')}/sign.pem"
        ok(home, "member", "add", member, "--name", member, "--subsystem", sub, "--cert", cert)
    ok(
        home,
        "source",
        "register",
        "renapo",
        "--provider",
        "MX/GOB/RENAPO/curp",
        "--adapter",
        "renapo",
        "--option",
        "citizens=20",
    )
    sqlite3.connect(home / "empty.db").close()
    (home / "before.json").write_text(json.dumps(registry_state(home)))
    return home


# (command line, extra environment, code, exit status)
CASES: list[tuple[list[str], dict[str, str], str, int]] = [
    ([], {}, "cli.missing_command", 2),
    (["pki"], {}, "cli.missing_command", 2),
    (["member", "add"], {}, "cli.missing_parameter", 2),
    (["--bogus"], {}, "cli.unknown_option", 2),
    (["member", "list", "--bogus"], {}, "cli.unknown_option", 2),
    (["nosuch"], {}, "cli.unknown_command", 2),
    (["seed", "--citizens", "0"], {}, "cli.bad_option", 2),
    (["ledger", "tail", "-n", "-5"], {}, "cli.bad_option", 2),
    (["serve", "--port", "http"], {}, "cli.bad_option", 2),
    (["member", "list", "--database-url", "notaurl"], {}, "db.bad_url", 2),
    (["member", "list", "--database-url", "mysql://x"], {}, "db.bad_url", 2),
    (["member", "list"], {"ENLACE_DATABASE_URL": ""}, "db.missing", 2),
    (["member", "list", "--database-url", "sqlite:///var/typo.db"], {}, "db.missing", 2),
    (["ledger", "tail"], {"ENLACE_DATABASE_URL": "sqlite:///empty.db"}, "db.no_schema", 2),
    (["ledger", "tail"], {"ENLACE_DATABASE_URL": "sqlite:///certs/ca.pem"}, "db.unavailable", 1),
    (["serve"], {"ENLACE_DATABASE_URL": "sqlite:///var/typo.db"}, "db.missing", 2),
    (
        ["member", "list", "--database-url", "postgresql://enlace@127.0.0.1:1/none"],
        {},
        "db.unavailable",
        1,
    ),
    (["member", "list"], {"ENLACE_SOURCE_TIMEOUT": "abc"}, "config.invalid", 2),
    (
        ["member", "add", "MX/GOB/IMSS", "--name", "IMSS", "--cert", "nosuch.pem"],
        {},
        "cli.bad_file",
        2,
    ),
    (
        ["member", "add", "MX/GOB/IMSS", "--name", "IMSS", "--subsystem", "a b"],
        {},
        "cli.bad_identifier",
        2,
    ),
    (
        ["member", "add", "MX/GOB/IMSS", "--name", "IMSS", "--subsystem", "a", "--subsystem", "A"],
        {},
        "registry.bad_identifier",
        2,
    ),
    (
        ["member", "add", "MX/GOB/IMSS", "--name", "IMSS", "--cert", SEP_CERT],
        {},
        "registry.bad_certificate",
        2,
    ),
    (["member", "add", "MX/GOB/SEP", "--name", "SEP"], {}, "registry.exists", 2),
    (["member", "add", "MX/GOB/sep", "--name", "SEP"], {}, "registry.bad_identifier", 2),
    (["member", "add", "mx/GOB/IMSS", "--name", "IMSS"], {}, "registry.bad_identifier", 2),
    (["member", "add", "MX/XXX/IMSS", "--name", "IMSS"], {}, "registry.bad_identifier", 2),
    (["member", "add", "MX/GOB/IMSS", "--name", ""], {}, "registry.bad_member", 2),
    (["member", "add", "MX-GOB-IMSS", "--name", "IMSS"], {}, "cli.bad_identifier", 2),
    (["member", "revoke-cert", "abc"], {}, "registry.not_found", 2),
    (["member", "revoke-cert", "zzzzzzzzzzzz"], {}, "registry.not_found", 2),
    (
        ["source", "register", "x", "--provider", "MX/GOB/RENAPO/curp", "--adapter", "nosuch"],
        {},
        "registry.bad_source",
        2,
    ),
    (
        [
            "source",
            "register",
            "x",
            "--provider",
            "MX/GOB/RENAPO/curp",
            "--adapter",
            "renapo",
            "--option",
            "citizens=abc",
        ],
        {},
        "cli.bad_option",
        2,
    ),
    (
        [
            "source",
            "register",
            "x",
            "--provider",
            "MX/GOB/RENAPO/curp",
            "--adapter",
            "renapo",
            "--option",
            "dataset=/nonexistent.sqlite",
        ],
        {},
        "dataset.missing",
        2,
    ),
    (
        [
            "source",
            "register",
            "Renapo",
            "--provider",
            "MX/GOB/RENAPO/curp",
            "--adapter",
            "renapo",
            "--option",
            "citizens=20",
        ],
        {},
        "registry.bad_source",
        2,
    ),
    (
        ["service", "add", "MX/GOB/RENAPO/curp/otra/v1", "--source", "renapo", "--operation", "x"],
        {},
        "registry.unknown_operation",
        2,
    ),
    (
        [
            "acl",
            "grant",
            "MX/GOB/SEP/becas",
            SERVICE,
            "--purpose",
            "with spaces",
            "--legal-basis",
            "LGE-art-8",
        ],
        {},
        "registry.bad_grant",
        2,
    ),
    (
        [
            "acl",
            "grant",
            "MX/GOB/SEP/becas",
            SERVICE,
            "--purpose",
            "p",
            "--legal-basis",
            "l",
            "--hidden-until",
            "2000-01-01",
        ],
        {},
        "registry.bad_grant",
        2,
    ),
    (
        ["acl", "grant", "MX/GOB/SEP", SERVICE, "--purpose", "p", "--legal-basis", "l"],
        {},
        "cli.bad_identifier",
        2,
    ),
    (["ledger", "verify"], {"ENLACE_PKI_DIR": "/nonexist"}, "ledger.key", 2),
    (
        ["ledger", "check-proof", "nosuch.json", "--vkey", "certs/gateway/checkpoint.vkey"],
        {},
        "cli.bad_file",
        2,
    ),
    (
        ["ledger", "check-proof", str(README), "--vkey", "certs/gateway/checkpoint.vkey"],
        {},
        "cli.bad_file",
        2,
    ),
    (["ledger", "check-proof", "nosuch.json", "--vkey", str(README)], {}, "ledger.key", 2),
    (["efirma", "check", str(README)], {}, "efirma.malformed", 1),
    (["purpose", "add", "Bad Id", "--title", "x"], {}, "registry.bad_title", 2),
    (["pki", "issue", "MX/GOB/SEP", "--tls-host", "bad host!"], {}, "cli.bad_option", 2),
    (["ledger", "witness-key", "w.example/w", "--out", "nosuch/w"], {}, "cli.bad_file", 2),
    (["pki", "init", "--pki-dir", f"{README}/certs"], {}, "cli.bad_file", 2),
    (["client", "limit", "MX/GOB/SEP/becas", "--rate", "inf"], {}, "registry.bad_limit", 2),
    (["serve"], {"ENLACE_REDIS_URL": "garbage"}, "config.invalid", 2),
    (["efirma", "check", "nosuch.cer"], {}, "cli.bad_file", 2),
    (["curp", "check"], {}, "cli.missing_parameter", 2),
]


@pytest.mark.parametrize(("args", "env", "code", "status"), CASES, ids=lambda v: str(v))
def test_a_user_error_is_one_line_with_its_code(home, args, env, code, status):
    result = run(home, *args, **env)
    assert "Traceback" not in result.stderr + result.stdout
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"error [{code}]: "), result.stderr
    assert result.returncode == status
    assert "# Enlace" not in result.stderr  # no file contents echoed


def test_failed_commands_changed_nothing(home):
    """Runs after the cases above (pytest keeps the file's order): none left a trace."""
    assert list(registry_state(home)) == json.loads((home / "before.json").read_text())
    assert not (home / "var" / "typo.db").exists()  # no database created for a typo


def test_json_is_structured_and_key_ids_are_whole(home):
    members = json.loads(ok(home, "member", "list", "--json"))
    sep = next(m for m in members if m["member"] == "MX/GOB/SEP")
    assert sep["subsystems"] == ["becas"]
    [cert] = sep["certificates"]
    assert cert["revoked"] is False and cert["keyid"] in ok(home, "member", "list")
    sources = json.loads(ok(home, "source", "list", "--json"))
    assert sources == [
        {"source": "renapo", "provider": "MX/GOB/RENAPO/curp", "adapter": "renapo", "url": None}
    ]


def test_regranting_says_what_changed_and_revoke_takes_a_prefix(home):
    ok(home, "service", "add", SERVICE, "--source", "renapo", "--operation", "consulta-curp")
    ok(home, "purpose", "add", "becas-inscripcion", "--title", "Inscripción a una beca")
    ok(home, "purpose", "add", "becas-baja", "--title", "Baja de una beca")
    ok(home, "legal-basis", "add", "LGE-art-8", "--title", "Ley General de Educación, art. 8")
    grant = ["acl", "grant", "MX/GOB/SEP/becas", SERVICE, "--legal-basis", "LGE-art-8"]
    assert "granted" in ok(home, *grant, "--purpose", "becas-inscripcion")
    again = ok(home, *grant, "--purpose", "becas-inscripcion")
    assert "nothing changed" in again
    changed = ok(home, *grant, "--purpose", "becas-inscripcion", "--purpose", "becas-baja")
    assert "purposes becas-inscripcion -> becas-baja,becas-inscripcion" in changed
    [listed] = json.loads(ok(home, "acl", "list", "--json"))
    assert listed["purposes"] == ["becas-baja", "becas-inscripcion"]
    assert listed["hidden_until"] is None

    ok(home, "member", "add", "MX/GOB/SAT", "--name", "SAT")
    ok(home, "pki", "issue", "MX/GOB/SAT")
    added = ok(home, "member", "add-cert", "MX/GOB/SAT", "certs/members/MX__GOB__SAT/sign.pem")
    keyid = added.split()[1]
    assert f"certificate {keyid} revoked" in ok(home, "member", "revoke-cert", keyid[:10])
    [sat] = [
        m for m in json.loads(ok(home, "member", "list", "--json")) if m["member"] == "MX/GOB/SAT"
    ]
    assert sat["certificates"] == [{"keyid": keyid, "revoked": True}]


def test_a_bundle_nested_too_deep_is_a_bad_file_not_a_crash(home):
    (home / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    result = run(
        home, "ledger", "check-proof", "deep.json", "--vkey", "certs/gateway/checkpoint.vkey"
    )
    assert "Traceback" not in result.stderr + result.stdout
    assert result.stderr.startswith("error [cli.bad_file]: ") and result.returncode == 2


def _command_paths() -> list[list[str]]:
    """Every command and group of ``enlace``, as the words that name it."""
    import typer.main

    from gateway.cli.main import app

    paths: list[list[str]] = []

    def walk(command: Any, path: list[str]) -> None:  # noqa: ANN401 (typer's own click)
        paths.append(path)
        if hasattr(command, "commands"):  # a group
            for name, sub in command.commands.items():
                walk(sub, [*path, name])

    walk(typer.main.get_command(app), [])
    return paths


@pytest.mark.parametrize("path", _command_paths(), ids=lambda p: " ".join(p) or "enlace")
def test_every_command_s_help_is_shown(path):
    from typer.testing import CliRunner

    from gateway.cli.main import app

    result = CliRunner().invoke(app, [*path, "--help"], prog_name="enlace")
    assert result.exit_code == 0, result.output
    assert result.exception is None and "Usage" in result.output


def test_trust_doc_pins_this_instance_s_checkpoint_key(home):
    from gateway.kernel.ledger import trust

    ok(home, "ledger", "trust-doc", "--out", "pinned.json")
    document = trust.TrustDocument.parse(json.loads((home / "pinned.json").read_text()))
    vkey = (home / "certs" / "gateway" / "checkpoint.vkey").read_text().strip()
    assert document.to_json()["log"]["vkey"] == vkey
    assert document.policy.quorum == 0 and document.policy.witnesses == ()
    refused = run(home, "ledger", "trust-doc", "--quorum", "1", "--out", "pinned.json")
    assert refused.stderr.startswith("error [ledger.key]: ") and refused.returncode == 2


def test_pki_init_with_a_bad_member_creates_nothing(home):
    refused = run(home, "pki", "init", "--member", "garbage", "--pki-dir", "half-made")
    assert refused.stderr.startswith("error [cli.bad_identifier]: ") and refused.returncode == 2
    assert not (home / "half-made").exists()
