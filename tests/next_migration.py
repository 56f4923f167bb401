"""Kefu's migrations plus one more revision, as a next version of Kefu would ship it (the upgrade tests)."""
from __future__ import annotations

import shutil
from pathlib import Path

from bot.db import migrate


def next_version(tmp_path: Path, revision: str, upgrade: str, downgrade: str = "    pass") -> Path:
    """A copy of the migrations folder with ``revision`` after the head; ``upgrade`` and ``downgrade``
    are the indented bodies of its functions."""
    folder = tmp_path / "migrations"
    shutil.copytree(migrate.MIGRATIONS, folder, ignore=shutil.ignore_patterns("__pycache__"))
    (folder / "versions" / f"{revision}.py").write_text(f'''
import sqlalchemy as sa
from alembic import op

revision = "{revision}"
down_revision = "{migrate.head()}"
branch_labels = None
depends_on = None


def upgrade():
{upgrade}


def downgrade():
{downgrade}
''', encoding="utf-8")
    return folder
