"""Alembic environment: runs migrations on the connection handed over by ``storage.migrate``."""

from __future__ import annotations

from alembic import context

from storage.models import Base

config = context.config
connection = config.attributes.get("connection")

if connection is None:  # pragma: no cover - only when someone runs bare `alembic`
    from sqlalchemy import create_engine

    with create_engine(config.get_main_option("sqlalchemy.url") or "").connect() as conn:
        context.configure(connection=conn, target_metadata=Base.metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
else:
    context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
