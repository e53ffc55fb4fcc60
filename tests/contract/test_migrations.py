"""tables.py and migrations/ describe the same schema, and migrations stand on their own."""

from __future__ import annotations

from itertools import chain
from pathlib import Path

from piccolo.apps.migrations.commands.new import AutoMigrationManager

from fieldsvc.piccolo_app import APP_CONFIG

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


async def test_tables_and_migrations_agree():
    statements = await AutoMigrationManager().get_alter_statements(app_config=APP_CONFIG)
    pending = list(chain(*[s.statements for s in statements]))
    assert pending == [], "tables.py changed without a migration: run `piccolo migrations new fieldsvc --auto`"


def test_migrations_never_import_the_live_tables():
    for migration in MIGRATIONS.glob("*.py"):
        assert "fieldsvc.tables" not in migration.read_text(), migration.name
