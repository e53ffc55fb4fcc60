"""The only module that knows SQLite from PostgreSQL: engines, transactions, locks, conflicts."""

from __future__ import annotations

import io
import logging
import os
import sqlite3
from contextlib import asynccontextmanager, redirect_stdout, suppress
from pathlib import Path
from typing import Any, AsyncIterator
from urllib.parse import urlsplit

import asyncpg
from piccolo.apps.migrations.commands.base import BaseMigrationManager
from piccolo.apps.migrations.commands.forwards import run_forwards
from piccolo.apps.migrations.tables import Migration
from piccolo.engine.base import Engine
from piccolo.engine.postgres import PostgresEngine
from piccolo.engine.sqlite import SQLiteEngine, TransactionType

from fieldsvc import piccolo_conf
from fieldsvc.piccolo_app import APP_CONFIG
from fieldsvc.tables import ALL_TABLES

log = logging.getLogger(__name__)

SQLITE_BUSY_TIMEOUT_SECONDS = 30
POOL_SIZE = 10  # PostgreSQL connections per worker process
# A new PostgreSQL connection that has not been set up by then fails (asyncpg waits 60 s): a server that stopped
# answering held every request a minute before its 503 (a probe).
CONNECT_TIMEOUT_SECONDS = 5.0
MIGRATIONS_LOCK_KEY = 0x319A7E  # `migrate` and `serve` on several hosts at once take turns


def engine_for_url(url: str) -> Engine:
    """Build (not connect) the engine a database URL names."""
    if url.startswith("sqlite:///"):
        # isolation_level=None keeps Piccolo's explicit BEGIN/COMMIT in charge.
        return SQLiteEngine(path=url.removeprefix("sqlite:///"), timeout=SQLITE_BUSY_TIMEOUT_SECONDS)
    parts = urlsplit(url)
    dsn = url.replace(parts.scheme + "://", "postgresql://", 1)
    return PostgresEngine(config={"dsn": dsn, "timeout": CONNECT_TIMEOUT_SECONDS})


def bind_engine(engine: Engine) -> None:
    """Point every table and Piccolo's migration machinery at one engine."""
    os.environ.setdefault("PICCOLO_CONF", "fieldsvc.piccolo_conf")
    piccolo_conf.DB = engine
    for table in (*ALL_TABLES, Migration):
        table._meta.db = engine


def bound_engine() -> Engine | None:
    """The engine bind_engine() last bound the tables to (None before: Piccolo would go looking for a config)."""
    return ALL_TABLES[0]._meta._db


@asynccontextmanager
async def pg_connection(engine: Engine) -> AsyncIterator[Any]:
    """The asyncpg connection of the current transaction, or one from the pool when there is none."""
    transaction = engine.current_transaction.get()
    if transaction is not None:
        yield transaction.connection
    elif engine.pool is not None:
        async with engine.pool.acquire() as connection:
            yield connection
    else:
        connection = await engine.get_new_connection()
        try:
            yield connection
        finally:
            await connection.close()


def is_sqlite(engine: Engine) -> bool:
    return engine.engine_type == "sqlite"


async def open_database(engine: Engine) -> None:
    """Connect for serving: WAL for SQLite readers alongside a writer, a pool for PostgreSQL."""
    if is_sqlite(engine):
        Path(engine.path).parent.mkdir(parents=True, exist_ok=True)
        await engine.run_ddl("PRAGMA journal_mode=WAL")
    else:
        await engine.start_connection_pool(min_size=2, max_size=POOL_SIZE, reset=keep_session)


async def keep_session(connection: Any) -> None:
    """A pooled connection's reset on release, beyond asyncpg's rollback of an open transaction: none.

    asyncpg's default is a round trip per release (unlock advisory locks, close cursors, UNLISTEN, RESET ALL) for
    session state this service never leaves behind: its advisory locks are transaction-scoped, its cursors end with
    their transaction, and it sets no session variable and listens to nothing.
    """


async def close_database(engine: Engine) -> None:
    if not is_sqlite(engine):
        await engine.close_connection_pool()


async def migrate(engine: Engine) -> None:
    """Apply every pending migration in migrations/ to the bound engine, and log which were applied now."""
    if is_sqlite(engine):
        Path(engine.path).parent.mkdir(parents=True, exist_ok=True)
    bind_engine(engine)
    before = await _applied_migrations()
    with redirect_stdout(io.StringIO()) as progress:  # Piccolo prints it; the service's logs are JSON lines
        result = await run_forwards(app_name="fieldsvc", migration_id="all", fake=False)
    if not result.success:
        raise RuntimeError(f"migrations failed: {result.message}\n{progress.getvalue()}")
    applied = await _applied_migrations() - before
    log.info("migrations: %d applied now (%s), %d before", len(applied), ", ".join(sorted(applied)) or "none", len(before))


