from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import ForeignKey

ID = "2026-11-22T03:42:08:453554"
VERSION = "1.38.0"
DESCRIPTION = "index phone facts by technician (E-MOCK neighbours)"


async def forwards():
    manager = MigrationManager(
        migration_id=ID, app_name="fieldsvc", description=DESCRIPTION
    )

    manager.alter_column(
        table_class_name="VisitEvent",
        tablename="visit_event",
        column_name="technician",
        db_column_name="technician",
        params={"index": True},
        old_params={"index": False},
        column_class=ForeignKey,
        old_column_class=ForeignKey,
        schema=None,
    )

    return manager
