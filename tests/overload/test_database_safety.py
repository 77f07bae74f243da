"""PostgreSQL's time-outs, keepalive and durability check; durable replacement of files."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from gateway.kernel.durable import replace_durably
from gateway.kernel.settings import Settings
from gateway.storage import db as dbm


def test_postgres_connections_carry_timeouts_and_keepalive(postgres_url: str) -> None:
    settings = Settings(db_statement_timeout=7.5, db_keepalive=20)
    opened = dbm.open_database(postgres_url, settings)
    try:
        with opened.read.connect() as conn:
            assert conn.exec_driver_sql("SHOW statement_timeout").scalar_one() == "7500ms"
            # The client's side of the link: libpq's own parameters of this connection.
            info = conn.connection.dbapi_connection.info  # type: ignore[union-attr]
            params = info.get_parameters()
            assert params["connect_timeout"] == "10"
            assert params["keepalives_idle"] == "20"
            assert params["tcp_user_timeout"] == "60000"
    finally:
        opened.dispose()


def test_migrations_run_without_a_statement_timeout(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[str] = []

    def upgrade(cfg: Any, revision: str) -> None:
        conn = cfg.attributes["connection"]
        seen.append(conn.exec_driver_sql("SHOW statement_timeout").scalar_one())

    monkeypatch.setattr(dbm.command, "upgrade", upgrade)
    opened = dbm.open_database(postgres_url, Settings(db_statement_timeout=5))
    try:
        dbm.upgrade(opened)
    finally:
        opened.dispose()
    assert seen == ["0"]


def test_a_postgres_without_durable_commits_is_refused_unless_allowed(postgres_url: str) -> None:
    name = sa.engine.make_url(postgres_url).database
    opened = dbm.open_database(postgres_url)
    try:
        dbm.check_durable(opened)  # the server's defaults: fsync and synchronous_commit on
        with opened.write.connect() as conn:
            conn.exec_driver_sql(f'ALTER DATABASE "{name}" SET synchronous_commit = off')
            conn.commit()
        opened.dispose()  # new connections see the database's setting
        with pytest.raises(dbm.UnsafeDatabase) as refused:
            dbm.check_durable(opened)
        assert refused.value.code == "db.unsafe"
        assert "ENLACE_ALLOW_UNSAFE_DB=1" in refused.value.message
        dbm.check_durable(opened, allow_unsafe=True)
    finally:
        opened.dispose()


def test_sqlite_needs_no_check(tmp_path: Path) -> None:
    opened = dbm.open_database(f"sqlite:///{tmp_path / 'x.db'}")
    dbm.check_durable(opened)
    opened.dispose()


def test_the_variable_allows_an_unsafe_database(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENLACE_ALLOW_UNSAFE_DB", "1")
    assert Settings.from_env().allow_unsafe_db is True


def test_durable_replace_syncs_the_file_and_its_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "checkpoint.last"
    target.write_bytes(b"old")
    synced: list[bool] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        synced.append(os.path.isdir(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    replace_durably(target, b"new")
    assert target.read_bytes() == b"new"
    assert synced == [False, True]  # the data, then the directory holding the rename
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.last"]
