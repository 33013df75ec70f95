"""Alembic migrations for ostium's schema."""
