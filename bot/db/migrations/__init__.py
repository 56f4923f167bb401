"""Kefu's Alembic migrations: ``env.py`` and ``versions/`` ship inside the package, so an installed Kefu
finds them without an ``alembic.ini`` (bot/db/migrate.py configures Alembic in code)."""
