"""Alembic environment: online migrations only, URL from the caller's config."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool

from ostium.control.db import identity_rows  # noqa: F401 - its tables join Base.metadata
from ostium.control.db.models import Base

config = context.config
url = config.get_main_option("sqlalchemy.url")
assert url is not None
engine = create_engine(url, poolclass=pool.NullPool)
with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=url.startswith("sqlite"),
    )
    with context.begin_transaction():
        context.run_migrations()
engine.dispose()
