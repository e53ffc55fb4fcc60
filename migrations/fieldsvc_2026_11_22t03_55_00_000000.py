"""E-MOCK neighbour fixes: a technician's located facts by time. Piccolo cannot declare a composite partial index,
so this is raw SQL that PostgreSQL and SQLite both accept (and the drift test cannot see)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-11-22T03:55:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "index located phone facts by technician and time"

CREATE = (
    "CREATE INDEX IF NOT EXISTS visit_event_technician_time "
    "ON visit_event (technician, corrected_time) WHERE latitude IS NOT NULL"
)


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="fieldsvc", description=DESCRIPTION)

    async def create_index():
        await engine_finder().run_ddl(CREATE)

    async def drop_index():
        await engine_finder().run_ddl("DROP INDEX IF EXISTS visit_event_technician_time")

    manager.add_raw(create_index)
    manager.add_raw_backwards(drop_index)
    return manager