@asynccontextmanager
async def setting_up_alone(engine: Engine) -> AsyncIterator[None]:
    """Hosts started together take turns on PostgreSQL to migrate and load demo data: each migrating at once, the
    later ones failed on tables and rows the first had just made (a probe). The lock is the session's, held on a
    connection of its own."""
    if is_sqlite(engine):
        yield
        return
    connection = await engine.get_new_connection()
    try:
        await connection.execute(f"SELECT pg_advisory_lock({MIGRATIONS_LOCK_KEY})")
        yield
    finally:
        await connection.close()  # which releases the lock


class NotMigrated(Exception):
    """The database lacks migrations this code needs: commands other than serve and migrate do not apply them."""


def require_database_file(engine: Engine) -> None:
    """On SQLite, refuse a database file that is not there rather than open (make) an empty one: a mistyped data
    directory got a new database, and then the advice to migrate it (a probe). Serve and migrate make it on purpose."""
    if is_sqlite(engine) and not Path(engine.path).exists():
        raise NotMigrated(f"there is no database at {engine.path}: set FIELDSVC_DATA_DIR (or FIELDSVC_DATABASE_URL) to "
                          "the service's, or run `fieldsvc migrate` to make one there")


async def require_migrated() -> None:
    """Refuse to work on a database the migrations in migrations/ have not all reached (a command run before
    `fieldsvc migrate` after an upgrade ended in a traceback about a missing column; a probe)."""
    shipped = BaseMigrationManager().get_migration_modules(APP_CONFIG.migrations_folder_path)
    missing = sorted(set(shipped) - await _applied_migrations())
    if missing:
        raise NotMigrated(f"the database lacks {len(missing)} migration(s) of this version ({', '.join(missing)}): "
                          "run `fieldsvc migrate` (or `fieldsvc serve`) first")


async def _applied_migrations() -> set[str]:
    if not await Migration.table_exists():
        return set()
    return {row["name"] for row in await Migration.select(Migration.name)}


@asynccontextmanager
async def write_transaction(engine: Engine) -> AsyncIterator[None]:
    """A transaction that will write: SQLite takes the write lock up front so read-then-write cannot deadlock."""
    if bound_engine() is not engine:
        # The tables' queries would run outside this transaction: on SQLite, waiting for its own write lock.
        raise RuntimeError("the tables are bound to another engine than this transaction's")
    async with _transaction(engine, TransactionType.immediate):
        yield


_SNAPSHOT = "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY"


@asynccontextmanager
async def read_snapshot(engine: Engine) -> AsyncIterator[None]:
    """Reads that all see one committed state (a record and the trail entries committed with it: both or neither):
    REPEATABLE READ on PostgreSQL; on SQLite a deferred transaction, whose first read fixes its WAL snapshot."""
    async with _transaction(engine, TransactionType.deferred, _SNAPSHOT):
        yield


@asynccontextmanager
async def _transaction(
    engine: Engine, sqlite_type: TransactionType, postgres_setting: str | None = None
) -> AsyncIterator[None]:
    sqlite = is_sqlite(engine)
    transaction = engine.transaction(transaction_type=sqlite_type) if sqlite else engine.transaction()
    try:
        async with transaction:
            if postgres_setting is not None and not sqlite:
                await transaction.connection.execute(postgres_setting)
            yield
    finally:
        await _settle_abandoned_transaction(engine, transaction)


