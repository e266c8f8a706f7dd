"""Engine and sessions. One engine per process, created from settings.

On PostgreSQL the service's engine runs every query as ``APP_ROLE``, under the
row-level security of migration 0011, with the scope in force
(tenants/scoping.py) in transaction-local settings the policies read.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any
from typing import cast as type_cast

from sqlalchemy import (
    ARRAY,
    CursorResult,
    Engine,
    Result,
    any_,
    cast,
    create_engine,
    event,
    literal,
    text,
)
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.sql.elements import ColumnElement

from tenants import scoping  # (importing it registers the scoping events on Session)

if TYPE_CHECKING:
    import psycopg

# The role the service's queries run as on PostgreSQL (created by migration
# 0011). Not a superuser and not the tables' owner, so row security holds.
APP_ROLE = "partner_api_app"

_engine: Engine | None = None
_session_factory: sessionmaker[Session] | None = None


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets the API read while a worker writes; busy_timeout waits for the
    # single writer instead of failing at once.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _sqlite_begin_immediate(conn) -> None:
    # Take the write lock at BEGIN so two writers queue instead of deadlocking
    # on a read-to-write upgrade.
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def _take_role(role: str) -> Callable[..., None]:
    def take(dbapi_connection, _record) -> None:
        # Outside a transaction, so no rollback undoes it: the connection keeps
        # the role for its life (a transaction-local ``SET LOCAL ROLE`` may
        # still change it for one transaction, see ``as_login_role``).
        autocommit = dbapi_connection.autocommit
        dbapi_connection.autocommit = True
        try:
            dbapi_connection.execute(f'SET ROLE "{role}"')
        except Exception as exc:
            raise RuntimeError(
                f"the database user cannot take the role {role}: run `partner-api db upgrade`, "
                f"and when it is no superuser, GRANT {role} TO it (docs/deployment.md)"
            ) from exc
        finally:
            dbapi_connection.autocommit = autocommit

    return take


# --- the scope, as row-level security reads it -----------------------------------
# Set with ``set_config(..., true)``: the settings last until the transaction
# ends, so a connection back in the pool carries no scope. Before each statement
# the settings are brought in line with the scope in force, which costs one
# round trip when they change (the first statement in a scope, the first after
# leaving it), none otherwise.

_SET_SCOPE = (
    "SELECT set_config('partner_api.scope', %s, true), "
    "set_config('partner_api.tenant_id', %s, true), "
    "set_config('partner_api.partner_id', %s, true)"
)
_NO_SCOPE = ("", "", "")
_APPLIED = "partner_api.row_security"


def _apply_scope(driver: psycopg.Connection, info: dict) -> None:
    from psycopg.pq import TransactionStatus

    wanted = scoping.row_security_settings()
    if driver.info.transaction_status == TransactionStatus.IDLE:
        applied = _NO_SCOPE  # a new transaction starts with no setting
    else:
        applied = info.get(_APPLIED, _NO_SCOPE)
    if wanted != applied:
        driver.execute(_SET_SCOPE, wanted)
    info[_APPLIED] = wanted


def _scope_before_statement(conn, cursor, statement, parameters, context, executemany) -> None:
    _apply_scope(cursor.connection, conn.info)


def driver_connection(session: Session) -> psycopg.Connection:
    """The psycopg connection under the session's (PostgreSQL only), with the
    scope's row-security settings in place: for COPY and other work that
    goes past SQLAlchemy."""
    connection = session.connection()
    driver = type_cast("psycopg.Connection", connection.connection.driver_connection)
    _apply_scope(driver, connection.info)
    return driver


def as_login_role(session: Session) -> None:
    """For the rest of the session's transaction, run as the user the service
    logged in as rather than ``APP_ROLE``: only for maintenance the role may
    not do (``ANALYZE`` needs the tables' owner). A superuser is not held by
    row security, so never read or write tenant data in such a transaction."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET LOCAL ROLE NONE"))


def make_engine(url: str, *, role: str | None = None) -> Engine:
    """An engine for ``url``. On PostgreSQL, with ``role`` every connection
    takes that role (the service's engine: ``configure``); without, queries
    run as the user of the URL (migrations, which create and alter tables)."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})
        event.listen(engine, "connect", _sqlite_pragmas)

        @event.listens_for(engine, "connect")
        def _no_pysqlite_transactions(dbapi_connection, _record) -> None:
            dbapi_connection.isolation_level = None

        event.listen(engine, "begin", _sqlite_begin_immediate)
        return engine
    engine = create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10)
    if role:
        event.listen(engine, "connect", _take_role(role))
    event.listen(engine, "before_cursor_execute", _scope_before_statement)
    return engine


def configure(url: str) -> Engine:
    """The process's engine and sessions; on PostgreSQL, as ``APP_ROLE``."""
    global _engine, _session_factory
    if _engine is not None and str(_engine.url) == url:
        return _engine
    if _engine is not None:
        _engine.dispose()
    _engine = make_engine(url, role=APP_ROLE)
    _session_factory = sessionmaker(_engine, expire_on_commit=False)
    return _engine


def engine() -> Engine:
    if _engine is None:
        raise RuntimeError("database not configured: call tenants.db.configure(url) first")
    return _engine


def new_session() -> Session:
    if _session_factory is None:
        raise RuntimeError("database not configured: call tenants.db.configure(url) first")
    return _session_factory()


@contextlib.contextmanager
def transaction() -> Iterator[Session]:
    """A session whose work commits on success and rolls back on any error."""
    session = new_session()
    try:
        with session.begin():
            yield session
    finally:
        session.close()


# --- after-commit hooks -------------------------------------------------------
# Work that must happen only once the transaction is durable (enqueueing jobs)
# is registered on the session and run after COMMIT; a rollback drops it.

_log = logging.getLogger(__name__)


def after_commit(session: Session, callback: Callable[[], None]) -> None:
    session.info.setdefault("after_commit", []).append(callback)


@event.listens_for(Session, "after_commit")
def _run_after_commit(session: Session) -> None:
    callbacks = session.info.pop("after_commit", [])
    for callback in callbacks:
        try:
            callback()
        except Exception:
            # The rows are committed; the sweeper finds and re-enqueues them.
            _log.exception("after-commit callback failed; the sweeper will recover the work")


@event.listens_for(Session, "after_rollback")
def _drop_after_commit(session: Session) -> None:
    session.info.pop("after_commit", None)


def _dispose_in_child() -> None:
    # A forked process (an RQ work horse) must not share the parent's sockets.
    if _engine is not None:
        _engine.dispose(close=False)


os.register_at_fork(after_in_child=_dispose_in_child)


def one_of(session: Session, column, values) -> ColumnElement[bool]:
    """``column IN values`` for a chunk's worth of values.

    On PostgreSQL the values travel as one array parameter (``= ANY(...)``),
    so the statement text stays the same whatever their number -- no
    thousand placeholders to render and parse for every chunk.
    """
    values = list(values)
    if session.get_bind().dialect.name == "postgresql":
        return column == any_(cast(literal(values, ARRAY(column.type)), ARRAY(column.type)))
    return column.in_(values)


def affected_rows(result: Result[Any]) -> int:
    """The rows an UPDATE or DELETE changed (Session.execute types its answer
    as a plain Result; for those statements it is a CursorResult)."""
    return type_cast(CursorResult[Any], result).rowcount or 0
