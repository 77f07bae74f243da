"""The settings object: environment parsing, overrides, bad values, and the docs table."""

from __future__ import annotations

import re
from pathlib import Path

import pydantic
import pytest

from gateway.devtools import doctables
from gateway.kernel import errors
from gateway.kernel.settings import Settings, SettingsError, env_var, markdown_table

OPERATIONS = Path(__file__).resolve().parents[2] / "docs" / "operations.md"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No ENLACE_* variable of the machine running the tests leaks into them."""
    for name in Settings.model_fields:
        monkeypatch.delenv(env_var(name), raising=False)


def test_defaults_are_the_embedded_mode() -> None:
    settings = Settings.from_env()
    assert settings == Settings()
    assert settings.database_url == "sqlite:///var/enlace.db"
    assert settings.pki_dir == Path("certs")
    assert (settings.max_body, settings.source_timeout, settings.public_hosts) == (1 << 20, 10, ())
    assert settings.public_url is None and settings.actor is None


def test_every_field_is_read_from_its_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "ENLACE_DATABASE_URL": "postgresql://enlace@db/enlace",
        "ENLACE_PKI_DIR": "/etc/enlace/certs",
        "ENLACE_INSTANCE": "GT",
        "ENLACE_SCHEMA_DIR": "/srv/schemas",
        "ENLACE_ACTOR": "admin:ana",
        "ENLACE_MAX_BODY": "2048",
        "ENLACE_SOURCE_TIMEOUT": "2.5",
        "ENLACE_REGISTRY_POLL": "0.5",
        "ENLACE_LEDGER_MAX_BATCH": "64",
        "ENLACE_LEDGER_COMMIT_TIMEOUT": "5",
        "ENLACE_CITIZEN_SAT_TRUST_DIR": "/srv/sat",
        "ENLACE_CITIZEN_OCSP_URL": "http://ocsp.sat/",
        "ENLACE_CITIZEN_TOKEN_TTL": "60",
        "ENLACE_CITIZEN_ATTEMPTS_PER_MINUTE": "0",
    }.items():
        monkeypatch.setenv(name, value)
    settings = Settings.from_env()
    assert settings.database_url == "postgresql://enlace@db/enlace"
    assert settings.pki_dir == Path("/etc/enlace/certs")
    assert settings.instance == "GT"
    assert settings.schema_dir == Path("/srv/schemas")
    assert settings.actor == "admin:ana"
    assert (settings.max_body, settings.source_timeout, settings.registry_poll) == (2048, 2.5, 0.5)
    assert (settings.ledger_max_batch, settings.ledger_commit_timeout) == (64, 5.0)
    assert settings.citizen_sat_trust_dir == Path("/srv/sat")
    assert settings.citizen_ocsp_url == "http://ocsp.sat/"
    assert (settings.citizen_token_ttl, settings.citizen_attempts_per_minute) == (60, 0.0)


def test_hosts_are_a_comma_separated_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENLACE_PUBLIC_HOSTS", " enlace.gob.mx, 10.0.0.1:8443 ,,")
    assert Settings.from_env().public_hosts == ("enlace.gob.mx", "10.0.0.1:8443")


def test_public_url_loses_its_trailing_slash(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENLACE_PUBLIC_URL", " https://enlace.gob.mx:8443/ ")
    assert Settings.from_env().public_url == "https://enlace.gob.mx:8443"


def test_an_empty_variable_counts_as_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("ENLACE_DATABASE_URL", "ENLACE_MAX_BODY", "ENLACE_CITIZEN_OCSP_URL"):
        monkeypatch.setenv(name, "")
    assert Settings.from_env() == Settings()


def test_overrides_win_and_none_means_not_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENLACE_DATABASE_URL", "sqlite:///env.db")
    monkeypatch.setenv("ENLACE_PKI_DIR", "env-certs")
    settings = Settings.from_env(database_url="sqlite:///option.db", pki_dir=None)
    assert settings.database_url == "sqlite:///option.db"
    assert settings.pki_dir == Path("env-certs")


def test_direct_construction_ignores_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENLACE_INSTANCE", "GT")
    assert Settings(pki_dir=Path("x")).instance == "MX"


def test_settings_are_immutable() -> None:
    settings = Settings()
    with pytest.raises(pydantic.ValidationError):
        settings.max_body = 1  # type: ignore[misc]


@pytest.mark.parametrize(
    ("variable", "value", "problem"),
    [
        ("ENLACE_MAX_BODY", "1MB", "valid integer"),
        ("ENLACE_MAX_BODY", "0", "greater than 0"),
        ("ENLACE_SOURCE_TIMEOUT", "soon", "valid number"),
        ("ENLACE_CITIZEN_ATTEMPTS_BURST", "-1", "greater than or equal to 0"),
        ("ENLACE_PUBLIC_URL", "enlace.gob.mx", "http(s)://host[:port]"),
        ("ENLACE_PUBLIC_URL", "https://enlace.gob.mx/r1", "http(s)://host[:port]"),
        ("ENLACE_REDIS_URL", "garbage", "redis://host:port/db"),
        ("ENLACE_INSTANCE", "M X", "one identifier segment"),
    ],
)
def test_a_bad_value_names_its_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, problem: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as caught:
        Settings.from_env()
    assert caught.value.code == "config.invalid"
    assert f"{variable}={value!r}" in caught.value.message
    assert problem in caught.value.message


def test_every_bad_value_is_reported_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENLACE_MAX_BODY", "x")
    monkeypatch.setenv("ENLACE_CITIZEN_TOKEN_TTL", "y")
    with pytest.raises(SettingsError, match="ENLACE_MAX_BODY=.*ENLACE_CITIZEN_TOKEN_TTL="):
        Settings.from_env()


def test_an_unknown_override_is_refused() -> None:
    with pytest.raises(SettingsError, match="max_bodies: there is no such setting"):
        Settings.from_env(max_bodies=1)


def test_every_field_has_a_one_line_doc() -> None:
    for name, field in Settings.model_fields.items():
        assert field.description and "\n" not in field.description, name


def _table(markdown: str) -> str:
    match = re.search(r"^\| variable \| default \| meaning \|\n(?:\|.*\n)*", markdown, re.M)
    assert match, "docs/operations.md has no settings table"
    return match.group(0)


def test_the_operations_table_is_the_settings_object() -> None:
    documented = _table(OPERATIONS.read_text(encoding="utf-8"))
    assert documented == markdown_table(), (
        "docs/operations.md's settings table is stale: replace it with the output of "
        "`python -m gateway.devtools.doctables`"
    )


def test_the_table_lists_every_variable_once() -> None:
    rows = markdown_table().splitlines()[2:]
    assert [row.split("`")[1] for row in rows] == [env_var(n) for n in Settings.model_fields]


def test_the_doc_tables_tool_rewrites_a_stale_table() -> None:
    stale = (
        "intro\n\n| variable | default | meaning |\n|---|---|---|\n| `OLD` | 1 | gone |\n\nrest\n"
    )
    stale += errors.markdown_table() + "\nend\n"
    fresh = doctables.refreshed(stale)
    assert markdown_table() in fresh and "`OLD`" not in fresh
    assert fresh.endswith("end\n") and fresh.startswith("intro\n")
    assert doctables.main(["--check"]) == 0  # docs/operations.md is in step