async def _settle_abandoned_transaction(engine: Engine, transaction: Any) -> None:
    """Finish what Piccolo 1.38 leaves undone when a transaction's BEGIN, COMMIT or ROLLBACK fails or is cancelled.

    Piccolo closes (SQLite) or returns to the pool (PostgreSQL) a transaction's connection, and resets
    `engine.current_transaction`, only after BEGIN and then COMMIT or ROLLBACK all succeeded. Otherwise:
    - SQLite: a task cancelled while its BEGIN IMMEDIATE waits for the lock (the auditor, at shutdown) leaves a
      connection whose thread still takes the write lock and then holds it until garbage collection: every other
      writer times out with "database is locked", and the non-daemon thread can keep the process from exiting.
    - PostgreSQL: when the server drops the connection (a restart), "cannot call Transaction.rollback(): the
      underlying connection is closed" leaves the pool slot checked out for good: the pool shrinks by one, and
      closing it at shutdown waits for it forever.
    Closing an already closed connection, or releasing an already released one, does nothing, so this runs after
    every transaction; a nested one (no connection of its own) is left to the outer one.
    """
    connection = getattr(transaction, "connection", None)  # unset when nested, or when connecting failed
    if connection is None:
        return
    context = getattr(transaction, "context", None)
    if context is not None and engine.current_transaction.get() is transaction:
        engine.current_transaction.reset(context)  # or this task's later transactions nest into the dead one
    if is_sqlite(engine):
        if connection._running:  # aiosqlite: not yet closed. Closing rolls back whatever it holds.
            connection.stop()  # queued behind its pending BEGIN, without awaiting: this may run while cancelled
    elif engine.pool is not None:
        with suppress(Exception):  # a connection the pool cannot reset is terminated, and its slot freed
            await engine.pool.release(connection)


def locked(query, engine: Engine):
    """SELECT ... FOR NO KEY UPDATE on PostgreSQL; SQLite's immediate transaction already holds the only write lock.

    NO KEY UPDATE (not UPDATE) lets other transactions insert rows that refer to the locked one (a photo match
    naming another visit) without waiting for it, which would otherwise be a source of deadlocks.
    """
    return query if is_sqlite(engine) else query.lock_rows("NO KEY UPDATE")


async def serialise_appends(engine: Engine, lock_key: int, *, shared: bool = False) -> None:
    """Make concurrent writers of one chain take turns until the surrounding transaction ends. Shared holders (writers
    known not to collide with each other) go on together, and take turns with the exclusive ones."""
    if not is_sqlite(engine):
        lock = "pg_advisory_xact_lock_shared" if shared else "pg_advisory_xact_lock"
        await engine.run_ddl(f"SELECT {lock}({int(lock_key)})")


async def ping(engine: Engine) -> bool:
    try:
        await engine.run_ddl("SELECT 1")
    except (OSError, sqlite3.Error, asyncpg.PostgresError, asyncpg.InterfaceError, asyncpg.InternalClientError):
        return False
    return True


def is_integrity_error(error: BaseException) -> bool:
    return isinstance(error, (sqlite3.IntegrityError, asyncpg.IntegrityConstraintViolationError))


def is_refused_value_error(error: BaseException) -> bool:
    """The database refused a value itself: PostgreSQL's data exceptions (a NUL in text, a number or a date out of
    range, also when asyncpg encodes the argument) or SQLite's datatype mismatch (an integer past 64 bits)."""
    return isinstance(error, asyncpg.DataError) or getattr(error, "sqlite_errorname", None) == "SQLITE_MISMATCH"


def is_contention_error(error: BaseException) -> bool:
    """A transaction the database aborted to end a conflict with another (deadlock, serialization, SQLite busy)."""
    return isinstance(error, (asyncpg.DeadlockDetectedError, asyncpg.SerializationError)) or (
        isinstance(error, sqlite3.OperationalError) and "locked" in str(error)
    )


def is_unavailable_error(error: BaseException) -> bool:
    """Down, unreachable, or a transaction the database chose to abort (deadlock, serialization): answer 503.

    Every write the phones send is idempotent by its event id, so retrying after Retry-After is always safe.
    """
    return is_contention_error(error) or isinstance(
        error,
        (
            OSError,
            asyncpg.CannotConnectNowError,
            asyncpg.ConnectionDoesNotExistError,
            asyncpg.InterfaceError,
            asyncpg.TooManyConnectionsError,
            # A pooled connection that received the server's shutdown while idle fails like this on next use.
            asyncpg.InternalClientError,
            asyncpg.AdminShutdownError,
            asyncpg.CrashShutdownError,
            asyncpg.ConnectionFailureError,
            # The database dropped, or the service's role refused its logins: an operator's to mend (a probe had 500s).
            asyncpg.InvalidCatalogNameError,
            asyncpg.InvalidAuthorizationSpecificationError,
        ),
    ) or _sqlite_file_unusable(error)


def _sqlite_file_unusable(error: BaseException) -> bool:
    """SQLite cannot open or write its file: the data directory gone, read-only, or the disk failing."""
    return isinstance(error, sqlite3.OperationalError) and any(
        words in str(error) for words in ("unable to open", "readonly", "disk I/O")
    )
