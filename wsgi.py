"""Entry point for WSGI servers: ``gunicorn wsgi:app``."""

from partner_api.app import create_app

app = create_app()
