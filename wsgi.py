"""WSGI entry point for any server: ``gunicorn wsgi:app`` or ``waitress-serve wsgi:app``."""

from api.app import create_app

app = create_app()
