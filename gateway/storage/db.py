"""Database schema, engines and migrations (SQLAlchemy Core + Alembic).

SQLite is the embedded default and PostgreSQL the production target; the same URL setting
picks either. SQLite runs in WAL mode with ``synchronous=FULL`` (a commit is durable when it
returns; group commit in the ledger writer keeps that cheap) and every write transaction
starts with ``BEGIN IMMEDIATE`` so that two writers (the gateway and an admin CLI) queue on
the lock instead of failing to upgrade a read lock; the gateway's own write transactions also
take their turn in ``writing`` first, a file lock whose waiters the kernel wakes. ``snapshot``
reads on either engine without taking any lock: one consistent view, for work done before the
lock is taken.

PostgreSQL connections carry a connect time-out, a statement time-out and TCP keepalive (with a
TCP user time-out), so that a silently dropped link fails in seconds instead of blocking the
single ledger writer for the kernel's quarter of an hour; ``check_durable`` refuses a server
that acknowledges commits it has not made durable (``fsync`` or ``synchronous_commit`` off).
"""

from __future__ import annotations

import fcntl
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Connection, Engine, make_url

from gateway.kernel.errors import CodedError
from gateway.kernel.settings import Settings

metadata = sa.MetaData()

members = sa.Table(
    "members",
    metadata,
    sa.Column("member_id", sa.String(200), primary_key=True),
    sa.Column("name", sa.String(300), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    # Where a citizen turns about this member's accesses (a URL, an address, a phone).
    sa.Column("contact", sa.String(500)),
)

# The purposes and legal bases grants may name, with the titles citizens read.
purposes = sa.Table(
    "purposes",
    metadata,
    sa.Column("code", sa.String(128), primary_key=True),
    sa.Column("title", sa.String(300), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

legal_bases = sa.Table(
    "legal_bases",
    metadata,
    sa.Column("code", sa.String(128), primary_key=True),
    sa.Column("title", sa.String(300), nullable=False),
    sa.Column("url", sa.String(500)),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

subsystems = sa.Table(
    "subsystems",
    metadata,
    sa.Column("client_id", sa.String(270), primary_key=True),
    sa.Column("member_id", sa.String(200), sa.ForeignKey("members.member_id"), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

# A client subsystem's own rate and concurrency limits; a null column, or no row: the default.
client_limits = sa.Table(
    "client_limits",
    metadata,
    sa.Column("client_id", sa.String(270), sa.ForeignKey("subsystems.client_id"), primary_key=True),
    sa.Column("rate", sa.Float),  # requests a second
    sa.Column("burst", sa.Integer),
    sa.Column("concurrency", sa.Integer),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

certificates = sa.Table(
    "certificates",
    metadata,
    sa.Column("keyid", sa.String(64), primary_key=True),
    sa.Column("member_id", sa.String(200), sa.ForeignKey("members.member_id"), nullable=False),
    sa.Column("pem", sa.Text, nullable=False),
    sa.Column("not_after", sa.DateTime(timezone=True), nullable=False),
    sa.Column("revoked_at", sa.DateTime(timezone=True)),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

sources = sa.Table(
    "sources",
    metadata,
    sa.Column("code", sa.String(64), primary_key=True),
    sa.Column("provider", sa.String(270), sa.ForeignKey("subsystems.client_id"), nullable=False),
    sa.Column("adapter", sa.String(64)),
    sa.Column("url", sa.String(500)),
    sa.Column("tls_cert_pem", sa.Text),
    sa.Column("options", sa.JSON, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

services = sa.Table(
    "services",
    metadata,
    sa.Column("service_id", sa.String(350), primary_key=True),
    sa.Column("source", sa.String(64), sa.ForeignKey("sources.code"), nullable=False),
    sa.Column("operation", sa.String(64), nullable=False),
    sa.Column("description", sa.String(500), nullable=False),
    sa.Column("methods", sa.String(40), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

grants = sa.Table(
    "grants",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("client", sa.String(270), sa.ForeignKey("subsystems.client_id"), nullable=False),
    sa.Column("service", sa.String(350), sa.ForeignKey("services.service_id"), nullable=False),
    sa.Column("purposes", sa.JSON, nullable=False),
    sa.Column("legal_bases", sa.JSON, nullable=False),
    sa.Column("hidden_until", sa.Date),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("revoked_at", sa.DateTime(timezone=True)),
    sa.Index(
        "grants_one_active",
        "client",
        "service",
        unique=True,
        sqlite_where=sa.text("revoked_at IS NULL"),
        postgresql_where=sa.text("revoked_at IS NULL"),
    ),
)

registry_state = sa.Table(
    "registry_state",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("version", sa.BigInteger, nullable=False),
)

ledger_entries = sa.Table(
    "ledger_entries",
    metadata,
    sa.Column("idx", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("leaf_hash", sa.LargeBinary(32), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("recorded_at", sa.String(40), nullable=False),
    sa.Column("exchange_id", sa.String(128)),
    sa.Column("client", sa.String(270)),
    sa.Column("service", sa.String(350)),
    sa.Column("outcome", sa.String(40), nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Index("ledger_by_client", "client", "idx"),
)

# Which entries concern which data subject (by pseudonym): the citizen's index into the ledger.
ledger_subjects = sa.Table(
    "ledger_subjects",
    metadata,
    sa.Column("subject", sa.String(64), primary_key=True),
    sa.Column("idx", sa.BigInteger, primary_key=True, autoincrement=False),
    # The subject map folds the rows appended since its last head (docs/ledger.md §12).
    sa.Index("ledger_subjects_by_idx", "idx"),
)

ledger_state = sa.Table(
    "ledger_state",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("size", sa.BigInteger, nullable=False),
    # merkle.CompactRange.to_bytes() of [0, size): the tree's frontier, updated with ``size``.
    sa.Column("compact_range", sa.LargeBinary, nullable=False),
)

# Every perfect subtree hash of the Merkle tree, leaves (level 0) included (docs/ledger.md).
ledger_nodes = sa.Table(
    "ledger_nodes",
    metadata,
    sa.Column("level", sa.SmallInteger, primary_key=True, autoincrement=False),
    sa.Column("idx", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("hash", sa.LargeBinary(32), nullable=False),
    sqlite_with_rowid=False,
)

# Signed tree heads: the gateway's C2SP checkpoint note, with any witness cosignatures appended.
ledger_checkpoints = sa.Table(
    "ledger_checkpoints",
    metadata,
    sa.Column("size", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("root", sa.LargeBinary(32), nullable=False),
    sa.Column("note", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("cosigned_at", sa.DateTime(timezone=True)),
)

# Replay claims shared by every gateway process (``gateway.storage.replay``): a signed request's
# nonce and X-Road-Id, by SHA-256, until the signature window has passed.
replay_claims = sa.Table(
    "replay_claims",
    metadata,
    sa.Column("key", sa.LargeBinary(32), primary_key=True),
    sa.Column("expires_at", sa.BigInteger, nullable=False),  # ms since the epoch
)


# The subject map (docs/ledger.md §12): its tree's nodes at their current version, keyed by
# (depth, path); a leaf also holds its key and value hash.
ledger_map_nodes = sa.Table(
    "ledger_map_nodes",
    metadata,
    sa.Column("depth", sa.SmallInteger, primary_key=True, autoincrement=False),
    sa.Column("path", sa.LargeBinary(32), primary_key=True),
    sa.Column("hash", sa.LargeBinary(32), nullable=False),
    sa.Column("key", sa.LargeBinary(32)),
    sa.Column("value", sa.LargeBinary(32)),
    sqlite_with_rowid=False,
)

# Each key's value in the newest map head: its entry count, latest index and chain.
ledger_map_values = sa.Table(
    "ledger_map_values",
    metadata,
    sa.Column("subject", sa.String(64), primary_key=True),
    sa.Column("count", sa.BigInteger, nullable=False),
    sa.Column("latest", sa.BigInteger, nullable=False),
    sa.Column("chain", sa.LargeBinary(32), nullable=False),
)

# The newest map head: its index (-1: none yet), number of keys and root.
ledger_map_state = sa.Table(
    "ledger_map_state",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("head", sa.BigInteger, nullable=False),
    sa.Column("keys", sa.BigInteger, nullable=False),
    sa.Column("root", sa.LargeBinary(32), nullable=False),
)

# Covert entries' private lookup: the citizen's pseudonym and the index of an entry recorded
# under its covert key instead (never committed; ``enlace ledger verify`` checks each row).
ledger_covert = sa.Table(
    "ledger_covert",
    metadata,
    sa.Column("subject", sa.String(64), primary_key=True),
    sa.Column("idx", sa.BigInteger, primary_key=True, autoincrement=False),
)


#: The database systems Enlace runs on (SQLAlchemy backend names).
BACKENDS = ("sqlite", "postgresql")

#: How to create the schema, for the messages that refuse a database without one.
CREATE_HINT = "create it with `enlace db upgrade`"


class DatabaseError(CodedError):
    """The database setting cannot be used as given: a malformed URL, an unsupported system, a
    database that does not exist or has no schema (``db.*``); the message says what to do."""


class DatabaseUnavailable(CodedError):
    """The database could not be reached or refused the connection (``db.unavailable``)."""


@dataclass(frozen=True)
class Database:
    """Two engines over one database: ``write`` takes the write lock at BEGIN, ``read`` never."""

    url: str
    write: Engine
    read: Engine

    @property
    def is_sqlite(self) -> bool:
        return self.write.dialect.name == "sqlite"

    @property
    def in_memory(self) -> bool:
        """An in-memory SQLite database: no other process can open it."""
        return self.is_sqlite and _sqlite_path(make_url(self.url)) is None

    def dispose(self) -> None:
        self.write.dispose()
        self.read.dispose()


def _sqlite_engine(url: str, immediate: bool) -> Engine:
    engine = sa.create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

    @sa.event.listens_for(engine, "connect")
    def _connect(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @sa.event.listens_for(engine, "begin")
    def _begin(conn) -> None:  # type: ignore[no-untyped-def]
        locks = immediate and not conn.get_execution_options().get(_SNAPSHOT, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if locks else "BEGIN")

    return engine


#: The execution option of ``snapshot``'s connections on SQLite: a deferred ``BEGIN``.
_SNAPSHOT = "enlace_snapshot"


@contextmanager
def snapshot(engine: Engine) -> Iterator[Connection]:
    """A read-only transaction on ``engine`` (the write one too) that takes no lock and sees
    one snapshot of the committed database: SQLite's deferred ``BEGIN`` (in WAL mode, a
    snapshot from its first read, blocking no writer), PostgreSQL's ``REPEATABLE READ READ
    ONLY``."""
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            conn.execution_options(**{_SNAPSHOT: True})
        else:
            conn.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
        with conn.begin():
            yield conn


@contextmanager
def writing(engine: Engine) -> Iterator[None]:
    """Wait for the database's write turn in the kernel, not in SQLite: a file lock beside a
    SQLite file (``<file>.write-lock``, ``flock``) held around each write transaction of the
    gateway's (its ledger writer's batches, its signer's checkpoints, in whichever process).
    SQLite's own busy wait polls, sleeping up to 25-100 ms between tries, so a batch waiting
    behind a checkpoint would wait that much longer than the checkpoint; a ``flock`` waiter
    wakes when the holder lets go. A no-op on PostgreSQL (its row lock wakes waiters) and in
    memory."""
    path = beside(engine.url, ".write-lock")
    if path is None:
        yield
        return
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def normalise_url(url: str) -> str:
    """Accept plain ``postgresql://`` URLs and map them to the psycopg 3 driver."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def beside(url: str | sa.URL, suffix: str) -> Path | None:
    """The file named like a SQLite database file plus ``suffix``, beside it (its lock files);
    None for PostgreSQL or an in-memory database."""
    parsed = make_url(url)
    path = _sqlite_path(parsed) if parsed.get_backend_name() == "sqlite" else None
    if path is None:
        return None
    path = path.resolve()
    return path.with_name(path.name + suffix)


def _sqlite_path(url: sa.URL) -> Path | None:
    """The file of a SQLite URL; None for an in-memory database."""
    return Path(url.database) if url.database and url.database != ":memory:" else None


class UnsafeDatabase(CodedError):
    """PostgreSQL would acknowledge commits that a crash can undo."""

    def __init__(self, message: str) -> None:
        super().__init__("db.unsafe", message)


def pg_connect_args(settings: Settings) -> dict[str, object]:
    """libpq's time-outs and keepalive for every PostgreSQL connection (psycopg 3)."""
    idle = settings.db_keepalive
    return {
        "connect_timeout": settings.db_connect_timeout,
        "keepalives": 1,
        "keepalives_idle": idle,
        "keepalives_interval": max(1, idle // 3),
        "keepalives_count": 3,
        # Unacknowledged data (a write into a dead link) fails too, not only an idle link.
        "tcp_user_timeout": idle * 3 * 1000,
        "options": f"-c statement_timeout={round(settings.db_statement_timeout * 1000)}",
    }


def open_database(url: str, settings: Settings | None = None, *, create: bool = True) -> Database:
    """Engines for the database at ``url``; PostgreSQL's time-outs come from ``settings`` (else
    defaults). ``create=False`` refuses a SQLite file that does not exist (a typo must not
    create an empty database) instead of creating it and its folder."""
    url = normalise_url(url)
    try:
        parsed = make_url(url)
    except sa.exc.ArgumentError:
        raise DatabaseError(
            "db.bad_url",
            f"{hide_password(url)!r} is not a database URL (sqlite:///PATH or "
            "postgresql://USER@HOST/DB)",
        ) from None
    if parsed.get_backend_name() not in BACKENDS:
        raise DatabaseError(
            "db.bad_url",
            f"{parsed.get_backend_name()} is not supported: use sqlite:///PATH or "
            "postgresql://USER@HOST/DB",
        )
    if parsed.get_backend_name() == "sqlite":
        path = _sqlite_path(parsed)
        if path is not None and not create and not path.is_file():
            raise DatabaseError("db.missing", f"no database at {path}: {CREATE_HINT}")
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        return Database(url, _sqlite_engine(url, True), _sqlite_engine(url, False))
    engine = sa.create_engine(
        url,
        pool_size=10,
        max_overflow=10,
        pool_pre_ping=True,
        connect_args=pg_connect_args(settings or Settings()),
    )
    return Database(url, engine, engine)


def check_durable(db: Database, *, allow_unsafe: bool = False) -> None:
    """Refuse a PostgreSQL server with ``fsync`` or ``synchronous_commit`` off (SQLite's
    durability is set by this module) unless ``allow_unsafe`` (``ENLACE_ALLOW_UNSAFE_DB=1``)."""
    if db.is_sqlite or allow_unsafe:
        return
    with db.read.connect() as conn:
        fsync = conn.exec_driver_sql("SHOW fsync").scalar_one()
        synchronous = conn.exec_driver_sql("SHOW synchronous_commit").scalar_one()
    if fsync != "on" or synchronous == "off":
        raise UnsafeDatabase(
            f"PostgreSQL has fsync={fsync}, synchronous_commit={synchronous}: turn both on, "
            "or set ENLACE_ALLOW_UNSAFE_DB=1 to accept losing acknowledged exchanges on a crash"
        )


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    cfg.set_main_option("sqlalchemy.url", normalise_url(url).replace("%", "%%"))
    return cfg


def hide_password(url: str) -> str:
    """``url`` fit for a message: any password replaced by ``***``."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return url


_NO_SUCH_DATABASE = re.compile(r'FATAL:\s+database ".*" does not exist')


@contextmanager
def _reachable(db: Database) -> Iterator[None]:
    """Turn a failure to connect (or a file that is no database) into ``DatabaseUnavailable``
    naming the database."""
    try:
        yield
    except sa.exc.DBAPIError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else "no connection"
        # PostgreSQL's refusal of a database name it does not know (psycopg gives no SQLSTATE
        # before the connection is made): a mistyped URL, as for a missing SQLite file.
        if _NO_SUCH_DATABASE.search(reason):
            raise DatabaseError(
                "db.missing",
                f"no database {hide_password(db.url)}: create it (createdb), then its schema "
                "with `enlace db upgrade`",
            ) from None
        raise DatabaseUnavailable(
            "db.unavailable", f"cannot use the database {hide_password(db.url)}: {reason}"
        ) from None


def check_schema(db: Database) -> None:
    """Refuse a database without Enlace's schema (``db.no_schema``), saying how to create it."""
    with _reachable(db), db.read.connect() as conn:
        present = sa.inspect(conn).has_table(registry_state.name)
    if not present:
        raise DatabaseError(
            "db.no_schema", f"the database {hide_password(db.url)} has no schema: {CREATE_HINT}"
        )


def upgrade(db: Database) -> None:
    """Bring the schema to the newest migration (idempotent)."""
    cfg = alembic_config(db.url)
    with _reachable(db), db.write.begin() as conn:
        if not db.is_sqlite:
            # A migration may rewrite a large table: no statement time-out for it.
            conn.exec_driver_sql("SET LOCAL statement_timeout = 0")
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
