"""Alembic migrations, shipped inside the package so an installed wheel can
run ``partner-api db upgrade`` with no checkout (see tenants/migrate.py)."""
