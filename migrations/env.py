"""Alembic environment: the URL comes from the service's settings."""

from __future__ import annotations

from alembic import context

from config.settings import Settings
from tenants.db import make_engine
from tenants.models import Base
from tenants.scoping import unscoped

config = context.config
target_metadata = Base.metadata


def _url() -> str:
    return config.get_main_option("sqlalchemy.url") or Settings.from_env().database_url


def run_migrations_offline() -> None:
    context.configure(
        url=_url(), target_metadata=target_metadata, literal_binds=True, render_as_batch=True
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    url = _url()
    engine = make_engine(url)
    # A data migration reads and writes every tenant's rows: on PostgreSQL,
    # row-level security (0011) holds the tables' owner too unless it is a
    # superuser, so the migrations run in the named bypass.
    with unscoped("migrations: every tenant's rows"), engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=url.startswith("sqlite"),
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
