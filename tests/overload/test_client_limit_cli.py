"""``enlace client limit``: a client's own limits, a ledgered registry change."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from gateway.cli.main import app
from gateway.devtools import bootstrap
from gateway.storage import registry
from gateway.storage.db import ledger_entries


def _run(dev: bootstrap.DevInstance, *args: str) -> tuple[int, str]:
    """Exit code, and the output or the code of the error the command ended with."""
    env = {"ENLACE_DATABASE_URL": dev.settings.database_url, "ENLACE_ACTOR": "admin:ana"}
    result = CliRunner().invoke(app, list(args), env=env)
    return result.exit_code, getattr(result.exception, "code", result.output)


def _snapshot(dev: bootstrap.DevInstance) -> registry.Snapshot:
    with dev.database.read.connect() as conn:
        return registry.load(conn)


def _last_admin(dev: bootstrap.DevInstance) -> dict:
    with dev.database.read.connect() as conn:
        body = conn.execute(
            sa.select(ledger_entries.c.body)
            .where(ledger_entries.c.kind == "admin")
            .order_by(ledger_entries.c.idx.desc())
            .limit(1)
        ).scalar_one()
    return json.loads(body)


def test_a_client_limit_is_set_ledgered_and_cleared(dev: bootstrap.DevInstance) -> None:
    client = str(bootstrap.BECAS)
    code, output = _run(dev, "client", "limit", client, "--rate", "5", "--concurrency", "3")
    assert code == 0, output
    assert _snapshot(dev).limits[client] == registry.ClientLimit(rate=5.0, concurrency=3)
    entry = _last_admin(dev)
    assert (entry["action"], entry["target"]) == ("client.limit", client)
    assert entry["actor"] == "admin:ana"
    assert entry["details"] == {"rate": 5.0, "burst": None, "concurrency": 3}
    code, output = _run(dev, "client", "limit", client)
    assert code == 0 and "the defaults" in output
    assert client not in _snapshot(dev).limits


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (["MX/GOB/SEP/nadie", "--rate", "1"], "registry.unknown_subsystem"),
        ([str(bootstrap.BECAS), "--burst", "0"], "registry.bad_limit"),
    ],
)
def test_a_bad_client_limit_is_refused(
    dev: bootstrap.DevInstance, args: list[str], problem: str
) -> None:
    version = _snapshot(dev).version
    code, output = _run(dev, "client", "limit", *args)
    assert code != 0 and output == problem
    assert _snapshot(dev).version == version
