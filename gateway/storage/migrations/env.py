"""Alembic environment: runs on the connection the caller hands over (``storage.db.upgrade``)."""

from alembic import context

from gateway.storage.db import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # `alembic` command line: connect from the configured URL
    import sqlalchemy as sa

    engine = sa.create_engine(context.config.get_main_option("sqlalchemy.url") or "")
    with engine.begin() as conn:
        context.configure(connection=conn, target_metadata=metadata)
        context.run_migrations()
else:
    context.configure(connection=connection, target_metadata=metadata)
    context.run_migrations()
