"""Engine and sessions. One engine per process, created from settings."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable, Iterator
from typing import Any
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
)
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.sql.elements import ColumnElement

import tenants.scoping  # noqa: F401  (registers the scoping events on Session)

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


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})
        event.listen(engine, "connect", _sqlite_pragmas)

        @event.listens_for(engine, "connect")
        def _no_pysqlite_transactions(dbapi_connection, _record) -> None:
            dbapi_connection.isolation_level = None

        event.listen(engine, "begin", _sqlite_begin_immediate)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10)


def configure(url: str) -> Engine:
    global _engine, _session_factory
    if _engine is not None and str(_engine.url) == url:
        return _engine
    if _engine is not None:
        _engine.dispose()
    _engine = make_engine(url)
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
