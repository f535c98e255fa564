"""Alembic migrations: the only way twinwatch's database schema is made (see ``schema``)."""
