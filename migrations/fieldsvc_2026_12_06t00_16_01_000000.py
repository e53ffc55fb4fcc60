"""V-SIGN copies: a technician's signatures, found at each new signature's ingest. Piccolo cannot declare a partial
index, so this is raw SQL that PostgreSQL and SQLite both accept (and the drift test cannot see)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-12-06T00:16:01:000000"
VERSION = "1.38.0"
DESCRIPTION = "index signatures by technician"

CREATE = "CREATE INDEX IF NOT EXISTS photo_signature_technician ON photo (technician) WHERE purpose = 'signature'"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="fieldsvc", description=DESCRIPTION)

    async def create_index():
        await engine_finder().run_ddl(CREATE)

    async def drop_index():
        await engine_finder().run_ddl("DROP INDEX IF EXISTS photo_signature_technician")

    manager.add_raw(create_index)
    manager.add_raw_backwards(drop_index)
    return manager
