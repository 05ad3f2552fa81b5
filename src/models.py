"""Imports every domain's tables, so Alembic and the tests see the whole metadata."""
