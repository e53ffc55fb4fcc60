"""A-TRAIL head: start it at the chain's last entry (the genesis hash on an empty chain), so a database migrated
with entries already on its chain verifies whole."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-12-05T22:07:21:000000"
VERSION = "1.38.0"
DESCRIPTION = "A-TRAIL head: its one row, at the last entry of the chain"

GENESIS_HASH = "0" * 64
START = (
    "INSERT INTO trail_head (entry_hash) SELECT COALESCE("
    f"(SELECT entry_hash FROM trail_entry ORDER BY seq DESC LIMIT 1), '{GENESIS_HASH}')"
)


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="fieldsvc", description=DESCRIPTION)

    async def start_head():
        await engine_finder().run_ddl(START)

    async def remove_head():
        await engine_finder().run_ddl("DELETE FROM trail_head")

    manager.add_raw(start_head)
    manager.add_raw_backwards(remove_head)
    return manager
