"""Alembic environment: runs on the connection modelbay hands over (see ``registry.db``)."""

from alembic import context

from modelbay.registry.tables import Base

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
