"""What the readiness probe asks of the database: that it answers."""

from __future__ import annotations

from sqlalchemy import text

from tenants import db


def check_database() -> None:
    """A trivial query on a connection of its own; raises when the database
    does not answer it."""
    with db.engine().connect() as connection:
        connection.execute(text("SELECT 1"))
